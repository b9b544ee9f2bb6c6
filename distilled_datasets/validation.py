"""Argument checks shared by the Python API and the command line: one place that says what a
valid count or seed is, and one message form ("NAME must be ..., got VALUE")."""

from __future__ import annotations

import argparse
from numbers import Integral
from typing import Any, Optional

from .errors import UsageError, UsageTypeError


def check_int(name: str, value: Any, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """``value`` as an int within [minimum, maximum]; bools and non-integers are refused."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise UsageTypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = " and ".join(part for part in (f">= {minimum}" if minimum is not None else "",
                                                 f"<= {maximum}" if maximum is not None else "") if part)
        raise UsageError(f"{name} must be {bounds}, got {value}")
    return value


def check_positive_int(name: str, value: Any, maximum: Optional[int] = None) -> int:
    return check_int(name, value, 1, maximum)


def check_number(name: str, value: Any, minimum: float = 0.0, *, strict: bool = False) -> float:
    """A finite real number > ``minimum`` (``strict``) or >= it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
            float("inf"), float("-inf")):
        raise UsageTypeError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise UsageError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def positive_int(text: str) -> int:
    """argparse type: a positive integer."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return number


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (seeds, run indices)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return number
