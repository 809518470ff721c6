"""CLI options generated from the settings schema: one flag per field, with its choices, help and default."""

from __future__ import annotations

import argparse
import types
import typing

from pydantic import BaseModel, ValidationError

# Flags other than --field-name, kept so that existing commands and scripts go on working.
FLAGS = {
    "backend": ["--backend", "-b"],
    "backend_options": ["--backend-option"],
    "cluster_address": ["--cluster-address", "--dask-address", "--ray-address"],
    "lease_wait_seconds": ["--lease-wait", "--lease-wait-seconds"],
}


def add_group(parser: argparse.ArgumentParser, group: type[BaseModel], exclude: tuple[str, ...] = ()) -> None:
    """One argparse section per settings group, titled as its section of the flow's form; unset flags leave the
    schema's default in place."""
    section = parser.add_argument_group(group.title(), (group.__doc__ or "").strip())
    for name, field in group.model_fields.items():
        if name in exclude:
            continue
        flags = FLAGS.get(name, [f"--{name.replace('_', '-')}"])
        section.add_argument(*flags, dest=name, default=argparse.SUPPRESS, help=_help(field),
                             **_argument_kind(field.annotation, field.get_default()))


def build_group(group: type[BaseModel], args: argparse.Namespace):
    """The group from the flags given; a bad value fails here with the field's name and the rule."""
    from fluxcat.settings import readable

    values = {name: getattr(args, name) for name in group.model_fields if hasattr(args, name)}
    for name, value in values.items():
        if isinstance(value, list) and _origin(group.model_fields[name].annotation) is dict:
            values[name] = dict(value)
    try:
        return group(**values)
    except ValidationError as error:
        raise ValueError(readable(error)) from None


def _argument_kind(annotation, default) -> dict:
    origin, args = _origin(annotation), _args(annotation)
    if annotation is bool:  # off by default: a plain flag; on by default: `--qa off` turns it off
        return {"type": on_off, "metavar": "{on,off}"} if default else {"action": "store_true"}
    if origin is typing.Literal:
        return {"choices": list(args)}
    if origin is dict:
        return {"action": "append", "type": key_value, "metavar": "KEY=VALUE"}
    if origin is list:
        return {"type": lambda text: [part.strip() for part in text.split(",") if part.strip()], "metavar": "A,B,..."}
    base = next((a for a in args if a is not type(None)), annotation) if origin in (typing.Union, types.UnionType) else annotation
    return {"type": base, "metavar": base.__name__.upper()}


def _origin(annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _origin(typing.get_args(annotation)[0])
    return origin


def _args(annotation) -> tuple:
    if typing.get_origin(annotation) is typing.Annotated:
        return _args(typing.get_args(annotation)[0])
    return typing.get_args(annotation)


def _help(field) -> str:
    text = " ".join((field.description or "").split()).replace("%", "%%")
    default = field.get_default()
    shown = "" if default in (None, "", [], {}, False) else f" (default: {'on' if default is True else default})"
    return text + shown


def on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text == "on"


def key_value(pair: str) -> tuple:
    key, sep, value = pair.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("takes KEY=VALUE")  # the value is not echoed: it may be a misplaced secret
    return key.strip().replace("-", "_"), _scalar(value.strip())


def _scalar(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)
