"""Fixtures for fluxcat-core tests: one real `fluxcat serve --backend tiny` process shared by the session."""

from __future__ import annotations

import secrets
import time

import pytest

from fluxcat.store import Store

from tests.serving import serve_process

# The reference's examples send the literal key "your_api_key"; the server accepts it beside a strong key,
# so those examples run unchanged apart from the host.
EXAMPLE_KEY = "your_api_key"


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory):
    """`fluxcat serve --backend tiny` on a free 127.0.0.1 port (keys: a random one, then the examples' one)."""
    keys = (f"fc-{secrets.token_hex(16)}", EXAMPLE_KEY)
    workdir = tmp_path_factory.mktemp("tiny-serve")
    # Many tests share it from one address: the failed-key limit is tested on its own app (test_serve.py).
    with serve_process(["--backend", "tiny", "--rate-limit", "1000", "--auth-failure-limit", "1000"], keys,
                       workdir) as served:
        yield served


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    """The same tests against a local folder and fsspec's in-memory filesystem."""
    if request.param == "local":
        return Store(str(tmp_path / "out"))
    return Store(f"memory://store-test-{time.time_ns()}")
