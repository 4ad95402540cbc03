"""Puts tests/ on the import path, so test modules import their shared helpers as `helpers_m2l2`.

Explicit rather than left to pytest's import mode, and never as `tests.…`: see tests/helpers_m2l2.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
