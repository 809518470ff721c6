"""`fluxcat serve`: the /api/v1/flux/dev HTTP protocol over any local backend, images served from a Store
(the app, its guards and the protocol live in fluxcat/service/)."""

from __future__ import annotations

import logging
from dataclasses import replace

from fluxcat.service.app import API_KEY_ENV, LOOPBACK_HOSTS, ServeSettings, api_keys_from_env, create_app
from fluxcat.service.protocol import ENDPOINT, parse_generation
from fluxcat.service.server import ConnectionSettings, run
from fluxcat.store import Store

__all__ = ["API_KEY_ENV", "LOOPBACK_HOSTS", "ConnectionSettings", "ServeSettings", "api_keys_from_env", "create_app",
           "parse_generation", "serve"]

log = logging.getLogger("fluxcat.serve")


def serve(backend_name: str, backend_options: dict, output: str, host: str, port: int, settings: ServeSettings,
          connections: ConnectionSettings = ConnectionSettings(), log_level: str = "info") -> None:
    """Run the server until interrupted (uvicorn, one process; inference on worker threads)."""
    from fluxcat.backends import get_backend, options_for
    from fluxcat.backends.options import check_options

    if not settings.auth:
        log.warning("authentication is OFF (--no-auth): anyone who can reach %s:%d can generate images", host, port)
    if settings.public_url is None and host not in LOOPBACK_HOSTS + ("0.0.0.0", "::"):
        settings = replace(settings, trusted_hosts=settings.trusted_hosts + (host,))
    if settings.public_url is None and host in ("0.0.0.0", "::"):
        log.warning("listening on all addresses without --public-url: requests are answered only when their Host is "
                    "one of %s (add --trusted-host NAME, or set --public-url)", ", ".join(settings.trusted_hosts))
    if connections.forwarded_allow_ips:
        log.info("believing X-Forwarded-For from %s only", ", ".join(connections.forwarded_allow_ips))
    check_options(backend_name, options_for(backend_name), backend_options)  # before anything listens
    backend = get_backend(backend_name, backend_options)
    backend.check_ready()  # a hosted backend's key: the server would otherwise fail each request
    app = create_app(backend, Store(output), settings)
    log.info("fluxcat serve: backend %s, images in %s, POST http://%s:%d%s", backend.name, output, host, port, ENDPOINT)
    run(app, host, port, connections, log_level)
