"""Prefect Secret blocks as a credential source for hosted providers (`--backend-option api_key_block=NAME`)."""

from __future__ import annotations

from fluxcat.backends.hosted import register_secret_resolver


def load_secret_block(name: str) -> str | None:
    """The value of the Prefect Secret block `name` (raises if it does not exist)."""
    from prefect.blocks.system import Secret

    value = Secret.load(name).get()
    return value if isinstance(value, str) else None


def install() -> None:
    """Let hosted backends resolve api_key_block= options through Prefect."""
    register_secret_resolver(load_secret_block)


install()
