"""`fluxcat serve` under abuse: server memory under a 400 MB body, 500 concurrent requests, 500 wrong keys, a
hostile Host header (suite issue14); the forwarded-header dodge, half-sent requests held open, and the cost of a failed
key as 20,000 distinct clients arrive (suite issue21); this checkout against a baseline git ref (default `main`)
started the same way, same run. Distinct clients are distinct loopback source addresses (127.1.0.0/16)."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.serving import count_closed, free_port, half_sent_requests  # noqa: E402

ENDPOINT = "/api/v1/flux/dev"
BODY = {"prompt": "a red mug on a table", "image_size": "square", "num_inference_steps": 1}


def export_ref(ref: str, into: Path) -> Path:
    """The code of a git ref, exported read-only into a temp folder (the baseline server runs from it)."""
    archive = into / "ref.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref, "fluxcat", "fluxcat_cli", "flows",
                    "tasks"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "code", filter="data")
    return into / "code"


class Server:
    """`fluxcat serve --backend fixed` from a code folder, as a process whose memory /proc reports."""

    def __init__(self, code: Path, workdir: Path, extra: list[str]):
        self.port, self.key = free_port(), f"fc-{secrets.token_hex(16)}"
        env = {**os.environ, "PYTHONPATH": str(code), "FLUXCAT_SERVE_API_KEY": self.key,
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        command = [sys.executable, "-m", "fluxcat_cli.main", "serve", "--backend", "fixed", "--port", str(self.port),
                   "--output", str(workdir / "images"), "--rate-limit", "100000", "--inject-latency", "1", *extra]
        self.log = open(workdir / "serve.log", "wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        self.base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def memory_mb(self, field: str) -> float:
        """VmRSS (now) or VmHWM (peak since start) of the server process, in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise KeyError(field)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)
        self.log.close()


def big_body(server: Server, size: int, chunked: bool) -> str:
    """Send an authenticated body of `size` bytes (a JSON prompt of that length) as fast as the server takes it."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    head = (f"POST {ENDPOINT} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {server.key}\r\n"
            "Content-Type: application/json\r\n")
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    prefix, suffix, chunk = b'{"prompt": "', b'"}', b"x" * (1 << 20)
    pieces = [prefix] + [chunk] * ((size - len(prefix) - len(suffix)) // len(chunk))
    pieces.append(b"x" * (size - len(prefix) - len(suffix) - (len(pieces) - 1) * len(chunk)) + suffix)
    sent = 0
    try:
        sock.sendall(head.encode())
        for piece in pieces:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(120)
    try:
        reply = sock.recv(4096)
    except (ConnectionResetError, socket.timeout):
        reply = b""
    sock.close()
    status = reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "connection closed"
    return f"{status} after {sent / 1e6:.0f} MB sent"


async def concurrent(server: Server, count: int) -> dict:
    """`count` requests at once: statuses, p50 latency of the accepted ones, and the wall time."""
    async def one(client: httpx.AsyncClient) -> tuple[int, float]:
        start = time.perf_counter()
        response = await client.post(f"{server.base_url}{ENDPOINT}", json=BODY,
                                     headers={"Authorization": f"Bearer {server.key}"})
        return response.status_code, time.perf_counter() - start

    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(limits=limits, timeout=600) as client:
        start = time.perf_counter()
        results = await asyncio.gather(*(one(client) for _ in range(count)))
        wall = time.perf_counter() - start
    ok = [seconds for status, seconds in results if status == 200]
    statuses = {status: sum(1 for s, _ in results if s == status) for status in sorted({s for s, _ in results})}
    return {"statuses": statuses, "p50_ok_s": statistics.median(ok) if ok else None, "wall_s": wall}


def wrong_keys(server: Server, count: int) -> dict:
    start = time.perf_counter()
    statuses: dict[int, int] = {}
    with httpx.Client(timeout=30) as client:
        for i in range(count):
            status = client.post(f"{server.base_url}{ENDPOINT}", json=BODY,
                                 headers={"Authorization": f"Bearer wrong-{i}"}).status_code
            statuses[status] = statuses.get(status, 0) + 1
    return {"statuses": statuses, "seconds": time.perf_counter() - start}


def hostile_host(server: Server) -> str:
    response = httpx.post(f"{server.base_url}{ENDPOINT}", json=BODY, timeout=60,
                          headers={"Authorization": f"Bearer {server.key}", "Host": "evil.example:666"})
    if response.status_code == 200:
        return f"200, image URL {response.json()['images'][0]['url'][:40]}..."
    return f"{response.status_code}: {response.json()['detail'][:60]}..."


def forwarded_dodge(server: Server, count: int = 40) -> dict:
    """Wrong keys, each claiming another X-Forwarded-For: 429 once the limit is reached means the dodge is refused."""
    statuses: dict[int, int] = {}
    transport = httpx.HTTPTransport(local_address="127.0.0.1")  # uvicorn's default trusted proxy address
    with httpx.Client(transport=transport, timeout=30) as client:
        for i in range(count):
            status = client.post(f"{server.base_url}{ENDPOINT}", json=BODY, headers={
                "Authorization": f"Bearer wrong-{i}", "X-Forwarded-For": f"198.51.100.{i}"}).status_code
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def slow_connections(server: Server, count: int, wait_s: float) -> dict:
    """`count` requests whose headers never finish, each from its own address: how many the server still holds
    open `wait_s` after they came, and whether a real request sent meanwhile is answered."""
    sockets = half_sent_requests(server.port, count, source="127.2.0.1")
    start = time.perf_counter()
    with httpx.Client(timeout=60) as client:  # a real request while they hang
        answered = client.post(f"{server.base_url}{ENDPOINT}", json=BODY,
                               headers={"Authorization": f"Bearer {server.key}"}).status_code
    closed = count_closed(sockets, wait_s - (time.perf_counter() - start))
    for sock in sockets:
        sock.close()
    return {"held_open_after_s": wait_s, "still_open": count - closed, "of": count, "real_request": answered}


def distinct_clients(server: Server, count: int, bucket: int = 1000) -> dict:
    """One wrong key from each of `count` distinct addresses, each on its own connection: median ms per request in
    each bucket of `bucket` clients (flat is constant cost per request)."""
    import http.client

    medians, seconds = {}, []
    for i in range(count):
        source = f"127.1.{i // 250}.{i % 250 + 1}"
        start = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
        connection.request("POST", ENDPOINT, body=b'{"prompt": "x"}', headers={
            "Authorization": "Bearer wrong", "Content-Type": "application/json"})
        connection.getresponse().read()
        connection.close()
        seconds.append(time.perf_counter() - start)
        if len(seconds) == bucket:
            medians[f"{i + 2 - bucket}-{i + 1}"] = round(statistics.median(seconds) * 1000, 2)
            seconds = []
    return medians


def measure(label: str, code: Path, workdir: Path, args) -> dict:
    if args.suite == "issue21":
        return measure_issue21(label, code, workdir, args)
    server = Server(code, workdir, [])
    try:
        httpx.post(f"{server.base_url}{ENDPOINT}", json=BODY, headers={"Authorization": f"Bearer {server.key}"}, timeout=60)
        result = {"label": label, "idle_rss_mb": server.memory_mb("VmRSS")}
        for chunked in (False, True):
            name = "chunked" if chunked else "content-length"
            result[f"body_{name}"] = big_body(server, args.body_mb * 1_000_000, chunked)
            time.sleep(1)
            result[f"peak_mb_{name}"] = server.memory_mb("VmHWM")
            result[f"rss_after_mb_{name}"] = server.memory_mb("VmRSS")
        result["host"] = hostile_host(server)
        result["concurrent"] = asyncio.run(concurrent(server, args.concurrent))
        result["wrong_keys"] = wrong_keys(server, args.wrong_keys)  # last: it may lock this address out
        return result
    finally:
        server.stop()


def measure_issue21(label: str, code: Path, workdir: Path, args) -> dict:
    server = Server(code, workdir, [])
    try:
        result = {"label": label, "slow_connections": slow_connections(server, args.slow, args.slow_wait),
                  "failed_key_ms_by_clients": distinct_clients(server, args.clients)}
        result["forwarded_dodge"] = forwarded_dodge(server)  # last: it may lock 127.0.0.1 out
        result["rss_mb"] = server.memory_mb("VmRSS")
        return result
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline-ref", default="main", help="git ref of the code to compare with (default main)")
    parser.add_argument("--body-mb", type=int, default=400)
    parser.add_argument("--concurrent", type=int, default=500)
    parser.add_argument("--wrong-keys", type=int, default=500)
    parser.add_argument("--suite", choices=["issue14", "issue21"], default="issue21")
    parser.add_argument("--clients", type=int, default=20_000, help="distinct client addresses (issue21)")
    parser.add_argument("--slow", type=int, default=1000, help="half-sent requests held open (issue21)")
    parser.add_argument("--slow-wait", type=float, default=15.0, help="seconds before counting them (issue21)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        (temp / "base").mkdir()
        (temp / "this").mkdir()
        baseline = export_ref(args.baseline_ref, temp / "base")
        for result in (measure(f"baseline ({args.baseline_ref})", baseline, temp / "base", args),
                       measure("this checkout", ROOT, temp / "this", args)):
            print(result, flush=True)


if __name__ == "__main__":
    main()
