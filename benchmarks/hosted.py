"""Hosted throughput: the flux-api provider against `fluxcat serve` with a fixed latency, images/s vs the ideal C/s.

For each concurrency cap C a fresh `fluxcat serve --backend fixed --inject-latency L` runs on 127.0.0.1 (instant
images, every request held L seconds, no cap of its own; it counts requests in flight). The real provider code
path then makes N = images_per_slot * C images two ways:
  - one-call: one `FluxApiBackend.generate(requests)` call (what one shard does);
  - shards:   the pipeline (plan, then `run_one_shard` for 4 shards in 4 threads, as the flow's task runner
              does), so requests of different shards share the provider's process-wide cap.
Ideal throughput is C/L images/s; the server's max in flight must never exceed C.

    .venv/bin/python benchmarks/hosted.py --caps 1 2 3 4 8 --images-per-slot 8 --latency 1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "bench-" + os.urandom(8).hex()


@contextlib.contextmanager
def served(latency: float, workdir: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FLUXCAT_SERVE_API_KEY": KEY}
    command = [sys.executable, "-m", "fluxcat_cli.main", "serve", "--backend", "fixed", "--port", str(port),
               "--output", str(workdir / "served"), "--inject-latency", str(latency), "--rate-limit", "1000000"]
    log = open(workdir / f"serve-{port}.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("fluxcat serve did not start")
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def server_stats(base_url: str) -> dict:
    return httpx.get(f"{base_url}/api/v1/stats", headers={"Authorization": f"Bearer {KEY}"}).json()


def one_call(base_url: str, cap: int, images: int) -> tuple[float, int]:
    from fluxcat.backends.base import ImageRequest
    from fluxcat.backends.flux_api import FluxApiBackend

    backend = FluxApiBackend(base_url=base_url, concurrency=cap)
    requests = [ImageRequest(key=f"{i:032x}", prompt=f"benchmark prompt {i}", model="dev", width=512, height=512,
                             steps=2, guidance=3.5, seed=i) for i in range(images)]
    start = time.perf_counter()
    results = list(backend.generate(requests))
    seconds = time.perf_counter() - start
    backend.close()
    return seconds, sum(r.ok for r in results)


def shards(base_url: str, cap: int, images: int, workdir: Path) -> tuple[float, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fluxcat.pipeline import RunOptions, open_run, plan, run_one_shard

    catalog = workdir / f"catalog-{cap}.parquet"
    rows = [{"prompt": f"shard benchmark prompt {i}", "model": "dev", "image_size": "square", "num_inference_steps": 2}
            for i in range(images)]
    pq.write_table(pa.Table.from_pylist(rows), catalog)
    options = RunOptions(catalog=str(catalog), output=str(workdir / f"out-{cap}"), backend="flux-api",
                         backend_options={"base_url": base_url, "concurrency": cap}, dedupe="off",
                         shard_size=max(1, images // 4))
    with open_run(options) as run:  # one run: its shards share the backend and its cap
        names = [shard.name for shard in plan(run).shards]
        start = time.perf_counter()
        with ThreadPoolExecutor(len(names)) as pool:
            outcomes = list(pool.map(lambda name: run_one_shard(run, name), names))
        seconds = time.perf_counter() - start
    return seconds, sum(o.statuses.get("generated", 0) for o in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caps", type=int, nargs="+", default=[1, 2, 3, 4, 8])
    parser.add_argument("--images-per-slot", type=int, default=8, help="images per unit of cap (N = this * C)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the server holds every request")
    args = parser.parse_args()
    os.environ["FLUX_API_KEY"] = KEY
    print("| mode | cap C | images | seconds | images/s | ideal C/L | efficiency | server max in flight | ok |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for cap in args.caps:
            images = args.images_per_slot * cap
            for mode in ("one-call", "shards"):
                with served(args.latency, workdir) as base_url:
                    if mode == "one-call":
                        seconds, ok = one_call(base_url, cap, images)
                    else:
                        seconds, ok = shards(base_url, cap, images, workdir)
                    peak = server_stats(base_url)["max_in_flight"]
                rate, ideal = images / seconds, cap / args.latency
                verdict = "yes" if ok == images and peak <= cap else "NO"
                print(f"| {mode} | {cap} | {images} | {seconds:.2f} | {rate:.2f} | {ideal:.2f} | {rate / ideal:.1%} "
                      f"| {peak} | {verdict} |", flush=True)
                if peak > cap:
                    raise SystemExit(f"cap exceeded: {peak} requests in flight with cap {cap}")


if __name__ == "__main__":
    main()
