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


def check_known_keys(data: dict, known, what: str, error: type = UsageError) -> None:
    """Refuse keys of ``data`` outside ``known`` (a config read from JSON), naming the valid ones."""
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise error(f"{what} has unknown keys {unknown}; valid keys: {sorted(known)}")


def _int_type(minimum: int, maximum: int, what: str):
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = minimum - 1
        if not minimum <= number <= maximum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return number

    parse.__name__ = what.replace(" ", "_")
    return parse


# argparse types. Every count is bounded (a typo must not run until killed); seeds and run indices
# take any 63-bit value.
positive_int = _int_type(1, 1_000_000, "a positive integer of at most 1000000")
# Up to a million images a set (MNIST-sized sets are 0.8 GB of uint8 pixels then): a larger ipc is
# almost surely a typo, refused with its bound (by the datasets and the CLI alike) rather than allocated.
MAX_IPC = 100_000
ipc_int = _int_type(1, MAX_IPC, f"images per class, an integer from 1 to {MAX_IPC}")
non_negative_int = _int_type(0, 2**63 - 1, f"an integer from 0 to {2**63 - 1}")


def bounded_float(text: str) -> float:
    """argparse type: a finite number of magnitude at most 1e9."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not abs(value) <= 1e9:
        raise argparse.ArgumentTypeError(f"expected a finite number of at most 1e9, got {text!r}")
    return value
