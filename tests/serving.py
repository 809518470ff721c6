"""Helpers that run real /api/v1/flux/dev servers on 127.0.0.1: `fluxcat serve` as a process, or its app in a thread."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServeProcess:
    base_url: str
    keys: tuple[str, ...]
    output: Path
    log_path: Path
    process: subprocess.Popen

    def stats(self) -> dict:
        return httpx.get(f"{self.base_url}/api/v1/stats", headers={"Authorization": f"Bearer {self.keys[0]}"}).json()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serve_process(args: list[str], keys: tuple[str, ...], workdir: Path, startup_timeout: float = 180.0):
    """`fluxcat serve ARGS` on a free port, its output in a log file; stopped (and waited for) on exit."""
    port = free_port()
    output, log_path = workdir / "served-images", workdir / "serve.log"
    env = {**os.environ, "FLUXCAT_SERVE_API_KEY": ",".join(keys)}
    command = [sys.executable, "-m", "fluxcat_cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--output", str(output), *args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    served = ServeProcess(f"http://127.0.0.1:{port}", keys, output, log_path, process)
    try:
        _wait_healthy(served, startup_timeout)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(served: ServeProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"fluxcat serve exited with {served.process.returncode}:\n{served.log_text()}")
        try:
            if httpx.get(f"{served.base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"fluxcat serve did not answer /health within {timeout:g}s:\n{served.log_text()}")


@contextlib.contextmanager
def serve_app_in_thread(app, connections=None):
    """Run an ASGI app with uvicorn on a free 127.0.0.1 port in a thread, configured as `fluxcat serve` runs it
    (fluxcat.service.server.ConnectionSettings); yields its base URL."""
    import uvicorn

    from fluxcat.service.server import ConnectionSettings, uvicorn_config

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, connections or ConnectionSettings(), "warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def half_sent_requests(port: int, count: int, source: str | None = None) -> list[socket.socket]:
    """`count` connections to 127.0.0.1:port, each sending the start of a request's headers and no more (the slowloris
    pattern), non-blocking; `source` names the first source address of a distinct one per connection (127.a.b.c)."""
    sockets = []
    for i in range(count):
        address = None
        if source is not None:
            a, b = source.rsplit(".", 2)[0], i
            address = (f"{a}.{b // 250}.{b % 250 + 1}", 0)
        sock = socket.create_connection(("127.0.0.1", port), source_address=address)
        sock.sendall(b"POST /api/v1/flux/dev HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appli")
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def count_closed(sockets: list[socket.socket], within_s: float) -> int:
    """How many of the sockets the server closed (EOF or reset) within the time."""
    import selectors

    selector, closed = selectors.DefaultSelector(), 0
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + within_s
    while closed < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            try:
                data = key.fileobj.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                selector.unregister(key.fileobj)
                closed += 1
    selector.close()
    return closed
