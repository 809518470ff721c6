"""`fluxcat serve`'s app: the routes, with the guards and the protocol in their own modules."""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from fluxcat.backends.base import Backend, ImageRequest
from fluxcat.errors import quote
from fluxcat.layout import IMAGE_FORMATS
from fluxcat.safety import SERVE_SWITCH, SafetyFilter
from fluxcat.service.guards import (
    BodyTooLarge, QueueEstimate, RateLimiter, api_key_identity, client_address, image_base_url, read_body,
)
from fluxcat.service.protocol import (
    ENDPOINT, ERROR_TYPES, MODEL, Generation, InvalidRequest, backend_refusal, decode_body, image_file, image_requests,
    parse_generation, reply,
)
from fluxcat.store import Store, image_relpath

log = logging.getLogger("fluxcat.serve")

API_KEY_ENV = "FLUXCAT_SERVE_API_KEY"
# A request body is a few parameters and a prompt of at most 1000 characters (6 bytes each as JSON escapes).
MAX_BODY_BYTES = 16 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServeSettings:
    """How the server runs; the API keys never leave this object (its repr hides them)."""

    api_keys: tuple[str, ...] = field(default=(), repr=False)
    rate_limit: int = 60
    rate_window_s: float = 60.0
    image_format: str = "png"
    workers: int = 1  # inference threads; a GPU backend serialises its own calls anyway
    inject_latency_s: float = 0.0  # added to every generation request: for tests and benchmarks
    max_body_bytes: int = MAX_BODY_BYTES
    max_queue: int = 16  # generation requests waiting or running at once; more are answered 429
    auth_failure_limit: int = 10  # failed API-key attempts per client address per window; more are answered 429
    auth_failure_window_s: float = 60.0
    max_clients: int = 100_000  # addresses and keys each limiter remembers; past that the longest unseen goes
    public_url: str | None = None  # image URLs start with this; else the request's Host, if trusted
    trusted_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    private_data_check: bool = True  # personal information refused (blocked terms always; hosted backends check too)

    def __post_init__(self):
        if self.max_body_bytes < 1024 or self.max_queue < 1:
            raise ValueError(f"max_body_bytes must be at least 1024 and max_queue at least 1, got "
                             f"{self.max_body_bytes} and {self.max_queue}")
        if self.max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, got {self.max_clients}")
        if self.public_url is not None and urlsplit(self.public_url).scheme not in ("http", "https"):
            raise ValueError(f"public_url must be an http(s) URL such as https://images.example.com, got {self.public_url!r}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {self.image_format!r}")

    @property
    def auth(self) -> bool:
        return bool(self.api_keys)


def api_keys_from_env(environ: dict | None = None) -> tuple[str, ...]:
    """FLUXCAT_SERVE_API_KEY holds one key, or several separated by commas (each with its own rate limit)."""
    raw = (environ if environ is not None else os.environ).get(API_KEY_ENV, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())


@dataclass
class ServerStats:
    """What the server has done: requests by status and the most generation requests ever in flight."""

    in_flight: int = 0
    max_in_flight: int = 0
    generating: int = 0  # requests inside the backend right now (the rest of in_flight wait for a worker)
    requests: int = 0
    images: int = 0
    by_status: collections.Counter = field(default_factory=collections.Counter)

    def to_dict(self) -> dict:
        return {"in_flight": self.in_flight, "max_in_flight": self.max_in_flight, "generating": self.generating,
                "requests": self.requests,
                "images": self.images, "by_status": {str(k): v for k, v in sorted(self.by_status.items())}}


class Refused(Exception):
    """A guard's answer instead of the route's: status, message, headers."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _retry_later(message: str, wait: float) -> Refused:
    retry_after = max(1, math.ceil(wait))
    return Refused(429, f"{message}; retry after {retry_after}s", {"Retry-After": str(retry_after)})


class Guards:
    """The checks a request passes before the model: auth (failed attempts limited per address), the per-key rate,
    the trusted Host, the body cap, and load shedding. Built per app: nothing is shared between two servers."""

    def __init__(self, settings: ServeSettings, stats: ServerStats):
        self.settings, self.stats = settings, stats
        self.rate = RateLimiter(settings.rate_limit, settings.rate_window_s, settings.max_clients)
        self.auth_failures = RateLimiter(settings.auth_failure_limit, settings.auth_failure_window_s, settings.max_clients)
        self.queue = QueueEstimate(settings.workers)

    def client(self, request: Request) -> str:
        """The caller's rate-limit identity (its key, or its address without auth); refuses 401 or 429."""
        settings, address = self.settings, client_address(request)
        wait = self.auth_failures.admit(address, record=False)
        if wait is not None:
            raise _retry_later(f"too many failed API-key attempts from this address: at most "
                               f"{settings.auth_failure_limit} per {settings.auth_failure_window_s:g}s", wait)
        if not settings.auth:
            return address
        problem, identity = api_key_identity(request, settings.api_keys)
        if problem:
            self.auth_failures.record(address)
            raise Refused(401, problem, {"WWW-Authenticate": "Bearer"})
        return identity

    def base_url(self, request: Request) -> str:
        base_url = image_base_url(request, self.settings.public_url, self.settings.trusted_hosts)
        if base_url is None:
            raise Refused(400, f"untrusted Host header {quote(request.headers.get('host', ''))}: image URLs are built "
                               "from it, so the server must be started with --public-url URL or --trusted-host NAME")
        return base_url

    def within_rate(self, client: str) -> None:
        wait = self.rate.admit(client)
        if wait is not None:
            raise _retry_later(f"rate limit exceeded: at most {self.settings.rate_limit} requests per "
                               f"{self.settings.rate_window_s:g}s per API key", wait)

    async def generation(self, request: Request, safety: SafetyFilter) -> Generation:
        try:
            return parse_generation(decode_body(await read_body(request, self.settings.max_body_bytes)), safety)
        except BodyTooLarge as large:
            raise Refused(413, str(large), {"Connection": "close"}) from None
        except InvalidRequest as invalid:
            raise Refused(400, str(invalid)) from None

    def room(self) -> None:
        """Shed load rather than queue without limit."""
        if self.stats.in_flight >= self.settings.max_queue:
            raise _retry_later(f"server busy: {self.stats.in_flight} requests are queued or running, the most it takes "
                               f"is {self.settings.max_queue}", self.queue.seconds_to_clear(self.stats.in_flight))


def create_app(backend: Backend, store: Store, settings: ServeSettings) -> FastAPI:
    """The FastAPI app: POST /api/v1/flux/dev, GET /images/<key>.<ext>, GET /health, GET /api/v1/stats."""
    store.sweep_temp()  # temp files of an earlier server killed mid-write
    stats = ServerStats()
    guards = Guards(settings, stats)
    model = Model(backend, store, settings, stats)
    # Blocked terms always; personal information unless switched off, and a hosted backend's own checks regardless.
    safety = SafetyFilter(private_data=settings.private_data_check, private_data_switch=SERVE_SWITCH)

    app = FastAPI(title="fluxcat serve", description="The /api/v1/flux/dev protocol over a fluxcat backend.",
                  lifespan=model.lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(Refused)
    async def refused(request: Request, refusal: Refused):
        return error(stats, refusal.status, refusal.message, refusal.headers)

    @app.get("/health")
    async def health():
        return {"status": "ok", "backend": backend.name, "model": backend.model_id(MODEL)}

    @app.get("/api/v1/stats")
    async def server_stats(request: Request):
        guards.client(request)
        return stats.to_dict()

    @app.post(ENDPOINT)
    async def generate(request: Request):
        stats.requests += 1
        client = guards.client(request)
        base_url = guards.base_url(request)
        guards.within_rate(client)
        generation = await guards.generation(request, safety)
        refusal = backend_refusal(backend, generation)
        if refusal:
            raise Refused(400, refusal)
        guards.room()
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if settings.inject_latency_s:
                await asyncio.sleep(settings.inject_latency_s)
            requests = image_requests(backend, generation)
            inference_s = await model.make(requests)
            guards.queue.observe(inference_s)
            stats.by_status[200] += 1
            return reply(base_url, generation, requests, settings.image_format, inference_s)
        except asyncio.CancelledError:  # the server is stopping and its grace period is over: answer, then go
            return error(stats, 503, "the server is stopping: retry shortly", {"Retry-After": "5", "Connection": "close"})
        finally:
            stats.in_flight -= 1

    @app.get("/images/{name}", name="image")
    async def image(name: str):
        found = image_file(name)
        data = await asyncio.get_running_loop().run_in_executor(None, model.read_image, *found) if found else None
        if data is None:
            raise Refused(404, f"no image {name!r} on this server")
        return Response(data, media_type=IMAGE_FORMATS[found[1]],
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})

    app.state.stats = stats
    return app


def error(stats: ServerStats, status: int, message: str, headers: dict | None = None) -> JSONResponse:
    stats.by_status[status] += 1
    return JSONResponse({"detail": message, "type": ERROR_TYPES.get(status, "error")}, status, headers=headers)


class Model:
    """The backend behind the routes: inference on worker threads off the event loop, images in the store."""

    def __init__(self, backend: Backend, store: Store, settings: ServeSettings, stats: ServerStats):
        self.backend, self.store, self.settings, self.stats = backend, store, settings, stats
        self.inference = ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="fluxcat-serve")
        self._generating_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(self, app):
        # Load the weights before accepting requests, so the first caller does not pay for it.
        if hasattr(self.backend, "pipeline"):
            await asyncio.get_running_loop().run_in_executor(self.inference, self.backend.pipeline, MODEL)
        yield
        self.inference.shutdown(wait=False, cancel_futures=True)

    async def make(self, requests: list[ImageRequest]) -> float:
        """Generate and store every image; the seconds the backend took. Refuses 500 when either fails."""
        loop = asyncio.get_running_loop()
        try:
            results, inference_s = await loop.run_in_executor(self.inference, self._run_backend, requests)
        except Exception as failure:  # a backend that raises instead of returning an error result
            log.exception("inference failed")
            raise Refused(500, f"inference failed: {type(failure).__name__}: {failure}") from None
        missing = [r for r in requests if r.key not in results or not results[r.key].ok]
        if missing:
            result = results.get(missing[0].key)
            reason = result.error if result is not None and result.error else "the backend returned no image"
            log.warning("inference failed: %s", reason)
            raise Refused(500, f"inference failed: {reason}")
        try:
            await loop.run_in_executor(None, self._store_images, [(r.key, results[r.key].image) for r in requests])
        except Exception as failure:
            log.exception("could not store images")
            raise Refused(500, f"could not store the images: {type(failure).__name__}: {failure}") from None
        self.stats.images += len(requests)
        return inference_s

    def _run_backend(self, requests: list[ImageRequest]) -> tuple[dict, float]:
        """Results by key, and the seconds the backend took (not counting the wait for a worker)."""
        with self._generating_lock:
            self.stats.generating += 1
        start = time.perf_counter()
        try:
            results = {result.key: result for result in self.backend.generate(requests)}
            return results, time.perf_counter() - start
        finally:
            with self._generating_lock:
                self.stats.generating -= 1

    def _store_images(self, images: list) -> None:
        from fluxcat.generate import encode_image

        for key, image in images:
            self.store.write_bytes(image_relpath(key, self.settings.image_format),
                                   encode_image(image, self.settings.image_format))

    def read_image(self, key: str, image_format: str) -> bytes | None:
        relpath = image_relpath(key, image_format)
        return self.store.read_bytes(relpath) if self.store.exists(relpath) else None
