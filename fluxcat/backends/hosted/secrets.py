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


# Every credential this process has resolved, with the forms it may be echoed in. Process-wide on purpose: a key
# seen by any run must never reach a log, a manifest or an artifact of any later one.
_secrets: dict[str, tuple[str, ...]] = {}
_secrets_lock = threading.Lock()
MIN_FRAGMENT_SECRET = 12  # shorter secrets are scrubbed in whole encodings only: a short fragment is too common


def register_secret(value: str | None) -> None:
    """Remember a credential (a key, or a whole auth header value) so that `scrub` removes it from every message."""
    if value and len(value) >= 4:
        forms = encoded_forms(value)
        with _secrets_lock:
            _secrets[value] = forms


def encoded_forms(secret: str) -> tuple[str, ...]:
    """The secret raw, URL-encoded and base64-encoded (standard and URL-safe, padded or not), longest first. For a
    long secret also the part of its base64 that is the same wherever it sits in a larger encoded blob."""
    data = secret.encode()
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode()
        forms |= {whole, whole.rstrip("=")}
        if len(secret) >= MIN_FRAGMENT_SECRET:
            for offset in (0, 1, 2):  # the secret's first byte at each position of a 3-byte group
                encoded = encode(b"\0" * offset + data).decode()
                forms.add(encoded[-(-8 * offset // 6):8 * (offset + len(data)) // 6])
    return tuple(sorted(forms, key=len, reverse=True))


def scrub(text: Any) -> str:
    """The text with every known secret (raw, URL-quoted or base64'd, alone or inside a larger blob) replaced by ***."""
    text = str(text)
    with _secrets_lock:
        forms = sorted({form for known in _secrets.values() for form in known}, key=len, reverse=True)
    for form in forms:
        if form in text:
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
