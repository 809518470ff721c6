"""Provider errors and credentials: where keys come from, and scrubbing them out of every message."""

from __future__ import annotations

import base64
import os
import threading
import urllib.parse
from typing import Any, Callable

from fluxcat.backends.base import BackendConfigError


class ProviderError(Exception):
    """One image failed at a provider. `retryable` errors are retried; `circuit` ones count toward opening it;
    `safe_to_resend` ones prove the provider created nothing (so even a billed create may be sent again)."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None,
                 circuit: bool = True, status: int | None = None, safe_to_resend: bool = False):
        super().__init__(scrub(message))
        self.retryable, self.retry_after, self.circuit, self.status = retryable, retry_after, circuit, status
        self.safe_to_resend = safe_to_resend


_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a credential so that `scrub` removes it from every message."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def scrub(text: Any) -> str:
    """The text with every known secret (raw, URL-quoted or base64'd) replaced by ***."""
    text = str(text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        for form in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
                     base64.b64encode(secret.encode()).decode()):
            text = text.replace(form, "***")
    return text


def scrub_and_cut(text: Any, limit: int) -> str:
    """Scrub first, then shorten: cutting first would leave a key's prefix that scrubbing no longer matches."""
    return scrub(text)[:limit]


SecretResolver = Callable[[str], "str | None"]
_secret_resolvers: list[SecretResolver] = []


def register_secret_resolver(resolver: SecretResolver) -> None:
    """Let a layer that knows a secret store (Prefect Secret blocks) resolve `api_key_block=NAME` options."""
    if resolver not in _secret_resolvers:
        _secret_resolvers.append(resolver)


def resolve_credential(provider: str, env_var: str, block: str | None) -> str:
    """The provider's key from a Secret block (if named) or its environment variable; teaches the fix if absent."""
    if block:
        return _from_block(provider, env_var, block)
    value = os.environ.get(env_var, "").strip()
    if not value:
        raise BackendConfigError(f"{provider} needs an API key: set the environment variable {env_var}, or pass "
                                 f"--backend-option api_key_block=NAME naming a Prefect Secret block")
    register_secret(value)
    return value


def _from_block(provider: str, env_var: str, block: str) -> str:
    if not _secret_resolvers:
        raise BackendConfigError(
            f"{provider}: api_key_block={block!r} needs Prefect to resolve the Secret block; run through the "
            f"fluxcat CLI or flow, or set {env_var} instead")
    for resolver in _secret_resolvers:
        try:
            value = resolver(block)
        except Exception as error:  # a missing block: say which and how to create it
            raise BackendConfigError(f"{provider}: could not load Secret block {block!r}: {scrub(error)}. "
                                     f"Create it with prefect.blocks.system.Secret(value=...).save({block!r})") from None
        if value:
            register_secret(value)
            return value
    raise BackendConfigError(f"{provider}: Secret block {block!r} is empty")


def excerpt(value: Any, limit: int = 120) -> str:
    """A short, scrubbed repr of a provider reply for an error message."""
    return scrub_and_cut(repr(value), limit)
