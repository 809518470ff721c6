"""A deployment's run takes absolute paths or URLs: its worker runs it in a temporary folder of its own."""

from __future__ import annotations

from pathlib import PurePath

from fluxcat.errors import UserError


def check_deployment_paths(**paths: str) -> None:
    """In a deployment's run, a relative catalog or output fails before any work: Prefect's process worker runs a
    flow without pull steps in a new temporary folder, so the catalog would not be found and the output would be
    written there and deleted with it."""
    from prefect.runtime import deployment

    if deployment.id is None:  # `fluxcat run` or a flow called in Python: relative to the caller's directory
        return
    for name, value in paths.items():
        if "://" not in value and not PurePath(value).is_absolute():
            raise UserError(f"{name} {value!r} is a relative path, and a deployment's run has no directory to resolve "
                            "it against (its worker runs it in a temporary folder): give an absolute path or a URL")
