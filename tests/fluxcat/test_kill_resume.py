"""20 kill -9s at random moments of a run, then one rerun (`fluxcat run`): every row made, no temporary file left."""

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from tests.conftest import ROOT

# The core run path as the flow composes it (lease, plan, one shard at a time, finish), without Prefect's
# start-up cost, so that 21 runs fit in a test; the flow's tasks call exactly these functions.
RUN = """
import sys
from fluxcat.lease import Lease
from fluxcat.pipeline import RunOptions, finish, open_run, plan, run_one_shard
from fluxcat.store import Store
options = RunOptions(catalog=sys.argv[1], output=sys.argv[2], backend="fixed", shard_size=8)
print("ready", flush=True)
with Lease(Store(options.output), owner="kill-test"), open_run(options) as run:
    shards = [shard.name for shard in plan(run).shards]
    for shard in shards:
        run_one_shard(run, shard)
    finish(options, shards, set())
print("finished", flush=True)
"""
KILLS = 20
# A writer stopped inside Store.write_bytes, between writing its temp file and renaming it: flat images are so
# small that random kills rarely land in that window, so one kill is made to land there every time.
KILLED_MID_WRITE = """
import sys, time
from fluxcat.store import Store
with open(Store(sys.argv[1]).temp_path(), "wb") as handle:
    handle.write(b"half an image")
    handle.flush()
    print("writing", flush=True)
    time.sleep(600)
"""


def start(catalog: Path, output: Path) -> subprocess.Popen:
    return python(RUN, catalog, output)


def python(code: str, *args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def kill_mid_write(output: Path) -> None:
    writer = python(KILLED_MID_WRITE, output)
    assert writer.stdout.readline().strip() == "writing", writer.stderr.read()
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()


def temp_files(output: Path) -> list[str]:
    return [str(p.relative_to(output)) for p in output.rglob("*")
            if p.is_file() and (".tmp" in p.name or "_work/tmp/" in str(p))]


def test_kill_9_at_random_moments_then_one_rerun(tmp_path):
    rows = 120
    catalog = tmp_path / "catalog.parquet"
    pq.write_table(pa.table({"id": [f"sku-{i}" for i in range(rows)], "prompt": [f"a product photo of item {i}" for i in range(rows)],
                             "image_size": ["square"] * rows}), catalog)
    output = tmp_path / "out"
    chance = random.Random(int(os.environ.get("FLUXCAT_KILL_SEED", time.time_ns())))
    kills, temps_seen = 0, 0
    for _ in range(KILLS * 3):
        if kills == KILLS:
            break
        process = start(catalog, output)
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        time.sleep(chance.uniform(0.0, 0.8))  # a random moment of plan, generation or finish
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
            temps_seen += bool(temp_files(output))
        process.wait()
    assert kills == KILLS
    kill_mid_write(output)
    assert temp_files(output)
    # the rerun is `fluxcat run` itself, with the settings the killed runs planned with (so the same shards)
    rerun = subprocess.run([sys.executable, "-m", "fluxcat_cli.main", "run", str(catalog), "--output", str(output),
                            "--backend", "fixed", "--dedupe", "exact", "--shard-size", "8"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert rerun.returncode == 0, rerun.stderr
    assert temp_files(output) == []
    manifest = pq.read_table(output / "manifest.parquet").to_pylist()
    assert sorted(r["id"] for r in manifest) == sorted(f"sku-{i}" for i in range(rows))
    assert {r["status"] for r in manifest} <= {"generated", "existing"}
    for row in manifest:  # every stored image is whole
        assert Image.open(io.BytesIO(Path(row["image_uri"]).read_bytes())).size == (512, 512)
    print(f"{kills} kills, {temps_seen} of them left a temp file behind before the rerun")
