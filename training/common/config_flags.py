"""Command-line flags generated from config dataclasses: one flag per field, so a config and its
command line can never disagree (``train``'s RunConfig sections, ``evaluate``'s EvalConfig).

A field's ``metadata`` may give ``help``, ``choices``, ``type`` (an argparse type replacing the
annotation's), ``metavar``, ``nargs`` (of a tuple: "+" unless given), ``max`` (the bound),
``default_text`` (the default as help shows it) and ``parse`` (a function applied to the parsed value). Defaults on
the command line are None, so only the flags a user gave override a config (a resumed run's, or
the dataclass defaults).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Dict, Iterable, Union


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X; other annotations unchanged."""
    if typing.get_origin(annotation) is Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


# Every numeric flag has a bound (a field's metadata "max" overrides it): a typo such as
# --epochs 1000000000000 is refused at once instead of running until killed.
DEFAULT_MAX = {int: 1_000_000, float: 1e9}
SEED_MAX = 2**63 - 1  # fields named "seed": any 63-bit seed


def _bounded(parse: Any, kind: type, maximum: float) -> Any:
    def parse_bounded(text: str):
        value = parse(text)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) <= maximum:
            raise argparse.ArgumentTypeError(f"expected a value of at most {maximum:g}, got {text!r}")
        return value

    parse_bounded.__name__ = getattr(parse, "__name__", kind.__name__)
    return parse_bounded


def _dest(prefix: str, name: str) -> str:
    return f"{prefix.replace('-', '_')}{name}"


def _default(field: dataclasses.Field) -> Any:
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


def add_dataclass_flags(parser: Union[argparse.ArgumentParser, Any], cls: type, prefix: str = "",
                        skip: Iterable[str] = ()) -> None:
    """``--{prefix}{field-name}`` for every field of ``cls`` not in ``skip`` (nested dataclasses too)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = _unwrap(hints[field.name])
        if field.name in skip or dataclasses.is_dataclass(kind) or field.metadata.get("flag") is False:
            continue
        meta, default = field.metadata, _default(field)
        flag = f"--{prefix}{field.name.replace('_', '-')}"
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        shown = meta.get("default_text", shown)  # a default the command works out (from other flags)
        text = meta.get("help", "")
        if shown not in (None, "", {}):  # None and empty defaults: the help says what leaving the flag out does
            text = f"{text} (default: {shown})".strip()
        options: Dict[str, Any] = {"dest": _dest(prefix, field.name), "default": None, "help": text}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
            continue
        if typing.get_origin(kind) in (tuple, dict) or kind in (tuple, dict):
            options["nargs"] = meta.get("nargs", "+")
            if "type" in meta:
                options["type"] = meta["type"]
        else:
            options["type"] = meta.get("type", kind)
        numeric = kind in DEFAULT_MAX or typing.get_args(kind)[:1] in ((int,), (float,))
        if numeric and "type" in options:
            base = kind if kind in DEFAULT_MAX else typing.get_args(kind)[0]
            maximum = meta.get("max", SEED_MAX if field.name.endswith("seed") else DEFAULT_MAX[base])
            options["type"] = _bounded(options["type"], base, maximum)
        for key in ("choices", "metavar"):
            if key in meta:
                options[key] = meta[key]
        parser.add_argument(flag, **options)


def given_flags(args: argparse.Namespace, cls: type, prefix: str = "", skip: Iterable[str] = ()) -> Dict[str, Any]:
    """{field name: value} of the flags of ``cls`` that were given on the command line."""
    hints = typing.get_type_hints(cls)
    given = {}
    for field in dataclasses.fields(cls):
        if field.name in skip or dataclasses.is_dataclass(_unwrap(hints[field.name])) or \
                field.metadata.get("flag") is False:
            continue
        value = getattr(args, _dest(prefix, field.name), None)
        if value is None:
            continue
        parse = field.metadata.get("parse")
        if parse is not None:
            value = parse(value)
        elif typing.get_origin(_unwrap(hints[field.name])) is tuple:
            value = tuple(value)
        given[field.name] = value
    return given


def apply_flags(args: argparse.Namespace, target: Any, prefix: str = "", skip: Iterable[str] = ()) -> Any:
    """Set on the dataclass instance ``target`` every field whose flag was given; returns it."""
    for name, value in given_flags(args, type(target), prefix, skip).items():
        setattr(target, name, value)
    return target


_SCALARS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _of_type(value: Any, kind: Any) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    return isinstance(value, (int, float) if kind is float else kind)


def flag_name(field_path: str) -> str:
    """The flag of a config field: "stage1.batch_size" -> "--stage1-batch-size"."""
    return "--" + field_path.replace(".", "-").replace("_", "-")


def named(field_path: str) -> str:
    """A config field as errors name it, for Python and command-line users alike: "iterations (--iterations)"."""
    return f"{field_path} ({flag_name(field_path)})"


def check_bounds(config: Any, prefix: str = "") -> None:
    """Every scalar value of a config dataclass (nested ones too) of its field's type, and every
    numeric one within the bound its flag has: the one check for configs built in Python, read from
    a run folder (which a user may have edited) or given as flags."""
    from distilled_datasets.errors import UsageError

    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            check_bounds(value, f"{prefix}{field.name}.")
            continue
        kind = _unwrap(hints[field.name])
        optional = kind is not hints[field.name]
        if kind in _SCALARS and not (value is None and optional) and not _of_type(value, kind):
            raise UsageError(f"{prefix}{field.name} ({flag_name(prefix + field.name)}) must be {_SCALARS[kind]}"
                             f"{' or null' if optional else ''}, got {value!r}")
        base = kind if kind in DEFAULT_MAX else None
        if base is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        maximum = field.metadata.get("max", SEED_MAX if field.name.endswith("seed") else DEFAULT_MAX[base])
        if not abs(value) <= maximum:  # also refuses NaN
            raise UsageError(f"{prefix}{field.name} ({flag_name(prefix + field.name)}) must be at most {maximum:g} in "
                             f"absolute value, got {value!r}")
