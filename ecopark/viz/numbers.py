"""Large numbers in words a reader takes in at a glance: 250 M yuan rather than 250000000.

One rule for the browser view's axes and the printed report: a number of at least a
thousand is shown in thousands (k), at least a million in millions (M), at least a
billion in billions (bn).
"""

from __future__ import annotations

#: (divisor, suffix) from the largest; the first whose divisor is <= |value| applies.
MAGNITUDES: tuple[tuple[float, str], ...] = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


def magnitude(value: float) -> tuple[float, str]:
    """The divisor and suffix for showing ``value``: (1e6, "M") for 2.5e8; (1.0, "") below 1,000."""
    for divisor, suffix in MAGNITUDES:
        if abs(value) >= divisor:
            return divisor, suffix
    return 1.0, ""


def abbreviate(value: float, unit: str = "", digits: int | None = 2) -> str:
    """``value`` with its magnitude suffix and unit: ``abbreviate(2.5e8, "yuan") == "250.00 M yuan"``;
    ``digits=None`` gives the shortest form (``abbreviate(1.25e6, digits=None) == "1.25 M"``)."""
    divisor, suffix = magnitude(value)
    number = f"{value / divisor:g}" if digits is None else f"{value / divisor:,.{digits}f}"
    text = number + (f" {suffix}" if suffix else "")
    return f"{text} {unit}" if unit else text
