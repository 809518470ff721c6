"""`router`: the guide's FLUXProductionRouter: score providers by speed, quality, quota left and price; fall back.
Before ranking anything it consults the run's ledger: a job in flight for the image at any of its providers is
collected there, never created again elsewhere."""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import time
from typing import Any, Iterator

from fluxcat.backends.base import Backend, BackendConfigError, ImageRequest, ImageResult
from fluxcat.backends.capabilities import Capabilities
from fluxcat.backends.hosted import SHARED_OPTIONS, HostedBackend, HostedLoop, QuotaUsage, generate_on_loop, scrub
from fluxcat.backends.provider_facts import QUALITY, TYPICAL_SECONDS
from fluxcat.ledger import Ledger
from fluxcat.limits import MODELS, REFERENCE_MODELS

log = logging.getLogger("fluxcat.hosted")

DEFAULT_PROVIDERS = ("fal", "replicate", "hf", "segmind")
SPEED_EWMA = 0.3  # weight of the newest measured latency in a provider's speed estimate


class RouterBackend(Backend):
    """Tries providers best-scored first; a row fails only when every candidate failed, and its details say
    which were tried and why. Per-provider options: `<provider>_<option>=value` (e.g. fal_base_url=...,
    hf_monthly_limit=100) or, from a flow, {"fal": {"base_url": ...}}."""

    name = "router"

    def __init__(self, providers: str | list[str] = ",".join(DEFAULT_PROVIDERS), weight_speed: float = 1.0,
                 weight_price: float = 1.0, weight_quality: float = 30.0, weight_quota: float = 20.0,
                 prompt_safety: bool = True, blocked_terms: str | list[str] | None = None, max_batch: int = 64,
                 **options: Any):
        names = [p.strip() for p in (providers.split(",") if isinstance(providers, str) else providers) if p.strip()]
        if not names:
            raise BackendConfigError("router needs at least one provider, e.g. providers=fal,hf")
        self.weights = {"speed": float(weight_speed), "price": float(weight_price), "quality": float(weight_quality),
                        "quota": float(weight_quota)}
        self.max_batch = int(max_batch)
        self.backends: dict[str, HostedBackend] = {}
        self.unavailable: dict[str, str] = {}
        per_provider = _split_options(names, options)
        for name in names:
            try:
                self.backends[name] = _make(name, {"prompt_safety": False, **per_provider[name]})
            except BackendConfigError as error:  # a provider configured wrongly: route around it, and say so
                self.unavailable[name] = str(error)
        self._leave_out(list(self.unavailable))
        self.ready = False  # providers' keys are read before the first image (planning estimates without them)
        self.seconds = {name: TYPICAL_SECONDS.get(name, 5.0) for name in self.backends}
        self.ledger = Ledger()  # in memory until a run attaches its own
        self.loop = HostedLoop()
        for backend in self.backends.values():
            backend.share_loop(self.loop)
        from fluxcat.safety import SafetyFilter

        self.safety = SafetyFilter.for_provider(blocked_terms, private_data=prompt_safety)

    @classmethod
    def more_options(cls) -> dict[str, tuple[Any, Any]]:
        """Options shared by every provider, each provider's options prefixed with its name (fal_base_url), and
        each provider's options as one group under its name ({"fal": {"base_url": ...}})."""
        from typing import Optional

        from pydantic import Field

        from fluxcat.backends import REGISTRY, backend_class
        from fluxcat.backends.hosted.settings import option_types

        types = option_types()
        options: dict[str, tuple[Any, Any]] = {name: types[name] for name in sorted(SHARED_OPTIONS)}
        for provider in REGISTRY:
            kind = backend_class(provider)
            if not (isinstance(kind, type) and issubclass(kind, HostedBackend)):
                continue
            model, prefix = kind.options(), provider.replace("-", "_")
            options[prefix] = (Optional[model], Field(None, alias=provider))
            options.update({f"{prefix}_{name}": (field.annotation, field.default)
                            for name, field in model.model_fields.items()})
        return options

    # -- the Backend protocol
    def model_id(self, model: str) -> str:
        spec = MODELS.get(model) or REFERENCE_MODELS.get(model)
        return f"router:{spec.hub_id}" if spec else f"router:{model}"

    def cost_per_image(self, request: ImageRequest) -> float:
        """The most the image can cost: the dearest provider able to make it, since any of them may end up serving
        it (the first-ranked one may fail or have an open circuit)."""
        return max((backend.cost_per_image(request) for backend in self.backends.values()
                    if backend.unsupported(request) is None), default=0.0)

    @property
    def row_checks(self) -> list:
        return [self.safety.check_row] if self.safety else []

    def capabilities(self) -> Capabilities:
        """What any of its providers can make: planning fits rows to that, and each row goes to one that can."""
        return Capabilities.union(self.name, [backend.capabilities() for backend in self.backends.values()])

    def attach(self, ledger: Ledger) -> None:
        self.ledger = ledger
        for backend in self.backends.values():
            backend.attach(ledger)

    def check_ready(self) -> None:
        """Providers without a key are left out (and said so); none left is an error."""
        if self.ready:
            return
        before = set(self.unavailable)
        for name, backend in list(self.backends.items()):
            try:
                backend.check_ready()
            except BackendConfigError as error:  # no key: route around it
                self.unavailable[name] = str(error).replace("api_key_block=",
                                                            f"{name.replace('-', '_')}_api_key_block=")
                backend.close()
                del self.backends[name]
        self._leave_out([name for name in self.unavailable if name not in before])
        self.ready = True

    def _leave_out(self, names: list[str]) -> None:
        if not self.backends:
            raise BackendConfigError("router has no usable provider: " + "; ".join(self.unavailable.values()))
        for name in names:
            log.warning("router: leaving out %s: %s", name, self.unavailable[name])

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        self.check_ready()
        yield from generate_on_loop(self.loop, self.name, self.generate_one, requests)

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close_client()
        self.loop.close()

    # -- routing
    def score(self, name: str, request: ImageRequest) -> float:
        """The guide's calculate_provider_score, with price and measured speed as terms."""
        backend = self.backends[name]
        limit = backend.monthly_limit
        remaining = 1.0 if limit is None else (backend.quota.remaining(name, limit) / limit if limit else 0.0)
        return (100.0 - self.weights["speed"] * min(self.seconds[name], 60.0)
                - self.weights["price"] * 1000.0 * backend.cost_per_image(request)
                + self.weights["quality"] * QUALITY.get(name, 1.0)
                + self.weights["quota"] * remaining
                - (50.0 if backend.circuit.state == "half-open" else 0.0))

    def ranked(self, request: ImageRequest) -> list[tuple[float, HostedBackend]]:
        """Providers that can make this request, best first."""
        able = [(self.score(name, request), backend) for name, backend in self.backends.items()
                if backend.unsupported(request) is None]
        return sorted(able, key=lambda pair: -pair[0])

    async def generate_one(self, request: ImageRequest) -> ImageResult:
        start = time.perf_counter()
        tried: list[dict] = []
        record = await asyncio.to_thread(self.ledger.find, request.key, request.seed)
        if record is not None:  # a job in flight at one provider: collect it there, whoever ranks first now
            result = await self._collect(request, record, tried)
            if result is not None:
                result.seconds = time.perf_counter() - start
                return result
        for name, backend in self.backends.items():
            reason = backend.unsupported(request)
            if reason:
                tried.append({"provider": name, "skipped": reason})
        charged, reserved = 0.0, self.cost_per_image(request)
        for score, backend in self.ranked(request):
            skip = self._skip_reason(backend) or self._over_reservation(backend, request, charged, reserved)
            if skip:
                tried.append({"provider": backend.name, "skipped": skip})
                continue
            result = await backend.generate_one(request)
            charged += result.cost_usd  # a provider that failed may have been paid all the same
            if result.ok:
                self.seconds[backend.name] += SPEED_EWMA * (result.seconds - self.seconds[backend.name])
                tried.append({"provider": backend.name, "ok": True, "score": round(score, 2)})
                result.details.update(tried=tried)
                result.seconds, result.cost_usd = time.perf_counter() - start, charged
                return result
            tried.append({"provider": backend.name, "error": result.error, "score": round(score, 2)})
        why = "; ".join(f"{t['provider']}: {t.get('error') or t.get('skipped')}" for t in tried)
        return ImageResult(request.key, error=scrub(f"all providers failed: {why}"), backend=self.name,
                           seconds=time.perf_counter() - start, cost_usd=charged,
                           details={"provider": None, "tried": tried})

    async def _collect(self, request: ImageRequest, record: dict, tried: list[dict]) -> ImageResult | None:
        """The result of re-attaching to the ledger's job; None when that job ended without an image (closed in the
        ledger), so the router may create the image anew."""
        owner = self.backends.get(record["provider"])
        if owner is None:
            return ImageResult(request.key, backend=self.name, details={"provider": None, "tried": tried}, error=(
                f"a {record['provider']} job for this image is in flight (the run's ledger) and this router does not "
                f"use {record['provider']}: add it to providers= so the job is collected, not paid for twice"))
        result = await owner.generate_one(request)
        tried.append({"provider": owner.name, "reattached": (record.get("job") or {}).get("id"),
                      **({"ok": True} if result.ok else {"error": result.error})})
        if result.ok:
            result.details.update(tried=tried)
            return result
        if await asyncio.to_thread(self.ledger.find, request.key, request.seed) is None:
            return None
        return ImageResult(request.key, error=scrub(f"{owner.name}: {result.error}"), backend=self.name,
                           cost_usd=result.cost_usd, details={"provider": None, "tried": tried})

    @staticmethod
    def _over_reservation(backend: HostedBackend, request: ImageRequest, charged: float, reserved: float) -> str | None:
        """Why not to fall back to this provider: the failures already paid for plus its price would pass what the
        budget reserved for the image (its dearest provider), and so could pass --budget-usd."""
        price = backend.cost_per_image(request)
        if charged and charged + price > reserved + 1e-9:
            return (f"not tried: ${charged:.4f} already charged for failed attempts, and ${price:.4f} more would pass "
                    f"the ${reserved:.4f} reserved for this image; a rerun makes it")
        return None

    @staticmethod
    def _skip_reason(backend: HostedBackend) -> str | None:
        if backend.circuit.state == "open":
            return f"circuit open (next probe in {math.ceil(backend.circuit.retry_in())}s)"
        limit = backend.monthly_limit
        if limit is not None and backend.quota.remaining(backend.name, limit) <= 0:
            return f"monthly quota used up ({backend.quota.used(backend.name)}/{limit} in {QuotaUsage.month()})"
        return None


def _split_options(names: list[str], options: dict) -> dict[str, dict]:
    """Route `<provider>_<option>` keys, {provider: {...}} dicts and shared knobs to each provider."""
    out: dict[str, dict] = {name: {} for name in names}
    prefixes = sorted(((name.replace("-", "_") + "_", name) for name in names), key=lambda p: -len(p[0]))
    for key, value in options.items():
        if key in out and isinstance(value, dict):
            out[key].update(value)
            continue
        target = next((name for prefix, name in prefixes if key.startswith(prefix)), None)
        if target is not None:
            out[target][key[len(target.replace('-', '_')) + 1:]] = value
        elif key in SHARED_OPTIONS:
            for name in names:
                out[name].setdefault(key, value)
        elif (left_out := _provider_named_by(key)) is not None:
            raise BackendConfigError(f"router: option {key!r} is for {left_out!r}, which is not in "
                                     f"providers={','.join(names)}: add it there or drop the option")
        else:
            raise BackendConfigError(f"router: unknown option {key!r}: prefix provider options with the provider "
                                     f"(e.g. fal_base_url=...) or use one of {', '.join(sorted(SHARED_OPTIONS))}")
    return out


def _provider_named_by(key: str) -> str | None:
    """The hosted provider an option key is meant for (`replicate` for `replicate_base_url` or `replicate`)."""
    from fluxcat.backends import REGISTRY, backend_class

    for name in sorted(REGISTRY, key=len, reverse=True):
        prefix = name.replace("-", "_")
        if key == name or key == prefix or key.startswith(prefix + "_"):
            kind = backend_class(name)
            return name if isinstance(kind, type) and issubclass(kind, HostedBackend) else None
    return None


def _make(name: str, options: dict) -> HostedBackend:
    from fluxcat.backends import REGISTRY

    if name not in REGISTRY or name == "router":
        raise BackendConfigError(f"router: unknown provider {name!r}")
    module, factory = REGISTRY[name].split(":")
    backend = getattr(importlib.import_module(module), factory)(**options)
    if not isinstance(backend, HostedBackend):
        raise BackendConfigError(f"router: {name!r} is not a hosted provider")
    return backend
