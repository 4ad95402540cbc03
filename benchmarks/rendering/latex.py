"""The one LaTeX escape used by every table: special characters and the Unicode symbols captions use."""

from __future__ import annotations

# In this order: the backslash first (the replacements below add braces and backslashes of their own).
REPLACEMENTS = (
    ("\\", r"\textbackslash{}"),
    ("&", r"\&"),
    ("%", r"\%"),
    ("_", r"\_"),
    ("#", r"\#"),
    ("$", r"\$"),
    ("{", r"\{"),
    ("}", r"\}"),
    ("û", r"\^u"),
    ("↑", r"$\uparrow$"),
    ("↓", r"$\downarrow$"),
    ("–", "--"),
    ("—", "---"),
    ("≈", r"$\approx$"),
    ("σ", r"$\sigma$"),
    ("±", r"$\pm$"),
    ("≤", r"$\le$"),
)


def tex_escape(text: str) -> str:
    """`text` as LaTeX source that prints it."""
    for a, b in REPLACEMENTS:
        text = text.replace(a, b)
    return text
