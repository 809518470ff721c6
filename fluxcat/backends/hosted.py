"""Shared machinery for hosted FLUX providers: async HTTP, caps, retries, circuit breaker, quotas, downloads, secrets.

How to write a provider
-----------------------
Subclass `HostedBackend` in `fluxcat/backends/<provider>.py` and register it in `fluxcat/backends/__init__.py`:

    class AcmeBackend(HostedBackend):
        name = "acme"                                  # backend name; keys KEY_ENV / BASE_URL_ENV / PRICES_USD
        default_base_url = "https://api.acme.example"  # overridden by ACME_BASE_URL or base_url=
        models = {"schnell": "flux-schnell", "dev": "flux-dev"}   # fluxcat model -> provider model
        auth_header, auth_scheme = "Authorization", "Bearer"      # header value: "Bearer <key>"

        def unsupported(self, model, width, height, steps, guidance):   # optional: reject at planning
            return super().unsupported(model, width, height, steps, guidance) or (
                "acme makes at most 1024x1024" if width * height > 1024 * 1024 else None)

        async def produce(self, request):              # one image; raise ProviderError for a failure
            response = await self.request("POST", self.url(self.models[request.model]), json={...})
            body = self.json_of(response, "generate")
            return Output(body["image_url"], details={"has_nsfw_concepts": body.get("nsfw")})

`produce` returns an `Output` whose `image` is raw bytes, an http(s) URL or a `data:` URI; the base class
downloads (http(s) only, size cap, timeout, content type), decodes with PIL, checks the size, prices the
image and fills `ImageResult.details`. Inside `produce` use:
  - `await self.request(method, url, json=..., headers=...)`: authenticated call with retries (429 honours
    Retry-After in seconds or as an HTTP date, else exponential backoff with jitter; 5xx, timeouts and
    connection resets retried up to max_attempts; other 4xx fail at once with the provider's message).
    Override `error_for(response)` for provider-specific errors (e.g. Hugging Face's 503 `estimated_time`).
  - `self.json_of(response, what)`: parsed JSON or a ProviderError naming the malformed reply.
  - `await self.wait_until(check, what)`: poll an async `check()` every poll_interval until it returns
    something other than None, for at most max_wait seconds (queue/prediction APIs).
Never put a key in a message yourself: every message the base class returns is scrubbed of every known
secret, and credentials are sent only to the provider's base URL (downloads carry no auth header).

Process-wide state (holds across shards running in threads of one worker process):
  - one background event-loop thread runs every provider's coroutines; `generate(requests)` submits one
    coroutine per request and yields results as they complete, so a shard's requests overlap;
  - an asyncio.Semaphore per provider and base URL caps requests in flight (option concurrency=, default
    from provider_facts.DEFAULT_CONCURRENCY); the semaphore is held for a whole image (submit, poll, download);
  - a CircuitBreaker per provider and base URL (closed -> open after circuit_threshold consecutive
    failures -> half-open after circuit_reset seconds, one probe -> closed on success, open on failure);
  - monthly usage per provider in the output store (`_work/quota/...`), once the pipeline calls
    `attach_store(store)`; without a store usage is counted in memory only.

Credentials come from the provider's environment variable (provider_facts.KEY_ENV, or api_key_env=NAME) or
from a Prefect Secret block named by api_key_block=NAME, resolved by a resolver that the Prefect layer
registers with `register_secret_resolver` (the core never imports Prefect). Keys are never accepted as
plain backend options: options are flow parameters, which Prefect records.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import email.utils
import io
import json
import logging
import os
import random
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator

from fluxcat.backends.base import BackendConfigError, ImageRequest, ImageResult
from fluxcat.backends.provider_facts import (
    BASE_URL_ENV, DEFAULT_CONCURRENCY, KEY_ENV, MONTHLY_LIMITS, PRICES_USD,
)

if TYPE_CHECKING:
    import httpx
    from PIL.Image import Image

    from fluxcat.store import Store

log = logging.getLogger("fluxcat.hosted")

MAX_IMAGE_PIXELS = 2048 * 2048 * 4  # decoded results larger than this are refused (decompression bombs)
ERROR_BODY_CHARS = 300


# ---------------------------------------------------------------- errors and secrets

class ProviderError(Exception):
    """One image failed at a provider. `retryable` errors are retried; `circuit` ones count toward opening it."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None,
                 circuit: bool = True, status: int | None = None):
        super().__init__(scrub(message))
        self.retryable, self.retry_after, self.circuit, self.status = retryable, retry_after, circuit, status


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


SecretResolver = Callable[[str], "str | None"]
_secret_resolvers: list[SecretResolver] = []


def register_secret_resolver(resolver: SecretResolver) -> None:
    """Let a layer that knows a secret store (Prefect Secret blocks) resolve `api_key_block=NAME` options."""
    if resolver not in _secret_resolvers:
        _secret_resolvers.append(resolver)


def resolve_credential(provider: str, env_var: str, block: str | None) -> str:
    """The provider's key from a Secret block (if named) or its environment variable; teaches the fix if absent."""
    if block:
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
    value = os.environ.get(env_var, "").strip()
    if not value:
        raise BackendConfigError(f"{provider} needs an API key: set the environment variable {env_var}, or pass "
                                 f"--backend-option api_key_block=NAME naming a Prefect Secret block")
    register_secret(value)
    return value


# ---------------------------------------------------------------- retry policy

def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 1.0   # first backoff in seconds; doubles per attempt
    backoff_max: float = 30.0
    max_retry_after: float = 120.0  # a provider asking for a longer wait fails the image instead

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter for the given (1-based) failed attempt."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


# ---------------------------------------------------------------- circuit breaker

class CircuitBreaker:
    """The guide's breaker: closed -> open after `threshold` consecutive failures -> half-open after
    `reset_seconds` (one probe at a time) -> closed on a success, open again on a failure. Thread-safe."""

    def __init__(self, threshold: int = 5, reset_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.reset_seconds, self.clock = threshold, reset_seconds, clock
        self.failures = 0
        self.opened_at = 0.0
        self._state = "closed"
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._peek()

    def _peek(self) -> str:
        if self._state == "open" and self.clock() - self.opened_at >= self.reset_seconds:
            return "half-open"
        return self._state

    def allow(self) -> bool:
        """May a request go out now? In half-open, only one probe is let through until it reports."""
        with self._lock:
            state = self._peek()
            if state == "closed":
                return True
            if state == "half-open" and not self._probing:
                self._state, self._probing = "half-open", True
                return True
            return False

    def retry_in(self) -> float:
        with self._lock:
            return max(0.0, self.reset_seconds - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        with self._lock:
            self._state, self.failures, self._probing = "closed", 0, False

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self._state == "half-open" or self.failures >= self.threshold:
                self._state, self.opened_at = "open", self.clock()
            self._probing = False

    def release_probe(self) -> None:
        """A probe that ended without a verdict on the provider (e.g. a 400 for one prompt)."""
        with self._lock:
            self._probing = False


_circuits: dict[str, CircuitBreaker] = {}
_circuits_lock = threading.Lock()


def circuit_for(key: str, threshold: int = 5, reset_seconds: float = 60.0) -> CircuitBreaker:
    """The process-wide breaker of one provider endpoint."""
    with _circuits_lock:
        if key not in _circuits:
            _circuits[key] = CircuitBreaker(threshold, reset_seconds)
        return _circuits[key]


# ---------------------------------------------------------------- the event loop thread and caps

class _LoopThread:
    """One asyncio loop per process on a daemon thread; every hosted request of every shard runs on it."""

    def __init__(self):
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="fluxcat-hosted-loop", daemon=True).start()
            return self._loop

    def submit(self, coroutine: Awaitable) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop())


_loop_thread = _LoopThread()


def run_on_loop(coroutine: Awaitable) -> concurrent.futures.Future:
    """Run a coroutine on the process's hosted event loop; returns a concurrent future."""
    return _loop_thread.submit(coroutine)


def generate_on_loop(name: str, generate_one, requests: list[ImageRequest]) -> Iterator[ImageResult]:
    """One coroutine per request on the shared loop; results yielded as they finish, never an exception."""
    futures = {run_on_loop(generate_one(request)): request for request in requests}
    try:
        for future in concurrent.futures.as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # generate_one never raises; belt and braces
                yield ImageResult(futures[future].key, error=scrub(f"{type(error).__name__}: {error}"), backend=name)
    finally:
        for future in futures:
            future.cancel()


@dataclass
class ConcurrencyGauge:
    """A semaphore plus counters, so benchmarks and tests can read the peak requests in flight."""

    cap: int
    semaphore: asyncio.Semaphore
    in_flight: int = 0
    peak: int = 0
    completed: int = 0


_gauges: dict[str, ConcurrencyGauge] = {}  # touched only on the loop thread


def gauge_for(key: str, cap: int) -> ConcurrencyGauge:
    """The process-wide cap of one provider endpoint (call on the loop thread)."""
    gauge = _gauges.get(key)
    if gauge is None or gauge.cap != cap:
        gauge = _gauges[key] = ConcurrencyGauge(cap, asyncio.Semaphore(cap))
    return gauge


def gauge_stats(key: str) -> dict:
    gauge = _gauges.get(key)
    return {} if gauge is None else {"cap": gauge.cap, "in_flight": gauge.in_flight, "peak": gauge.peak,
                                     "completed": gauge.completed}


# ---------------------------------------------------------------- quotas in the store

QUOTA_DIR = "_work/quota"


class QuotaLedger:
    """Images made per provider per calendar month. Each process writes its own small JSON file under
    `_work/quota/<provider>/<YYYY-MM>/`, and usage is the sum of all files, so counts hold across runs."""

    def __init__(self, store: "Store | None" = None):
        self.store = store
        self.writer = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._base: dict[tuple[str, str], int] = {}   # usage by other writers, read once
        self._mine: dict[tuple[str, str], int] = {}
        self._reserved: dict[tuple[str, str], int] = {}

    @staticmethod
    def month() -> str:
        return datetime.now(timezone.utc).strftime("%Y-%m")

    def _slot(self, provider: str) -> tuple[str, str]:
        slot = (provider, self.month())
        if slot not in self._base:
            self._base[slot] = self._read_others(slot)
            self._mine.setdefault(slot, 0)
            self._reserved.setdefault(slot, 0)
        return slot

    def _read_others(self, slot: tuple[str, str]) -> int:
        if self.store is None:
            return 0
        total = 0
        for relpath in self.store.list(f"{QUOTA_DIR}/{slot[0]}/{slot[1]}"):
            if relpath.endswith(".json") and not relpath.endswith(f"/{self.writer}.json"):
                try:
                    total += int(json.loads(self.store.read_bytes(relpath))["used"])
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring unreadable quota file %s", relpath)
        return total

    def used(self, provider: str) -> int:
        with self._lock:
            slot = self._slot(provider)
            return self._base[slot] + self._mine[slot]

    def remaining(self, provider: str, limit: int | None) -> float:
        if limit is None:
            return float("inf")
        with self._lock:
            slot = self._slot(provider)
            return max(0, limit - self._base[slot] - self._mine[slot] - self._reserved[slot])

    def take(self, provider: str, limit: int | None) -> bool:
        """Reserve one image of this month's quota; False when it is used up."""
        with self._lock:
            slot = self._slot(provider)
            if limit is not None and self._base[slot] + self._mine[slot] + self._reserved[slot] >= limit:
                return False
            self._reserved[slot] += 1
            return True

    def release(self, provider: str) -> None:
        with self._lock:
            slot = self._slot(provider)
            self._reserved[slot] = max(0, self._reserved[slot] - 1)

    def commit(self, provider: str) -> None:
        """A reserved image was made: count it and write this process's file."""
        with self._lock:
            slot = self._slot(provider)
            self._reserved[slot] = max(0, self._reserved[slot] - 1)
            self._mine[slot] += 1
            used = self._mine[slot]
        if self.store is not None:
            record = {"provider": slot[0], "month": slot[1], "used": used, "writer": self.writer,
                      "updated_at": datetime.now(timezone.utc).isoformat()}
            try:
                self.store.write_bytes(f"{QUOTA_DIR}/{slot[0]}/{slot[1]}/{self.writer}.json", json.dumps(record).encode())
            except Exception as error:  # usage is still counted in memory for this process
                log.warning("could not record quota usage for %s: %s", slot[0], scrub(error))


_ledgers: dict[str, QuotaLedger] = {}
_ledgers_lock = threading.Lock()


def ledger_for(store: "Store | None") -> QuotaLedger:
    """The process's ledger for an output store (one per store URL); an in-memory one without a store."""
    key = "" if store is None else store.url
    with _ledgers_lock:
        if key not in _ledgers:
            _ledgers[key] = QuotaLedger(store)
        return _ledgers[key]


def forget_ledgers() -> None:
    """Drop in-memory ledgers, as a new process would start (tests use this to prove the store holds usage)."""
    with _ledgers_lock:
        _ledgers.clear()


# ---------------------------------------------------------------- the base backend

@dataclass
class Output:
    """What a provider produced for one request: bytes, an http(s) URL or a data: URI, plus provider facts."""

    image: bytes | str
    details: dict[str, Any] = field(default_factory=dict)


def _unlimited(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.lower() in ("none", "unlimited", "inf")) or value == -1


class HostedBackend:
    """Base of every hosted provider: see the module docstring for how to write one."""

    name = "hosted"
    default_base_url = ""
    models: dict[str, str] = {}
    auth_header = "Authorization"
    auth_scheme = "Bearer"

    def __init__(self, base_url: str | None = None, api_key_env: str | None = None, api_key_block: str | None = None,
                 concurrency: int | None = None, timeout: float = 120.0, connect_timeout: float = 10.0,
                 max_attempts: int = 4, backoff_base: float = 1.0, backoff_max: float = 30.0,
                 max_retry_after: float = 120.0, poll_interval: float = 1.0, max_wait: float = 600.0,
                 download_max_bytes: int = 50_000_000, download_timeout: float = 60.0,
                 circuit_threshold: int = 5, circuit_reset: float = 60.0, monthly_limit: Any = "default",
                 price_schnell: float | None = None, price_dev: float | None = None, prompt_safety: bool = True,
                 blocked_terms: str | list[str] | None = None, max_batch: int = 64):
        self.base_url = self._base_url(base_url)
        self.api_key = resolve_credential(self.name, api_key_env or KEY_ENV.get(self.name, ""), api_key_block)
        self.concurrency = int(concurrency or DEFAULT_CONCURRENCY.get(self.name, 3))
        if self.concurrency < 1:
            raise BackendConfigError(f"{self.name}: concurrency must be at least 1, got {self.concurrency}")
        self.timeout, self.connect_timeout = float(timeout), float(connect_timeout)
        self.policy = RetryPolicy(int(max_attempts), float(backoff_base), float(backoff_max), float(max_retry_after))
        self.poll_interval, self.max_wait = float(poll_interval), float(max_wait)
        self.download_max_bytes, self.download_timeout = int(download_max_bytes), float(download_timeout)
        self.circuit = circuit_for(self.endpoint, int(circuit_threshold), float(circuit_reset))
        default_limit = MONTHLY_LIMITS.get(self.name)
        self.monthly_limit = default_limit if monthly_limit == "default" else (None if _unlimited(monthly_limit) else int(monthly_limit))
        self.prices = dict(PRICES_USD.get(self.name, {}))
        for model, price in (("schnell", price_schnell), ("dev", price_dev)):
            if price is not None:
                self.prices[model] = float(price)
        self.max_batch = int(max_batch)
        self.ledger = ledger_for(None)
        self._client: "httpx.AsyncClient | None" = None
        from fluxcat.safety import SafetyFilter

        self.safety = SafetyFilter.from_option(blocked_terms) if prompt_safety else None
        self.row_checks = ([self.safety.check_row] if self.safety else []) + [self._capability_check]

    # -- configuration
    def _base_url(self, option: str | None) -> str:
        url = (option or os.environ.get(BASE_URL_ENV.get(self.name, ""), "") or self.default_base_url).rstrip("/")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise BackendConfigError(f"{self.name}: base URL must be http(s)://..., got {url!r} "
                                     f"(set {BASE_URL_ENV.get(self.name, 'base_url=')} or --backend-option base_url=)")
        return url

    @property
    def endpoint(self) -> str:
        """Identity of the endpoint for process-wide caps and breakers."""
        return f"{self.name}@{self.base_url}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def attach_store(self, store: "Store") -> None:
        """Record quota usage in this output store (the pipeline calls this before generating)."""
        self.ledger = ledger_for(store)

    # -- the Backend protocol
    def model_id(self, model: str) -> str:
        return f"{self.name}:{self.models.get(model, model)}"

    def cost_per_image(self, request: ImageRequest) -> float:
        return self.prices.get(request.model, 0.0)

    def unsupported(self, model: str, width: int, height: int, steps: int, guidance: float) -> str | None:
        """Why this provider cannot make such an image, or None. Providers extend this."""
        if model not in self.models:
            return f"{self.name} does not offer FLUX {model} (it offers {', '.join(self.models)})"
        return None

    def _capability_check(self, planned) -> str | None:
        return self.unsupported(planned.model, planned.width, planned.height, planned.steps, planned.guidance)

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        yield from generate_on_loop(self.name, self.generate_one, requests)

    def own_url(self, given: str | None, fallback: str) -> str:
        """Follow a URL from a reply only on the base URL's own origin: credentials go nowhere else."""
        if given:
            base, url = urllib.parse.urlsplit(self.base_url), urllib.parse.urlsplit(given)
            if (url.scheme, url.netloc) == (base.scheme, base.netloc):
                return given
        return fallback

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                run_on_loop(client.aclose()).result(timeout=5)
            except Exception:  # closing is best effort
                pass

    # -- one image
    async def generate_one(self, request: ImageRequest) -> ImageResult:
        """Make one image with everything around it; returns a failed result instead of raising."""
        start = time.perf_counter()
        details: dict[str, Any] = {"provider": self.name}
        reason = self.unsupported(request.model, request.width, request.height, request.steps, request.guidance)
        if reason:
            return self._failed(request, reason, details, start)
        gauge = gauge_for(self.endpoint, self.concurrency)
        async with gauge.semaphore:
            if not self.circuit.allow():
                return self._failed(request, f"{self.name} circuit is open after repeated failures; "
                                    f"next probe in {self.circuit.retry_in():.0f}s", details, start)
            if not self.ledger.take(self.name, self.monthly_limit):
                self.circuit.release_probe()
                return self._failed(request, f"{self.name} monthly quota used up ({self.ledger.used(self.name)}/"
                                    f"{self.monthly_limit} images in {QuotaLedger.month()}); raise it with "
                                    f"monthly_limit=N or use another provider", details, start)
            gauge.in_flight += 1
            gauge.peak = max(gauge.peak, gauge.in_flight)
            try:
                output = await self.produce(request)
                details.update({k: v for k, v in output.details.items() if v is not None})
                image = await self.materialise(output.image, request)
            except ProviderError as error:
                self.ledger.release(self.name)
                if error.circuit:
                    self.circuit.record_failure()
                else:
                    self.circuit.release_probe()
                return self._failed(request, str(error), details, start)
            except Exception as error:  # an unexpected reply shape: fail this image, keep the rest
                self.ledger.release(self.name)
                self.circuit.record_failure()
                return self._failed(request, f"{self.name}: unexpected {type(error).__name__}: {error}", details, start)
            finally:
                gauge.in_flight -= 1
                gauge.completed += 1
        self.ledger.commit(self.name)
        self.circuit.record_success()
        return ImageResult(request.key, image=image, seconds=time.perf_counter() - start,
                           cost_usd=self.cost_per_image(request), backend=self.name, details=details)

    def _failed(self, request: ImageRequest, reason: str, details: dict, start: float) -> ImageResult:
        return ImageResult(request.key, error=scrub(reason), seconds=time.perf_counter() - start,
                           backend=self.name, details=details)

    async def produce(self, request: ImageRequest) -> Output:
        """Provider-specific: ask for one image and return where it is. Subclasses implement this."""
        raise NotImplementedError

    # -- HTTP with retries
    @property
    def client(self) -> "httpx.AsyncClient":
        """This backend's client; created on the loop thread on first use."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                limits=httpx.Limits(max_connections=max(10, self.concurrency * 2)),
                headers={"User-Agent": "fluxcat"})
        return self._client

    def auth_headers(self) -> dict[str, str]:
        return {self.auth_header: f"{self.auth_scheme} {self.api_key}".strip()}

    async def request(self, method: str, url: str, *, json: Any = None, headers: dict | None = None,
                      what: str = "request", **kwargs) -> "httpx.Response":
        """An authenticated call to the provider, retried per the policy; returns a <400 response."""
        async def send():
            response = await self.client.request(method, url, json=json, headers={**self.auth_headers(), **(headers or {})},
                                                 **kwargs)
            if response.status_code >= 400:
                raise self.error_for(response)
            return response

        return await self.with_retries(send, what)

    async def with_retries(self, send: Callable[[], Awaitable[Any]], what: str) -> Any:
        import httpx

        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                return await send()
            except ProviderError as caught:
                error = caught
            except httpx.TimeoutException as caught:
                error = ProviderError(f"{self.name} {what} timed out ({type(caught).__name__}, timeout {self.timeout:g}s)",
                                      retryable=True)
            except httpx.TransportError as caught:  # connection refused/reset, broken protocol
                detail = f"{type(caught).__name__}: {caught}" if str(caught) else type(caught).__name__
                error = ProviderError(f"{self.name} {what}: connection failed ({detail})", retryable=True)
            if not error.retryable:
                raise error
            if attempt == self.policy.max_attempts:
                raise ProviderError(f"{error} (gave up after {attempt} attempts)", retryable=False,
                                    circuit=error.circuit, status=error.status)
            delay = error.retry_after if error.retry_after is not None else self.policy.backoff(attempt)
            if delay > self.policy.max_retry_after:
                raise ProviderError(f"{error}; the provider asked to wait {delay:.0f}s, more than max_retry_after="
                                    f"{self.policy.max_retry_after:g}s", circuit=error.circuit, status=error.status)
            log.info("%s: %s; retry %d/%d in %.2fs", self.name, error, attempt, self.policy.max_attempts - 1, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def error_for(self, response: "httpx.Response") -> ProviderError:
        """A ProviderError for an HTTP error reply: 429/408/5xx retryable (Retry-After honoured), other 4xx final."""
        status = response.status_code
        message = f"{self.name} HTTP {status}: {provider_message(response)}"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429 or status == 408 or status >= 500:
            return ProviderError(message, retryable=True, retry_after=retry_after, status=status)
        return ProviderError(message, circuit=status in (401, 403), status=status)

    def json_of(self, response: "httpx.Response", what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{self.name} sent malformed JSON for {what}: {response.text[:120]!r}") from None

    async def wait_until(self, check: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Poll `check` until it returns a value other than None, at most max_wait seconds."""
        deadline = time.monotonic() + self.max_wait
        while True:
            value = await check()
            if value is not None:
                return value
            if time.monotonic() >= deadline:
                raise ProviderError(f"{self.name} {what} not finished after max_wait={self.max_wait:g}s", retryable=False)
            await asyncio.sleep(self.poll_interval)

    # -- results
    async def materialise(self, image: bytes | str, request: ImageRequest) -> "Image":
        """Bytes, URL or data: URI -> a decoded PIL image of the planned size."""
        if isinstance(image, str):
            data = decode_data_uri(image, self.download_max_bytes) if image.startswith("data:") else await self.download(image)
        else:
            data = image
        decoded = decode_image(data, self.name)
        if decoded.size != (request.width, request.height):
            raise ProviderError(f"{self.name} returned a {decoded.size[0]}x{decoded.size[1]} image for a "
                                f"{request.width}x{request.height} request", circuit=False)
        return decoded

    async def download(self, url: str) -> bytes:
        """GET a result URL: http(s) only, no credentials, size-capped, image content type, retried like calls."""
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ProviderError(f"{self.name} returned a {scheme or 'relative'}: result URL; only http(s) is downloaded",
                                circuit=False)

        async def fetch():
            async with self.client.stream("GET", url, timeout=self.download_timeout, follow_redirects=True) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self.error_for(response)
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if not (content_type.startswith("image/") or content_type in ("application/octet-stream", "binary/octet-stream")):
                    raise ProviderError(f"{self.name} result is {content_type or 'untyped'}, not an image", circuit=False)
                declared = int(response.headers.get("content-length") or 0)
                if declared > self.download_max_bytes:
                    raise ProviderError(f"{self.name} result is {declared} bytes, over download_max_bytes="
                                        f"{self.download_max_bytes}", circuit=False)
                chunks, total = [], 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > self.download_max_bytes:
                        raise ProviderError(f"{self.name} result exceeds download_max_bytes={self.download_max_bytes}",
                                            circuit=False)
                    chunks.append(chunk)
                return b"".join(chunks)

        return await self.with_retries(fetch, "download")


def provider_message(response: "httpx.Response") -> str:
    """The provider's own error text (JSON detail/error/message, else the body), short and scrubbed."""
    text = response.text if response.content is not None else ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "title"):
            if body.get(key):
                value = body[key]
                text = value if isinstance(value, str) else json.dumps(value)
                break
    text = re.sub(r"\s+", " ", text).strip()
    return scrub(text[:ERROR_BODY_CHARS] or response.reason_phrase or "no message")


def decode_data_uri(uri: str, max_bytes: int) -> bytes:
    """The bytes of a base64 data: URI (images only), size-capped."""
    header, sep, payload = uri.partition(",")
    if not sep or ";base64" not in header:
        raise ProviderError("result data: URI is not base64-encoded", circuit=False)
    media = header[5:].split(";")[0].lower()
    if media and not media.startswith("image/"):
        raise ProviderError(f"result data: URI holds {media}, not an image", circuit=False)
    if len(payload) * 3 // 4 > max_bytes:
        raise ProviderError(f"result data: URI exceeds download_max_bytes={max_bytes}", circuit=False)
    return decode_base64(payload)


def decode_base64(payload: str) -> bytes:
    try:
        return base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError("result is not valid base64", circuit=False) from None


def decode_image(data: bytes, provider: str) -> "Image":
    """Decode bytes with PIL, refusing non-images and oversized pictures."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.size[0] * image.size[1] > MAX_IMAGE_PIXELS:
            raise ProviderError(f"{provider} result is {image.size[0]}x{image.size[1]} pixels, too large", circuit=False)
        image.load()
    except ProviderError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise ProviderError(f"{provider} result is not a decodable image ({type(error).__name__})", circuit=False) from None
    return image


__all__ = [
    "HostedBackend", "Output", "ProviderError", "CircuitBreaker", "QuotaLedger", "RetryPolicy", "circuit_for",
    "decode_base64", "decode_data_uri", "decode_image", "gauge_stats", "ledger_for", "forget_ledgers",
    "parse_retry_after", "register_secret", "register_secret_resolver", "resolve_credential", "run_on_loop", "scrub",
]
