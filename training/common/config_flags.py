"""Command-line flags generated from config dataclasses: one flag per field, so a config and its
command line can never disagree (``train``'s RunConfig sections, ``evaluate``'s EvalConfig).

A field's ``metadata`` may give ``help``, ``choices``, ``type`` (an argparse type replacing the
annotation's), ``metavar`` and ``parse`` (a function applied to the parsed value). Defaults on
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
        text = f"{meta.get('help', '')} (default: {shown})".strip()
        options: Dict[str, Any] = {"dest": _dest(prefix, field.name), "default": None, "help": text}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
            continue
        if typing.get_origin(kind) in (tuple, dict) or kind in (tuple, dict):
            options["nargs"] = "+"
            if "type" in meta:
                options["type"] = meta["type"]
        else:
            options["type"] = meta.get("type", kind)
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

