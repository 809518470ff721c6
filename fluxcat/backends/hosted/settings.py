"""A hosted backend's tuning options, grouped (as httpx groups Timeout and Limits); each flat option declared once."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from fluxcat.backends.hosted.retry import RetryPolicy


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `request` and `download` are total deadlines for one call, however slowly the reply trickles."""

    request: float = 120.0
    connect: float = 10.0
    download: float = 60.0
    poll_interval: float = 1.0
    max_wait: float = 600.0  # a queued job not done by then is cancelled at the provider and the image fails


@dataclass(frozen=True)
class Limits:
    """Caps on work in flight and on what a provider may send."""

    concurrency: int | None = None      # requests in flight per provider endpoint; None: the provider's default
    reply_max_bytes: int = 5_000_000    # a JSON reply larger than this is refused
    download_max_bytes: int = 50_000_000
    monthly_limit: Any = "default"      # images per month; "default" from provider_facts, "none" for unlimited


@dataclass(frozen=True)
class CircuitSettings:
    threshold: int = 5   # consecutive failures that open the circuit
    reset: float = 60.0  # seconds until one probe is let through


@dataclass(frozen=True)
class PriceOverrides:
    """USD in the provider's billing unit (see provider_facts.PRICES); None keeps the published price."""

    schnell: float | None = None
    dev: float | None = None
    fill: float | None = None
    kontext: float | None = None


# flat option name (as given by --backend-option or a flow) -> (group, field)
OPTIONS: dict[str, tuple[str, str]] = {
    "timeout": ("timeouts", "request"), "connect_timeout": ("timeouts", "connect"),
    "download_timeout": ("timeouts", "download"), "poll_interval": ("timeouts", "poll_interval"),
    "max_wait": ("timeouts", "max_wait"),
    "concurrency": ("limits", "concurrency"), "reply_max_bytes": ("limits", "reply_max_bytes"),
    "download_max_bytes": ("limits", "download_max_bytes"), "monthly_limit": ("limits", "monthly_limit"),
    "max_attempts": ("retries", "max_attempts"), "backoff_base": ("retries", "backoff_base"),
    "backoff_max": ("retries", "backoff_max"), "max_retry_after": ("retries", "max_retry_after"),
    "circuit_threshold": ("circuit", "threshold"), "circuit_reset": ("circuit", "reset"),
    "price_schnell": ("prices", "schnell"), "price_dev": ("prices", "dev"), "price_fill": ("prices", "fill"),
    "price_kontext": ("prices", "kontext"),
}
def option_types() -> dict[str, tuple[Any, Any]]:
    """Each flat option's type and default, from the group that declares it."""
    import typing

    groups = {name: type(value) for name, value in vars(HostedSettings()).items()}
    return {option: (typing.get_type_hints(groups[group])[key], getattr(groups[group](), key))
            for option, (group, key) in OPTIONS.items()}


# Options every provider of a router takes when given without a provider prefix (prices and quotas are per provider).
SHARED_OPTIONS = frozenset(name for name, (group, _) in OPTIONS.items() if group in ("timeouts", "retries", "circuit")) | {
    "reply_max_bytes", "download_max_bytes"}


@dataclass(frozen=True)
class HostedSettings:
    timeouts: Timeouts = Timeouts()
    limits: Limits = Limits()
    retries: RetryPolicy = RetryPolicy()
    circuit: CircuitSettings = CircuitSettings()
    prices: PriceOverrides = PriceOverrides()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "HostedSettings":
        """Group flat options; an unknown one is a TypeError, as for any other unexpected keyword."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"unexpected option(s) {', '.join(unknown)}; hosted options are {', '.join(sorted(OPTIONS))}")
        settings = cls()
        for name, value in options.items():
            group, key = OPTIONS[name]
            part = getattr(settings, group)
            settings = replace(settings, **{group: replace(part, **{key: _typed(part, key, value)})})
        return settings


def _typed(part, key: str, value: Any) -> Any:
    """CLI options arrive as text: convert to the field's type (None and "default" pass through)."""
    kind = next(f.type for f in fields(part) if f.name == key)
    if value is None or kind == "Any":
        return value
    return int(value) if kind.startswith("int") else float(value)


def flag(value: Any) -> bool:
    """A yes/no option that may arrive as text from the CLI ("false" is False)."""
    return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)
