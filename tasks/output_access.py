"""Access to an output root from a flow: storage options (a Prefect Secret block, the environment) and the writer's lease."""

from __future__ import annotations

import contextlib
from typing import Iterator, Mapping

from fluxcat.lease import DEFAULT_TTL_SECONDS, Lease
from fluxcat.pipeline import RunOptions
from fluxcat.storage_options import resolve_storage_options
from fluxcat.store import Store


def storage_options_for(block: str = "") -> dict:
    """A Prefect Secret block holding a JSON object, else $FLUXCAT_STORAGE_OPTIONS on the worker, else {}: secrets
    reach a flow by reference only. The values go to fsspec only, never to logs, manifests or artifacts."""
    return resolve_storage_options(_secret_block(block) if block else None)


def _secret_block(name: str) -> Mapping:
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except ValueError:
        raise ValueError(f"no Secret block named {name!r}: create it with "
                         f"`Secret(value={{\"key\": ..., \"secret\": ...}}).save({name!r})`") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"Secret block {name!r} must hold a JSON object of fsspec storage options, not a string")
    return value


@contextlib.contextmanager
def hold_output(options: RunOptions, wait_seconds: float = 0.0, ttl: float = DEFAULT_TTL_SECONDS) -> Iterator[Lease]:
    """Hold the output root's lease for the whole run; a second writer waits up to `wait_seconds`, then fails."""
    with Lease(Store(options.output, options.storage_options), owner=_run_label(), ttl=ttl, wait=wait_seconds) as lease:
        yield lease


def _run_label() -> str:
    from prefect.runtime import flow_run

    name, run_id = flow_run.get_name(), flow_run.get_id()
    return f"flow run {name} ({run_id})" if run_id else "fluxcat"
