"""One exception type for problems the user can fix; the CLI prints its message without a traceback."""

import re

# `<what> (<where>): <what to do>`: a place in parentheses, then a colon and what to do
_PLACED = re.compile(r" \(([^()\n]+)\): (?=\S)")


class M2L2Error(Exception):
    """A user-facing error: bad input, a missing file or weights, a wrong shape. The message says what to do."""


def has_place(message: str) -> bool:
    """Whether `message` is one line `<what> (<where>): <what to do>`."""
    return "\n" not in message and _PLACED.search(message) is not None


def add_place(message: str, place: str) -> str:
    """A `has_place` message with `place` added to its `(<where>)`, e.g. the checkpoint whose sidecar holds a
    bad option: one place and one remedy, rather than a second sentence wrapped around the first."""
    return _PLACED.sub(lambda m: f" ({m.group(1)}, {place}): ", message, count=1)
