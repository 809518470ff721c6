"""No double payment after a crash: a hosted run killed with kill -9 while its jobs are in flight, then rerun,
re-attaches to the jobs it had submitted (their ids are in the output's ledger) instead of paying again."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fluxcat.ledger import OPEN_DIR
from tests.conftest import write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, run_pipeline, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, ReplicateServer

ROOT = Path(__file__).resolve().parents[3]
RUN = ("import json, sys; from tests.fluxcat.backends.hosted_helpers import run_pipeline; "
       "run_pipeline(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), shard_size=2, threads=3)")
ROWS = [{"id": f"r{i}", "prompt": f"a ceramic jug, glaze number {i}", "image_size": "square", "model": "schnell"}
        for i in range(6)]


def journalled(output: Path, provider: str) -> int:
    """Open ledger records of this provider's jobs."""
    return sum(json.loads(path.read_text())["provider"] == provider for path in (output / OPEN_DIR).glob("*.json"))


@pytest.mark.parametrize("provider, server_class, env", [("fal", FalServer, "FAL_KEY"),
                                                         ("replicate", ReplicateServer, "REPLICATE_API_TOKEN")])
def test_a_run_killed_mid_flight_and_rerun_pays_for_no_job_twice(provider, server_class, env, tmp_path, monkeypatch):
    key = secret_key()
    monkeypatch.setenv(env, key)
    catalog = write_catalog(tmp_path / "c.parquet", ROWS)
    output = tmp_path / "out"
    with server_class(key, job_seconds=4.0) as server:
        options = {**FAST, "base_url": server.url, "concurrency": 3, "max_wait": 30}
        child = subprocess.Popen([sys.executable, "-c", RUN, catalog, str(output), provider, json.dumps(options)],
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 60
        while not (sum(server.creates.values()) >= 3 and journalled(output, provider) == sum(server.creates.values())):
            assert time.monotonic() < deadline and child.poll() is None, "the run never had jobs in flight"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        in_flight = sum(server.creates.values())
        assert in_flight >= 3 and not list(output.glob("images/**/*.png"))  # killed before any image was stored
        _, summary, manifest = run_pipeline(catalog, str(output), provider, options, shard_size=2, threads=3)
    assert [row["status"] for row in manifest] == ["generated"] * 6  # zero images lost
    assert sorted(server.creates) == sorted(row["prompt"] for row in ROWS)
    assert max(server.creates.values()) == 1                         # zero jobs submitted twice
    assert journalled(output, provider) == 0                         # every record was closed
