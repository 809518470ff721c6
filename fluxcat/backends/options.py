"""Each backend's options as a typed, closed model: the keyword parameters its constructor declares (with their
types and defaults), plus those it takes through **kwargs and states in `more_options`. The settings schema gives
the flow's form and the server's parameter check these models, so no other name passes anywhere."""

from __future__ import annotations

import inspect
import typing
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from fluxcat.errors import BackendConfigError

def declared(function) -> dict[str, tuple[Any, Any]]:
    """name -> (type, default) of a function's keyword parameters (`...` where there is no default)."""
    hints = typing.get_type_hints(function)
    return {name: (hints.get(name, Any), ... if param.default is param.empty else param.default)
            for name, param in inspect.signature(function).parameters.items()
            if name != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)}


def constructor_options(backend: type) -> dict[str, tuple[Any, Any]]:
    """The keyword parameters of the class's constructor and, while a constructor passes **kwargs on to its base
    class's (`kwargs_to_base`), those of the base's."""
    found: dict[str, tuple[Any, Any]] = {}
    for cls in backend.__mro__:
        if "__init__" not in vars(cls):
            continue
        found = {**declared(cls.__init__), **found}
        takes_more = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
        if not (takes_more and vars(cls).get("kwargs_to_base", True)):
            break
    return found


@cache  # a class's options do not change while the process runs
def options_model(backend: type) -> type[BaseModel]:
    """The closed model of a backend class's options."""
    fields = {**constructor_options(backend), **backend.more_options()}
    title = f"{backend.name} options"
    return create_model(title.replace(" ", "_").replace("-", "_"), __config__=ConfigDict(
        extra="forbid", title=title, arbitrary_types_allowed=True, hide_input_in_errors=True), **fields)


def check_options(name: str, model: type[BaseModel], options: dict) -> None:
    """Refuse a name the backend does not take, or a value of the wrong type, saying what the backend takes. Values
    are not echoed: an option given in the wrong place may be a secret."""
    try:
        model.model_validate(options)
    except ValidationError as error:
        unknown = sorted(str(e["loc"][0]) for e in error.errors() if e["type"] == "extra_forbidden")
        wrong = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors() if e["type"] != "extra_forbidden"]
        said = ([f"backend {name!r} takes no option {', '.join(map(repr, unknown))}"] if unknown else []) + \
               [f"backend {name!r} option {what}" for what in wrong]
        raise BackendConfigError("; ".join(said) + f" (its options: {', '.join(model.model_fields)})") from None


def json_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with every $ref inlined (a form section can hold no $defs of its own)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(schema)
