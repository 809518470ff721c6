"""Storage options for fsspec URLs (s3://, gs://, ...): from the caller, else the environment; never printed."""

from __future__ import annotations

import json
import os
from typing import Mapping

ENV_VAR = "FLUXCAT_STORAGE_OPTIONS"


def resolve_storage_options(explicit: Mapping | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Explicit options (a flow parameter, a Prefect block) win; else JSON in $FLUXCAT_STORAGE_OPTIONS; else {}.
    With {} fsspec still finds credentials its own way (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ~/.aws, ...)."""
    if explicit:
        if not isinstance(explicit, Mapping):
            raise ValueError(f"storage options must be a mapping of fsspec settings, got {type(explicit).__name__}")
        return dict(explicit)
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except ValueError:  # the value may hold secrets: name the variable, never echo it
        raise ValueError(f"${ENV_VAR} must hold a JSON object such as "
                         '{"key": "...", "secret": "...", "client_kwargs": {"endpoint_url": "..."}}; '
                         "it is not valid JSON") from None
    if not isinstance(options, dict):
        raise ValueError(f"${ENV_VAR} must hold a JSON object, got a JSON {type(options).__name__}")
    return options


def redacted(options: Mapping | None) -> dict:
    """Option names with every value hidden: what may appear in a log line or an error."""
    return {key: redacted(value) if isinstance(value, Mapping) else "***" for key, value in (options or {}).items()}
