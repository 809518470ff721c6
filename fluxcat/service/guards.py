"""What stands before the model: API keys, rate limits with bounded memory, the body cap, load shedding, trusted Hosts."""

from __future__ import annotations

import collections
import hashlib
import hmac
import threading
import time
from urllib.parse import urlsplit

from starlette.requests import Request

from fluxcat.limits import MAX_PROMPT_CHARS


class RateLimiter:
    """At most `limit` requests per `window_s` per client (GCRA: a burst of `limit`, then one every window/limit),
    in constant time and memory per client, for at most `max_clients` clients: past that the longest unseen is
    forgotten first (an idle client's record is worthless anyway once its window has passed)."""

    def __init__(self, limit: int, window_s: float, max_clients: int = 100_000):
        if limit < 1 or window_s <= 0 or max_clients < 1:
            raise ValueError(f"rate limit must be at least 1 request per a positive window, got {limit}/{window_s}s")
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self.interval = window_s / limit
        self._due: collections.OrderedDict[str, float] = collections.OrderedDict()  # client -> theoretical arrival
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._due)

    def admit(self, client: str, record: bool = True) -> float | None:
        """None when the request may go ahead (counted unless `record` is false), else the seconds until it could
        (for Retry-After)."""
        now = time.monotonic()
        with self._lock:
            due = max(self._due.get(client, now), now)
            wait = due + self.interval - self.window_s - now
            if wait > 1e-9:
                return wait
            if record:
                self._remember(client, due + self.interval)
            return None

    def record(self, client: str) -> None:
        """Count a request without asking (a failed API-key attempt)."""
        now = time.monotonic()
        with self._lock:
            self._remember(client, max(self._due.get(client, now), now) + self.interval)

    def _remember(self, client: str, due: float) -> None:
        self._due[client] = due
        self._due.move_to_end(client)
        if len(self._due) > self.max_clients:
            self._due.popitem(last=False)


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


def client_address(request: Request) -> str:
    """The peer's address as the server saw it (a forwarded one only from a proxy the operator named)."""
    return f"ip:{request.client.host if request.client else 'unknown'}"


def api_key_identity(request: Request, api_keys: tuple[str, ...]) -> tuple[str | None, str]:
    """(why the caller is refused with 401, or None; the caller's rate-limit identity: its key's hash)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "missing API key: send the header 'Authorization: Bearer <your key>'", ""
    token = token.strip()
    # Compare against every key in constant time, so timing says nothing about near misses.
    matches = [hmac.compare_digest(token.encode(), key.encode()) for key in api_keys]
    if not any(matches):
        return "invalid API key", ""
    return None, "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]


class QueueEstimate:
    """How long a queue of requests takes to clear, from recent inference times (for Retry-After)."""

    def __init__(self, workers: int, initial_s: float = 1.0):
        self.workers, self.average_s = max(1, workers), initial_s

    def observe(self, seconds: float) -> None:
        self.average_s = 0.8 * self.average_s + 0.2 * seconds

    def seconds_to_clear(self, queued: int) -> float:
        return self.average_s * queued / self.workers


def image_base_url(request: Request, public_url: str | None, trusted_hosts: tuple[str, ...]) -> str | None:
    """Where the returned image URLs point: the configured public URL, else this request's own base URL if its
    Host is trusted (a Host header is the client's to choose); None for an untrusted Host."""
    if public_url:
        return public_url.rstrip("/")
    hostname = urlsplit(f"//{request.headers.get('host', '')}").hostname
    if hostname is None or hostname not in trusted_hosts:
        return None
    return str(request.base_url).rstrip("/")
