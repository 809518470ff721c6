"""One event loop thread per process runs every hosted request; per-endpoint caps and their gauges."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass
from typing import Awaitable, Iterator

from fluxcat.backends.base import ImageRequest, ImageResult
from fluxcat.backends.hosted.secrets import scrub


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


