"""`HostedBackend`: the base class every hosted provider subclasses (see the package docstring for how)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator

from fluxcat.backends.base import Backend, BackendConfigError, ImageRequest, ImageResult
from fluxcat.backends.capabilities import Capabilities, ModelLimits
from fluxcat.backends.hosted.loop import ConcurrencyGauge, HostedLoop, generate_on_loop
from fluxcat.backends.hosted.quota import QuotaUsage
from fluxcat.backends.hosted.results import (
    base_url_kinds, buffered, check_result_url, content_type_of, decode_data_uri, decode_image, is_image_type,
    provider_message, read_capped, within,
)
from fluxcat.backends.hosted.retry import CircuitBreaker, parse_retry_after, retry_after_from_text
from fluxcat.backends.hosted.secrets import ProviderError, register_secret, resolve_credential, scrub, scrub_and_cut
from fluxcat.backends.hosted.settings import HostedSettings, option_types
from fluxcat.backends.provider_facts import BASE_URL_ENV, DEFAULT_CONCURRENCY, KEY_ENV, MONTHLY_LIMITS, PRICES, Price
from fluxcat.ledger import Ledger
from fluxcat.store import OutputNotWritable

if TYPE_CHECKING:
    import httpx
    from PIL.Image import Image

log = logging.getLogger("fluxcat.hosted")

# Replies that say the account or endpoint cannot serve anyone right now: the circuit opens at once.
HOPELESS = {401: "bad credentials", 402: "no credit left", 403: "forbidden", 406: "not enough credits",
            410: "endpoint gone"}
SAFE_TO_RESEND = "safe to resend"  # ProviderError.retryable reasons that prove nothing was created
BILLED = "billed_usd"  # in details while an attempt is charged for: the price a failure still costs


@dataclass
class Output:
    """What a provider produced for one request: bytes, an http(s) URL or a data: URI, plus provider facts."""

    image: bytes | str
    details: dict[str, Any] = field(default_factory=dict)


class JobFailed(ProviderError):
    """The provider says the job is over without an image (failed, cancelled, aborted), or we cancelled it.
    Other failures keep the job open in the ledger: it may still finish, and a rerun re-attaches instead of paying."""


class AmbiguousCreate(ProviderError):
    """A create call failed after it may have reached the provider: resending could pay for a second job."""


def _unlimited(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.lower() in ("none", "unlimited", "inf")) or value == -1


class HostedBackend(Backend):
    """Base of every hosted provider: HTTP with a cap on requests in flight, retries, a circuit breaker, a monthly
    quota, the run's ledger of billed jobs and result checks. All of it belongs to this instance (one per run)."""

    name = "hosted"
    default_base_url = ""
    models: dict[str, str] = {}
    auth_header = "Authorization"
    auth_scheme = "Bearer"

    def __init__(self, base_url: str | None = None, api_key_env: str | None = None, api_key_block: str | None = None,
                 prompt_safety: bool = True, blocked_terms: str | list[str] | None = None, max_batch: int = 64,
                 **tuning: Any):
        settings = HostedSettings.from_options(tuning)
        self.base_url = self._base_url(base_url)
        self.key_env, self.key_block = api_key_env or KEY_ENV.get(self.name, ""), api_key_block
        self._api_key: str | None = None  # read when first needed: planning and cost estimates need no key
        self.timeouts, self.policy = settings.timeouts, settings.retries
        self.concurrency = int(settings.limits.concurrency or DEFAULT_CONCURRENCY.get(self.name, 3))
        if self.concurrency < 1:
            raise BackendConfigError(f"{self.name}: concurrency must be at least 1, got {self.concurrency}")
        self.reply_max_bytes, self.download_max_bytes = settings.limits.reply_max_bytes, settings.limits.download_max_bytes
        self.circuit = CircuitBreaker(settings.circuit.threshold, settings.circuit.reset)
        self.gauge = ConcurrencyGauge(self.concurrency)
        limit = settings.limits.monthly_limit
        self.monthly_limit = MONTHLY_LIMITS.get(self.name) if limit == "default" else (None if _unlimited(limit) else int(limit))
        self.prices = self._prices(settings)
        self.max_batch = int(max_batch)
        self.ledger, self.quota = Ledger(), QuotaUsage()  # in memory until a run attaches its own
        self.loop = HostedLoop()  # a router gives its providers its own (`share_loop`)
        self._client: "httpx.AsyncClient | None" = None
        self._internal_ok: set[str] | None = None
        from fluxcat.safety import SafetyFilter

        self.safety = SafetyFilter.for_provider(blocked_terms, private_data=prompt_safety)

    @classmethod
    def more_options(cls) -> dict[str, tuple[Any, Any]]:
        return option_types()  # timeouts, limits, retries, circuit, prices: fluxcat/backends/hosted/settings.py

    @property
    def api_key(self) -> str:
        """The provider's key, from its Secret block or environment variable; raises, teaching the fix, if absent."""
        if self._api_key is None:
            self._api_key = resolve_credential(self.name, self.key_env, self.key_block)
            register_secret(self.auth_headers()[self.auth_header])  # the whole header value, as a provider may echo it
        return self._api_key

    def check_ready(self) -> None:
        self.api_key  # noqa: B018  (resolving it is the check)

    # -- configuration
    def _base_url(self, option: str | None) -> str:
        url = (option or os.environ.get(BASE_URL_ENV.get(self.name, ""), "") or self.default_base_url).rstrip("/")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise BackendConfigError(f"{self.name}: base URL must be http(s)://..., got {url!r} "
                                     f"(set {BASE_URL_ENV.get(self.name, 'base_url=')} or --backend-option base_url=)")
        return url

    def _prices(self, settings: HostedSettings) -> dict[str, Price]:
        prices = dict(PRICES.get(self.name, {}))
        for model in ("schnell", "dev", "fill", "kontext"):
            override = getattr(settings.prices, model)
            if override is not None:
                prices[model] = Price(float(override), prices.get(model, Price(0.0)).per)
        return prices

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    # -- the Backend contract
    def attach(self, ledger: Ledger) -> None:
        """Record billed jobs in the run's ledger and quota usage in its output store."""
        self.ledger, self.quota = ledger, QuotaUsage(ledger.store)

    def share_loop(self, loop: HostedLoop) -> None:
        """Run on another backend's loop (a router's), which that backend closes."""
        self.loop = loop

    @property
    def row_checks(self) -> list[Callable]:
        return [self.safety.check_row] if self.safety else []

    def model_limits(self, model: str) -> ModelLimits:
        """What this provider accepts for one of its models; providers override this."""
        return ModelLimits()

    def capabilities(self) -> Capabilities:
        return Capabilities(self.name, {model: self.model_limits(model) for model in self.models})

    def unsupported(self, request: ImageRequest) -> str | None:
        """Why this provider cannot make this image, or None."""
        return self.capabilities().refuses(request.model, request.width, request.height, request.steps, request.guidance)

    def model_id(self, model: str) -> str:
        return f"{self.name}:{self.models.get(model, model)}"

    def cost_per_image(self, request: ImageRequest) -> float:
        price = self.prices.get(request.model)
        return price.cost(request.width, request.height, request.steps) if price else 0.0

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        yield from generate_on_loop(self.loop, self.name, self.generate_one, requests)

    def own_url(self, given: str | None, fallback: str) -> str:
        """Follow a URL from a reply only on the base URL's own origin: credentials go nowhere else."""
        if given:
            base, url = urllib.parse.urlsplit(self.base_url), urllib.parse.urlsplit(given)
            if (url.scheme, url.netloc) == (base.scheme, base.netloc):
                return given
        return fallback

    def close(self) -> None:
        self.close_client()
        self.loop.close()

    def close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                self.loop.submit(client.aclose()).result(timeout=5)
            except Exception:  # closing is best effort
                pass

    # -- one image
    async def generate_one(self, request: ImageRequest) -> ImageResult:
        """Make one image with everything around it; returns a failed result instead of raising."""
        start = time.perf_counter()
        details: dict[str, Any] = {"provider": self.name}
        reason = self.unsupported(request)
        if reason:
            return self._failed(request, reason, details, start)
        # Store I/O runs off the event loop: an object store's latency must not stall every other request.
        record = await asyncio.to_thread(self.ledger.find, request.key, request.seed)
        if record is not None and record["provider"] != self.name:
            return self._failed(request, f"{self.name} creates nothing for this image: a {record['provider']} job "
                                         f"for it is in flight (the run's ledger), and a run using {record['provider']} "
                                         f"collects it", details, start)
        async with self.gauge:
            refusal = self._admission(request)
            if refusal:
                return self._failed(request, refusal, details, start)
            try:
                image, cost = await self._obtain(request, record, details)
            except Exception as error:
                self.quota.release(self.name)
                self._judge(error)
                message = str(error) if isinstance(error, ProviderError) else \
                    f"{self.name}: unexpected {type(error).__name__}: {error}"
                return self._failed(request, message, details, start, cost=details.pop(BILLED, 0.0))
        details.pop(BILLED, None)
        self.quota.commit(self.name)
        self.circuit.record_success()
        return ImageResult(request.key, image=image, seconds=time.perf_counter() - start, cost_usd=cost,
                           backend=self.name, details=details)

    def _admission(self, request: ImageRequest) -> str | None:
        if not self.circuit.allow():
            return f"{self.name} circuit is open after repeated failures; next probe in {self.circuit.retry_in():.0f}s"
        if not self.quota.take(self.name, self.monthly_limit):
            self.circuit.release_probe()
            return (f"{self.name} monthly quota used up ({self.quota.used(self.name)}/{self.monthly_limit} images in "
                    f"{QuotaUsage.month()}); raise it with monthly_limit=N or use another provider")
        return None

    @property
    def queued(self) -> bool:
        """A queue API (a billed job, then polling) rather than one call that returns the image."""
        return type(self).submit is not HostedBackend.submit

    async def _obtain(self, request: ImageRequest, record: dict | None, details: dict) -> tuple["Image", float]:
        """The image and its price: from the job an open ledger record names (re-attached, never paid again), else
        from a new billed create that is recorded in the ledger before anything waits on it."""
        key, seed = request.key, request.seed
        if self.queued and record is not None and record.get("job"):
            job, price = record["job"], float(record["price_usd"])
            details["reattached"] = job.get("id")
            log.info("%s: re-attaching to job %s for %s", self.name, job.get("id"), key)
        elif self.queued:
            job, price = await self._create(request, record)
        else:
            if record is not None:  # a one-call API's call cut by a crash: there is no job to collect
                log.warning("%s: a call for %s was cut by a crash and cannot be collected; calling again", self.name, key)
                await asyncio.to_thread(self.ledger.close, key, seed, "lost")
            job, price = None, self.cost_per_image(request)
            await asyncio.to_thread(self.ledger.open, key, seed, self.name, None, price)
        if job is not None:  # created: charged unless the provider says it ended without an image
            details[BILLED] = price
        try:
            output = await (self.await_job(job) if job is not None else self.produce(request))
            details[BILLED] = price  # the provider made the image: paid for, whatever becomes of it here
            details.update({k: v for k, v in output.details.items() if v is not None})
            return await self.materialise(output.image, request), price
        except JobFailed:  # over without an image (nothing charged): a later attempt may create it again
            details.pop(BILLED, None)
            await asyncio.to_thread(self.ledger.close, key, seed, "failed")
            raise
        except Exception:
            if job is None:  # nothing to re-attach to: the attempt is over
                await asyncio.to_thread(self.ledger.close, key, seed, "failed")
            raise  # a queue job stays open: it may still finish, and a rerun collects it

    async def _create(self, request: ImageRequest, record: dict | None) -> tuple[dict, float]:
        """A new billed job and its price, recorded twice: its intent before the create, so that an output which
        cannot take a record (full, read-only) refuses before anything is paid; its job id after, for a rerun."""
        key, seed, price = request.key, request.seed, self.cost_per_image(request)
        if record is not None:  # an intent cut by a crash or a full disk between the create and its job id
            log.warning("%s: a create for %s may have been sent, its job id never recorded; creating again", self.name,
                        key)
            await asyncio.to_thread(self.ledger.close, key, seed, "lost")
        await asyncio.to_thread(self.ledger.open, key, seed, self.name, None, price)
        try:
            job = await self.submit(request)
        except Exception:
            await asyncio.to_thread(self.ledger.close, key, seed, "failed")
            raise
        await asyncio.to_thread(self.ledger.open, key, seed, self.name, job, price)
        return job, price

    def _judge(self, error: Exception) -> None:
        """Tell the breaker what a failure says about the provider."""
        if isinstance(error, OutputNotWritable):  # our disk, not the provider
            self.circuit.release_probe()
        elif isinstance(error, ProviderError) and error.status in HOPELESS:
            self.circuit.trip()
        elif not isinstance(error, ProviderError) or error.circuit:
            self.circuit.record_failure()
        else:
            self.circuit.release_probe()

    def _failed(self, request: ImageRequest, reason: str, details: dict, start: float,
                cost: float = 0.0) -> ImageResult:
        """A result without an image; `cost`: what the attempt was charged all the same (the budget counts it)."""
        return ImageResult(request.key, error=scrub(reason), seconds=time.perf_counter() - start, cost_usd=cost,
                           backend=self.name, details=details)

    async def produce(self, request: ImageRequest) -> Output:
        """One-call providers: ask for one image and return where it is. Queue providers implement `submit` and
        `await_job` instead."""
        raise NotImplementedError

    async def submit(self, request: ImageRequest) -> dict:
        """Queue providers: create the job, return what re-attaching needs (JSON-serialisable, with an `id`)."""
        raise NotImplementedError

    async def await_job(self, job: dict) -> Output:
        """Queue providers: wait for a job (new, or re-attached from the ledger) and return its output."""
        raise NotImplementedError

    # -- HTTP with retries
    @property
    def client(self) -> "httpx.AsyncClient":
        """This backend's client; created on the loop thread on first use."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeouts.request, connect=self.timeouts.connect),
                limits=httpx.Limits(max_connections=max(10, self.concurrency * 2)),
                headers={"User-Agent": "fluxcat"})
        return self._client

    def auth_headers(self) -> dict[str, str]:
        return {self.auth_header: f"{self.auth_scheme} {self.api_key}".strip()}

    async def request(self, method: str, url: str, *, json: Any = None, headers: dict | None = None,
                      what: str = "request", creates: bool = False, **kwargs) -> "httpx.Response":
        """An authenticated call, retried per the policy, under a total deadline, its reply size-capped; returns a
        <400 response. `creates=True` marks a call that makes a billed job: it is resent only after failures that
        prove nothing was created (refused connection, 429, a provider saying so)."""
        async def send():
            request = self.client.build_request(method, url, json=json, headers={**self.auth_headers(), **(headers or {})},
                                                **kwargs)
            response = await self.client.send(request, stream=True)
            try:
                body = await read_capped(response, self.reply_max_bytes, f"{self.name} {what} reply")
            finally:
                await response.aclose()
            response = buffered(response, body)
            if response.status_code >= 400:
                raise self.error_for(response)
            return response

        return await self.with_retries(lambda: within(self.timeouts.request, send(), f"{self.name} {what}"), what, creates)

    async def with_retries(self, send: Callable[[], Awaitable[Any]], what: str, creates: bool = False) -> Any:
        for attempt in range(1, self.policy.max_attempts + 1):
            outcome = await self._attempt(send, what)
            if not isinstance(outcome, ProviderError):
                return outcome
            error = outcome
            if not error.retryable:
                raise error
            if creates and not error.safe_to_resend:
                raise AmbiguousCreate(f"{error}; not resent: the {what} may have reached {self.name}, and resending "
                                      f"could pay for a second job", status=error.status)
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

    async def _attempt(self, send: Callable[[], Awaitable[Any]], what: str) -> Any:
        """The reply, or the ProviderError that one attempt ended with."""
        import httpx

        try:
            return await send()
        except ProviderError as caught:
            return caught
        except httpx.ConnectError as caught:  # nothing reached the provider
            return ProviderError(f"{self.name} {what}: connection failed ({type(caught).__name__}: {caught})",
                                 retryable=True, safe_to_resend=True)
        except httpx.ConnectTimeout:
            return ProviderError(f"{self.name} {what}: connection timed out", retryable=True, safe_to_resend=True)
        except httpx.TimeoutException as caught:
            return ProviderError(f"{self.name} {what} timed out ({type(caught).__name__}, timeout "
                                 f"{self.timeouts.request:g}s)", retryable=True)
        except httpx.TransportError as caught:  # connection reset, broken protocol
            detail = f"{type(caught).__name__}: {caught}" if str(caught) else type(caught).__name__
            return ProviderError(f"{self.name} {what}: connection failed ({detail})", retryable=True)

    def error_for(self, response: "httpx.Response") -> ProviderError:
        """A ProviderError for an HTTP error reply: 429/408/5xx retryable (Retry-After, or a "resets in ~Ns" text,
        honoured), other 4xx final; 401/402/403/406/410 open the circuit at once."""
        status = response.status_code
        text = provider_message(response)
        why = f" ({HOPELESS[status]})" if status in HOPELESS else ""
        message = f"{self.name} HTTP {status}{why}: {text}"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            retry_after = retry_after if retry_after is not None else retry_after_from_text(text)
            return ProviderError(message, retryable=True, retry_after=retry_after, status=status, safe_to_resend=True)
        if status == 408 or status >= 500:
            return ProviderError(message, retryable=True, retry_after=retry_after, status=status)
        return ProviderError(message, circuit=status in HOPELESS, status=status)

    def json_of(self, response: "httpx.Response", what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{self.name} sent malformed JSON for {what}: "
                                f"{scrub_and_cut(repr(response.text), 120)}") from None

    async def wait_until(self, check: Callable[[], Awaitable[Any]], what: str,
                         on_timeout: Callable[[], Awaitable[None]] | None = None) -> Any:
        """Poll `check` until it returns a value other than None, at most max_wait seconds; then `on_timeout`
        (cancel the billed job) and fail."""
        deadline = time.monotonic() + self.timeouts.max_wait
        while True:
            value = await check()
            if value is not None:
                return value
            if time.monotonic() >= deadline:
                message = f"{self.name} {what} not finished after max_wait={self.timeouts.max_wait:g}s"
                if on_timeout is not None and await self._try(on_timeout):
                    raise JobFailed(f"{message}; cancelled at the provider", circuit=False)
                raise ProviderError(f"{message}; not cancelled, a rerun re-attaches to it", circuit=False)
            await asyncio.sleep(self.timeouts.poll_interval)

    async def _try(self, action: Callable[[], Awaitable[None]]) -> bool:
        try:
            await action()
            return True
        except Exception as error:  # cancelling is best effort; the image fails either way
            log.warning("%s: %s", self.name, scrub(error))
            return False

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
        """GET a result URL: http(s) only, no credentials, no internal hosts, size-capped, under a total deadline,
        image content type, retried like calls; redirects followed one hop at a time, each hop checked."""
        return await self.with_retries(
            lambda: within(self.timeouts.download, self._fetch(url), f"{self.name} download"), "download")

    async def _fetch(self, url: str) -> bytes:
        if self._internal_ok is None:
            self._internal_ok = await base_url_kinds(self.base_url)
        for _ in range(6):
            await check_result_url(url, self._internal_ok, self.name)
            async with self.client.stream("GET", url, timeout=self.timeouts.download, follow_redirects=False) as response:
                if response.is_redirect:
                    url = str(response.url.join(response.headers.get("location", "")))
                    continue
                if response.status_code >= 400:
                    await response.aread()
                    raise self.error_for(response)
                content_type = content_type_of(response)
                if not is_image_type(content_type):
                    raise ProviderError(f"{self.name} result is {content_type or 'untyped'}, not an image", circuit=False)
                return await read_capped(response, self.download_max_bytes,
                                         f"{self.name} result (download_max_bytes={self.download_max_bytes})")
        raise ProviderError(f"{self.name} result URL redirected more than 5 times", circuit=False)
