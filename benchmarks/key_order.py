"""Key order of a rewritten result file: the order of the file it replaces, so a diff shows only changed values.

A result built in one run holds dicts in the order the code made them; the same result rebuilt from rows
read back from JSONL (written with sorted keys) holds them sorted. Written as built, a rerun that changed no
number still rewrote thousands of lines (7,186 in results/fig3/default.json on 2026-12-07). Following the
previous file's order makes the bytes of an unchanged value identical, whatever path built it.
"""

from __future__ import annotations

from typing import Any


def follow_order(new: Any, old: Any) -> Any:
    """`new` with every dict's keys in `old`'s order at the same place (keys `old` lacks follow, in `new`'s
    order); list items are paired by position. Only the order changes, never a key or a value."""
    if isinstance(new, dict):
        if not isinstance(old, dict):
            return {k: follow_order(v, None) for k, v in new.items()}
        keys = [k for k in old if k in new] + [k for k in new if k not in old]
        return {k: follow_order(new[k], old.get(k)) for k in keys}
    if isinstance(new, list):
        before = old if isinstance(old, list) else []
        return [follow_order(v, before[i] if i < len(before) else None) for i, v in enumerate(new)]
    return new
