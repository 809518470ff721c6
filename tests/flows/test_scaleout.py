"""The flow on a local Dask cluster (2 worker processes) and on a local Ray cluster gives the thread runner's manifest."""

from __future__ import annotations

import os
import time

import pyarrow.parquet as pq
import pytest
from prefect import flow, task

from flows.runners import shard_runner
from fluxcat import placement

ROWS = [{"id": f"r{n}", "prompt": f"{'broken' if n == 5 else 'studio'} photo of product {n % 7}", "width": 64,
         "height": 64} for n in range(14)]  # 7 distinct prompts twice: duplicates; one prompt fails
RUN = {"backend": {"backend": "fixed", "backend_options": {"fail_prompts_containing": "broken"}},
       "images": {"shard_size": 3}}


def outcome(output) -> list[tuple]:
    table = pq.read_table(f"{output}/manifest.parquet").select(["id", "image_index", "key", "status"])
    return sorted(tuple(r.values()) for r in table.to_pylist())


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    from tests.conftest import write_catalog

    return write_catalog(tmp_path_factory.mktemp("scaleout") / "catalog.parquet", ROWS)


@pytest.fixture(scope="module")
def threads(catalog, tmp_path_factory, prefect_harness):
    from flows.catalog import generate_catalog

    output = tmp_path_factory.mktemp("threads")
    generate_catalog(catalog=catalog, output=str(output), **RUN)
    result = outcome(output)
    assert {s for *_, s in result} == {"generated", "duplicate", "failed"}
    return result


def test_dask_local_cluster_of_two_processes_matches_threads(catalog, threads, tmp_path):
    from flows.catalog import generate_catalog

    from fluxcat import events

    seen: list[dict] = []
    unsubscribe = events.subscribe(seen.append)  # what the CLI's progress bar listens to
    try:
        result = generate_catalog(catalog=catalog, output=str(tmp_path), execution={"task_runner": "dask", "workers": 2},
                                  **RUN)
    finally:
        unsubscribe()
    assert outcome(tmp_path) == threads
    assert shard_runs_recorded(str(tmp_path)) == len(ROWS) // 3 + 1  # the workers reported to the flow's own API
    planned = sum(e["planned_rows"] for e in seen if "planned_rows" in e)
    assert planned == len(ROWS) and sum(e.get("rows_done", 0) + ("status" in e) for e in seen) == planned
    assert result["statuses"]["generated"] == sum(1 for *_, s in threads if s == "generated")


def test_ray_local_cluster_matches_threads(catalog, threads, tmp_path):
    pytest.importorskip("prefect_ray")
    from flows.catalog import generate_catalog

    generate_catalog(catalog=catalog, output=str(tmp_path), execution={"task_runner": "ray", "workers": 2}, **RUN)
    assert outcome(tmp_path) == threads
    assert shard_runs_recorded(str(tmp_path)) == len(ROWS) // 3 + 1


def shard_runs_recorded(output: str) -> int:
    """Shard task runs the flow's API holds for the run that wrote `output`: a worker process with an API of its own
    (a temporary server per worker) would leave none there."""
    from tests.conftest import prefect_post

    runs = [r for r in prefect_post("/flow_runs/filter", {"flow_runs": {"name": {"like_": "%"}}})
            if r["parameters"].get("output") == output]
    assert len(runs) == 1
    tasks = prefect_post("/task_runs/filter", {"flow_runs": {"id": {"any_": [runs[0]["id"]]}},
                                               "task_runs": {"name": {"like_": "% · from row %"}}})
    return sum(1 for t in tasks if t["state"]["type"] == "COMPLETED")


def test_engine_settings_fail_before_any_work(catalog, tmp_path, prefect_harness):
    from flows.catalog import generate_catalog

    with pytest.raises(Exception, match="cluster_address needs task_runner"):
        generate_catalog(catalog=catalog, output=str(tmp_path), execution={"cluster_address": "tcp://127.0.0.1:1"}, **RUN)
    assert not (tmp_path / "_work").exists()


@task
def probe_shard(options, shard, label):
    """Stands in for a GPU shard: where it ran, what device it saw, when."""
    from distributed import get_worker

    started = time.time()
    time.sleep(0.5)
    return {"worker": get_worker().name, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": started,
            "end": time.time()}


@flow
def probe_gpu_shards(shards: int) -> list[dict]:
    with shard_runner("dask", "tiny") as submit:
        return [future.result() for future in submit(probe_shard, None, list(range(shards)), [f"probe {n}" for n in range(shards)])]


def test_dask_gpu_shards_run_one_per_gpu_worker(monkeypatch, prefect_harness):
    """Two pretend GPUs: workers declare GPU=1 but get two threads each, so only the resource annotation keeps
    a worker to one shard at a time; each worker sees only its own device."""
    monkeypatch.setattr(placement, "gpu_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,4")
    gpu_cluster = placement.local_dask_cluster

    def two_threads(backend, workers=None, gpus=None):
        return {**gpu_cluster(backend, workers, gpus), "threads_per_worker": 2}

    monkeypatch.setattr(placement, "local_dask_cluster", two_threads)
    runs = probe_gpu_shards(6)
    assert {(r["worker"], r["cuda"]) for r in runs} == {(0, "3"), (1, "4")}
    for worker in (0, 1):
        spans = sorted((r["start"], r["end"]) for r in runs if r["worker"] == worker)
        assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:])), spans


@task
def probe_ray_shard(options: str, shard, label):
    """Wait (up to 120 s) for another shard to be running at the same time, unless two already met; note the most
    shards seen running at once (`options`: the meeting folder). Load can delay a shard's start, not the outcome."""
    from pathlib import Path

    meeting = options
    here, met = Path(meeting) / f"running-{shard}", Path(meeting) / "met"
    here.touch()
    most, deadline = 1, time.monotonic() + 120
    try:
        while not met.exists() and time.monotonic() < deadline:
            most = max(most, len(list(Path(meeting).glob("running-*"))))
            if most >= 2:
                met.touch()
            time.sleep(0.05)
        return {"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "most_at_once": most}
    finally:
        here.unlink()


@flow
def probe_ray_gpu_shards(shards: int, meeting: str) -> list[dict]:
    with shard_runner("ray", "tiny", workers=4) as submit:
        return [future.result() for future in submit(probe_ray_shard, meeting, list(range(shards)), [f"probe {n}" for n in range(shards)])]


def test_ray_gpu_shards_take_one_gpu_each(monkeypatch, prefect_harness, tmp_path):
    """A local Ray instance declaring two (pretend) GPUs and four CPUs: num_gpus=1 lets two shards run at once,
    never more, each given its own device by Ray."""
    pytest.importorskip("prefect_ray")
    monkeypatch.setattr(placement, "gpu_count", lambda: 2)
    runs = probe_ray_gpu_shards(4, str(tmp_path))
    assert {r["cuda"] for r in runs} == {"0", "1"}
    assert (tmp_path / "met").exists()  # two shards ran at once
    assert max(r["most_at_once"] for r in runs) == 2  # and never more, though four CPUs were free


def test_local_gpu_workers_are_pinned_one_device_each(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    devices = placement.visible_gpus(2)
    assert [placement.gpu_for_worker(name, devices) for name in (0, 1)] == ["2", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert placement.visible_gpus(3) == ["0", "1", "2"]


def test_gpu_shards_hold_one_gpu_and_hosted_shards_go_wide():
    gpu = placement.local_dask_cluster("diffusers", gpus=2)
    assert gpu == {"n_workers": 2, "threads_per_worker": 1, "resources": {"GPU": 1}, "processes": True}
    assert placement.local_dask_cluster("fal", workers=2)["threads_per_worker"] == placement.HOSTED_SHARDS_PER_CPU
    assert "resources" not in placement.local_dask_cluster("tiny", workers=2, gpus=0)
    assert placement.dask_shard_resources("diffusers", {"GPU"}) == {"GPU": 1}
    assert placement.dask_shard_resources("diffusers", set()) == {}  # no GPU declared: never a task that cannot run
    assert placement.dask_shard_resources("fal", {"GPU"}) == {}
    assert placement.ray_shard_options("diffusers", 4) == {"num_gpus": 1}
    assert placement.ray_shard_options("diffusers", 0) == {"num_cpus": 1}
    assert placement.ray_shard_options("replicate", 4) == {"num_cpus": 1 / placement.HOSTED_SHARDS_PER_CPU}
