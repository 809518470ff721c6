"""`fluxcat serve`: the /api/v1/flux/dev HTTP protocol over any local backend, images served from a Store."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from fluxcat.backends.base import Backend, ImageRequest
from fluxcat.errors import quote
from fluxcat.layout import IMAGE_FORMATS
from fluxcat.limits import GUIDANCE_RANGE, MAX_PROMPT_CHARS, NAMED_SIZES, NUM_IMAGES_RANGE, SEED_RANGE, STEPS_RANGE
from fluxcat.plan import content_key
from fluxcat.store import Store, image_relpath

log = logging.getLogger("fluxcat.serve")

API_KEY_ENV = "FLUXCAT_SERVE_API_KEY"
ENDPOINT = "/api/v1/flux/dev"
MODEL = "dev"  # the endpoint is flux/dev: every request runs FLUX.1-dev

# The reference's optional parameters and their defaults; "seed" defaults to a fresh random one.
DEFAULTS: dict[str, Any] = {"num_images": 1, "image_size": "landscape_4_3", "guidance_scale": 3.5,
                            "num_inference_steps": 28, "seed": None}
PARAMETERS = ("prompt", *DEFAULTS)
IMAGE_NAME = re.compile(r"^([0-9a-f]{32})\.(png|webp|jpg)$")
EXTENSIONS = {"png": "png", "webp": "webp", "jpeg": "jpg"}
# A request body is a few parameters and a prompt of at most 1000 characters (6 bytes each as JSON escapes).
MAX_BODY_BYTES = 16 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ERROR_TYPES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 413: "request_too_large",
               429: "rate_limited", 500: "inference_failed"}


class InvalidRequest(ValueError):
    """A request the protocol does not allow (answered with 400 and this message)."""


@dataclass(frozen=True)
class Generation:
    """A validated request body."""

    prompt: str
    num_images: int
    image_size: str
    guidance_scale: float
    num_inference_steps: int
    seed: int

    @property
    def size(self) -> tuple[int, int]:
        return NAMED_SIZES[self.image_size]


def parse_generation(body: Any) -> Generation:
    """Check a request body against the reference's parameters, types and ranges; fill the defaults."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object, e.g. {\"prompt\": \"a red fox\"}")
    unknown = sorted(set(body) - set(PARAMETERS))
    if unknown:
        raise InvalidRequest(f"unknown parameter(s) {quote(', '.join(map(str, unknown)))}: accepted are {', '.join(PARAMETERS)}")
    values = {**DEFAULTS, **{k: v for k, v in body.items() if v is not None}}
    seed = values["seed"]
    return Generation(
        prompt=_prompt(body.get("prompt")),
        num_images=_whole(values["num_images"], "num_images", NUM_IMAGES_RANGE),
        image_size=_size_name(values["image_size"]),
        guidance_scale=_number(values["guidance_scale"], "guidance_scale", GUIDANCE_RANGE),
        num_inference_steps=_whole(values["num_inference_steps"], "num_inference_steps", STEPS_RANGE),
        seed=secrets.randbelow(SEED_RANGE[1] + 1) if seed is None else _whole(seed, "seed", SEED_RANGE),
    )


def _prompt(value: Any) -> str:
    if value is None:
        raise InvalidRequest("prompt is required: a text description of the image to generate")
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("prompt must be a non-empty string")
    if len(value) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt is too long: {len(value)} characters, the maximum is {MAX_PROMPT_CHARS}")
    return value


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)  # an int of any size is finite (no float round trip)


def _whole(value: Any, name: str, bounds: tuple[int, int]) -> int:
    if not _is_number(value) or value != int(value):
        raise InvalidRequest(f"{name} must be a whole number, got {quote(value)}")
    if not bounds[0] <= value <= bounds[1]:
        raise InvalidRequest(f"{name} must be between {bounds[0]} and {bounds[1]}, got {quote(value)}")
    return int(value)


def _number(value: Any, name: str, bounds: tuple[float, float]) -> float:
    if not _is_number(value):
        raise InvalidRequest(f"{name} must be a number, got {quote(value)}")
    if not bounds[0] <= value <= bounds[1]:
        raise InvalidRequest(f"{name} must be between {bounds[0]:g} and {bounds[1]:g}, got {value!r}")
    return float(value)


def _size_name(value: Any) -> str:
    if not isinstance(value, str) or value not in NAMED_SIZES:
        sizes = ", ".join(f"{name} ({w}x{h})" for name, (w, h) in NAMED_SIZES.items())
        raise InvalidRequest(f"image_size must be one of {sizes}; got {quote(value)}")
    return value


def decode_body(data: bytes) -> Any:
    """The body as JSON; anything else, or JSON nested deeper than the parser's recursion allows, is 400."""
    try:
        return json.loads(data)
    except RecursionError:
        raise InvalidRequest("the request body is nested too deeply: send one flat JSON object of parameters") from None
    except ValueError:  # also UnicodeDecodeError
        raise InvalidRequest("the request body must be JSON, sent with 'Content-Type: application/json'") from None


class RateLimiter:
    """A sliding window per client: at most `limit` requests in any `window_s` seconds."""

    MAX_CLIENTS = 10_000  # clients remembered before stale ones are dropped

    def __init__(self, limit: int, window_s: float):
        if limit < 1 or window_s <= 0:
            raise ValueError(f"rate limit must be at least 1 request per a positive window, got {limit}/{window_s}s")
        self.limit, self.window_s = limit, window_s
        self._seen: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def admit(self, client: str, record: bool = True) -> float | None:
        """None when the request may go ahead (counted unless `record` is false), else the seconds until it
        could (for Retry-After)."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(client, collections.deque())
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            if len(seen) >= self.limit:
                return seen[0] + self.window_s - now
            if record:
                seen.append(now)
            elif not seen:
                del self._seen[client]  # a client seen only to be checked leaves nothing behind
            return None

    def record(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self.MAX_CLIENTS:  # many addresses, each seen once: forget the stale ones
                self._seen = {c: seen for c, seen in self._seen.items() if seen and seen[-1] > now - self.window_s}
            self._seen.setdefault(client, collections.deque()).append(now)


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
    public_url: str | None = None  # image URLs start with this; else the request's Host, if trusted
    trusted_hosts: tuple[str, ...] = LOOPBACK_HOSTS

    def __post_init__(self):
        if self.max_body_bytes < 1024 or self.max_queue < 1:
            raise ValueError(f"max_body_bytes must be at least 1024 and max_queue at least 1, got "
                             f"{self.max_body_bytes} and {self.max_queue}")
        if self.public_url is not None and urlsplit(self.public_url).scheme not in ("http", "https"):
            raise ValueError(f"public_url must be an http(s) URL such as https://images.example.com, got {self.public_url!r}")

    @property
    def auth(self) -> bool:
        return bool(self.api_keys)


def api_keys_from_env(environ: dict | None = None) -> tuple[str, ...]:
    """FLUXCAT_SERVE_API_KEY holds one key, or several separated by commas (each with its own rate limit)."""
    raw = (environ if environ is not None else os.environ).get(API_KEY_ENV, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def create_app(backend: Backend, store: Store, settings: ServeSettings) -> FastAPI:
    """The FastAPI app: POST /api/v1/flux/dev, GET /images/<key>.<ext>, GET /health, GET /api/v1/stats."""
    if settings.image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {settings.image_format!r}")
    limiter = RateLimiter(settings.rate_limit, settings.rate_window_s)
    auth_failures = RateLimiter(settings.auth_failure_limit, settings.auth_failure_window_s)
    queue = QueueEstimate(settings.workers)
    store.sweep_temp()  # temp files of an earlier server killed mid-write
    stats = ServerStats()
    generating_lock = threading.Lock()
    inference = ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="fluxcat-serve")

    @asynccontextmanager
    async def lifespan(app):
        # Load the weights before accepting requests, so the first caller does not pay for it.
        if hasattr(backend, "pipeline"):
            await asyncio.get_running_loop().run_in_executor(inference, backend.pipeline, MODEL)
        yield
        inference.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="fluxcat serve", description="The /api/v1/flux/dev protocol over a fluxcat backend.",
                  lifespan=lifespan, docs_url=None, redoc_url=None)

    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        stats.by_status[status] += 1
        return JSONResponse({"detail": message, "type": ERROR_TYPES.get(status, "error")}, status, headers=headers)

    def retry_later(message: str, wait: float) -> JSONResponse:
        retry_after = max(1, math.ceil(wait))
        return error(429, f"{message}; retry after {retry_after}s", {"Retry-After": str(retry_after)})

    def authenticate(request: Request) -> tuple[JSONResponse | None, str]:
        """(the refusal to send, or None; the caller's rate-limit identity). Failed attempts are limited per address."""
        address = f"ip:{request.client.host if request.client else 'unknown'}"
        wait = auth_failures.admit(address, record=False)
        if wait is not None:
            return retry_later(f"too many failed API-key attempts from this address: at most "
                               f"{settings.auth_failure_limit} per {settings.auth_failure_window_s:g}s", wait), ""
        problem, client = client_of(request, address)
        if problem:
            auth_failures.record(address)
            return error(401, problem, {"WWW-Authenticate": "Bearer"}), ""
        return None, client

    def client_of(request: Request, address: str) -> tuple[str | None, str]:
        """(why the caller is refused with 401, or None; the caller's rate-limit identity)."""
        if not settings.auth:
            return None, address
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing API key: send the header 'Authorization: Bearer <your key>'", ""
        token = token.strip()
        # Compare against every key in constant time, so timing says nothing about near misses.
        matches = [hmac.compare_digest(token.encode(), key.encode()) for key in settings.api_keys]
        if not any(matches):
            return "invalid API key", ""
        return None, "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]

    @app.get("/health")
    async def health():
        return {"status": "ok", "backend": backend.name, "model": backend.model_id(MODEL)}

    @app.get("/api/v1/stats")
    async def server_stats(request: Request):
        refusal, _ = authenticate(request)
        return refusal or stats.to_dict()

    @app.post(ENDPOINT)
    async def generate(request: Request):
        stats.requests += 1
        refusal, client = authenticate(request)
        if refusal:
            return refusal
        base_url = image_base_url(request, settings)
        if base_url is None:
            return error(400, f"untrusted Host header {quote(request.headers.get('host', ''))}: image URLs are built "
                              "from it, so the server must be started with --public-url URL or --trusted-host NAME")
        wait = limiter.admit(client)
        if wait is not None:
            return retry_later(f"rate limit exceeded: at most {settings.rate_limit} requests per "
                               f"{settings.rate_window_s:g}s per API key", wait)
        try:
            generation = parse_generation(decode_body(await read_body(request, settings.max_body_bytes)))
        except BodyTooLarge as large:
            return error(413, str(large), {"Connection": "close"})
        except InvalidRequest as invalid:
            return error(400, str(invalid))
        if stats.in_flight >= settings.max_queue:  # shed load rather than queue without limit
            return retry_later(f"server busy: {stats.in_flight} requests are queued or running, the most it takes "
                               f"is {settings.max_queue}", queue.seconds_to_clear(stats.in_flight))
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if settings.inject_latency_s:
                await asyncio.sleep(settings.inject_latency_s)
            return await _answer(base_url, generation)
        finally:
            stats.in_flight -= 1

    async def _answer(base_url: str, generation: Generation):
        requests = image_requests(backend, generation)
        loop = asyncio.get_running_loop()
        try:
            results, inference_s = await loop.run_in_executor(inference, _run_backend, requests)
        except Exception as failure:  # a backend that raises instead of returning an error result
            log.exception("inference failed")
            return error(500, f"inference failed: {type(failure).__name__}: {failure}")
        missing = [r for r in requests if r.key not in results or not results[r.key].ok]
        if missing:
            result = results.get(missing[0].key)
            reason = result.error if result is not None and result.error else "the backend returned no image"
            log.warning("inference failed: %s", reason)
            return error(500, f"inference failed: {reason}")
        try:
            await loop.run_in_executor(None, _store_images, [(r.key, results[r.key].image) for r in requests])
        except Exception as failure:
            log.exception("could not store images")
            return error(500, f"could not store the images: {type(failure).__name__}: {failure}")
        stats.images += len(requests)
        stats.by_status[200] += 1
        queue.observe(inference_s)
        ext = EXTENSIONS[settings.image_format]
        return {
            "images": [{"url": f"{base_url}/images/{r.key}.{ext}", "width": r.width,
                        "height": r.height, "content_type": IMAGE_FORMATS[settings.image_format]} for r in requests],
            "seed": generation.seed,
            # Local backends run no NSFW classifier: nothing was detected because nothing looked.
            "has_nsfw_concepts": [False] * len(requests),
            "timings": {"inference": round(inference_s, 4)},
        }

    def _run_backend(requests: list[ImageRequest]) -> tuple[dict, float]:
        """Results by key, and the seconds the backend took (not counting the wait for a worker)."""
        with generating_lock:
            stats.generating += 1
        start = time.perf_counter()
        try:
            results = {result.key: result for result in backend.generate(requests)}
            return results, time.perf_counter() - start
        finally:
            with generating_lock:
                stats.generating -= 1

    def _store_images(images: list) -> None:
        from fluxcat.generate import encode_image

        for key, image in images:
            store.write_bytes(image_relpath(key, settings.image_format), encode_image(image, settings.image_format))

    @app.get("/images/{name}", name="image")
    async def image(name: str):
        match = IMAGE_NAME.match(name)
        fmt = {"jpg": "jpeg"}.get(match.group(2), match.group(2)) if match else None
        data = None
        if match is not None:
            data = await asyncio.get_running_loop().run_in_executor(None, _read_image, image_relpath(match.group(1), fmt))
        if data is None:
            return error(404, f"no image {name!r} on this server")
        return Response(data, media_type=IMAGE_FORMATS[fmt], headers={"Cache-Control": "public, max-age=31536000, immutable"})

    def _read_image(relpath: str) -> bytes | None:
        return store.read_bytes(relpath) if store.exists(relpath) else None

    app.state.stats = stats
    return app


class BodyTooLarge(ValueError):
    """A request body over the server's cap (answered with 413)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as its declared or received size passes `limit`: memory never holds more."""
    declared = request.headers.get("content-length", "")
    too_large = BodyTooLarge(f"the request body is larger than {limit} bytes: a request is a few parameters and a "
                             f"prompt of at most {MAX_PROMPT_CHARS} characters")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def image_base_url(request: Request, settings: ServeSettings) -> str | None:
    """Where the returned image URLs point: the configured public URL, else this request's own base URL if its
    Host is trusted (a Host header is the client's to choose); None for an untrusted Host."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    hostname = urlsplit(f"//{request.headers.get('host', '')}").hostname
    if hostname is None or hostname not in settings.trusted_hosts:
        return None
    return str(request.base_url).rstrip("/")


class QueueEstimate:
    """How long a queue of requests takes to clear, from recent inference times (for Retry-After)."""

    def __init__(self, workers: int, initial_s: float = 1.0):
        self.workers, self.average_s = max(1, workers), initial_s

    def observe(self, seconds: float) -> None:
        self.average_s = 0.8 * self.average_s + 0.2 * seconds

    def seconds_to_clear(self, queued: int) -> float:
        return self.average_s * queued / self.workers


def image_requests(backend: Backend, generation: Generation) -> list[ImageRequest]:
    """One request per image; image i uses seed + i, and its content key names its file."""
    width, height = generation.size
    requests = []
    for index in range(generation.num_images):
        seed = (generation.seed + index) % (SEED_RANGE[1] + 1)
        key = content_key(backend.model_id(MODEL), generation.prompt, width, height, generation.num_inference_steps,
                          generation.guidance_scale, seed, index)
        requests.append(ImageRequest(key=key, prompt=generation.prompt, model=MODEL, width=width, height=height,
                                     steps=generation.num_inference_steps, guidance=generation.guidance_scale, seed=seed))
    return requests


def serve(backend_name: str, backend_options: dict, output: str, host: str, port: int, settings: ServeSettings,
          log_level: str = "info") -> None:
    """Run the server until interrupted (uvicorn, one process; inference on worker threads)."""
    import uvicorn

    from fluxcat.backends import get_backend

    if not settings.auth:
        log.warning("authentication is OFF (--no-auth): anyone who can reach %s:%d can generate images", host, port)
    if settings.public_url is None and host not in LOOPBACK_HOSTS + ("0.0.0.0", "::"):
        settings = replace(settings, trusted_hosts=settings.trusted_hosts + (host,))
    if settings.public_url is None and host in ("0.0.0.0", "::"):
        log.warning("listening on all addresses without --public-url: requests are answered only when their Host is "
                    "one of %s (add --trusted-host NAME, or set --public-url)", ", ".join(settings.trusted_hosts))
    backend = get_backend(backend_name, backend_options)
    app = create_app(backend, Store(output), settings)
    log.info("fluxcat serve: backend %s, images in %s, POST http://%s:%d%s", backend.name, output, host, port, ENDPOINT)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
