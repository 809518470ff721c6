"""Running the app with uvicorn: forwarded headers only from named proxies, a header-read timeout, a cap on open
connections, and a stop within seconds of SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass

log = logging.getLogger("fluxcat.serve")

STOP_GRACE_S = 3  # in-flight requests get this long to finish once a stop is asked for


@dataclass(frozen=True)
class ConnectionSettings:
    """What uvicorn is told: whose X-Forwarded-For to believe, how long headers may take, how many sockets at once."""

    forwarded_allow_ips: tuple[str, ...] = ()  # proxies whose X-Forwarded-For/-Proto are believed; none by default
    header_timeout_s: float = 10.0  # a connection must send a request's headers within this (slowloris)
    max_connections: int = 1024  # open connections at once; more are closed as they arrive

    def __post_init__(self):
        if self.header_timeout_s <= 0 or self.max_connections < 1:
            raise ValueError(f"header_timeout_s must be positive and max_connections at least 1, got "
                             f"{self.header_timeout_s} and {self.max_connections}")


def guarded_protocol(settings: ConnectionSettings) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing a connection that sends no complete request headers within the timeout
    (also between requests on a kept-alive one) and refusing connections over the cap."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            if len(self.connections) > settings.max_connections:
                log.warning("refused a connection: %d open, the most taken is %d", len(self.connections) - 1,
                            settings.max_connections)
                transport.abort()
                return
            self._arm_header_timer()

        def handle_events(self):
            super().handle_events()
            if self.cycle is not getattr(self, "_cycle_timed", None):  # a request's headers arrived
                self._disarm_header_timer()

        def on_response_complete(self):
            self._arm_header_timer()  # before: a pipelined request started inside it disarms the timer
            super().on_response_complete()

        def connection_lost(self, exc):
            self._disarm_header_timer()
            super().connection_lost(exc)

        def _arm_header_timer(self):
            self._disarm_header_timer()
            self._cycle_timed = self.cycle
            self._header_timer = self.loop.call_later(settings.header_timeout_s, self._headers_too_slow)

        def _disarm_header_timer(self):
            timer, self._header_timer = getattr(self, "_header_timer", None), None
            if timer is not None:
                timer.cancel()

        def _headers_too_slow(self):
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol


def uvicorn_config(app, connections: ConnectionSettings, log_level: str = "info", **listen):
    """The uvicorn configuration every way of running the app uses (`fluxcat serve`, tests, benchmarks)."""
    import uvicorn

    return uvicorn.Config(app, http=guarded_protocol(connections), proxy_headers=bool(connections.forwarded_allow_ips),
                          forwarded_allow_ips=list(connections.forwarded_allow_ips) or None,
                          timeout_graceful_shutdown=STOP_GRACE_S, log_level=log_level, **listen)


def run(app, host: str, port: int, connections: ConnectionSettings, log_level: str = "info") -> None:
    """Serve until SIGINT or SIGTERM; requests still running STOP_GRACE_S later are abandoned, not waited for."""
    import uvicorn

    _allow_open_files(connections.max_connections + 256)
    server = uvicorn.Server(uvicorn_config(app, connections, log_level, host=host, port=port))
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled once it has stopped
        pass
    generating = app.state.stats.generating
    if generating:  # inference threads cannot be interrupted, and the interpreter would wait for them at exit
        log.warning("stopped with %d generation(s) unfinished: their images were not stored", generating)
        logging.shutdown()
        os._exit(0)


def _allow_open_files(wanted: int) -> None:
    """Raise the soft open-file limit towards `wanted`, so the connection cap, not the limit, is what binds."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
