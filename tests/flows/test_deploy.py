"""prefect.yaml against a real `prefect server`: deploy --all, a process worker, flow runs created as the UI does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT, write_catalog

PREFECT = [sys.executable, "-m", "prefect"]
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A child in its own process group, so teardown ends it and everything it started."""
    handle = open(log, "wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One Prefect server for the module, with its own PREFECT_HOME (database, profiles) so nothing leaks."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
           "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2"}
    process = start(PREFECT + ["server", "start", "--host", "127.0.0.1", "--port", str(port)], env, home / "server.log")
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("prefect server did not start:\n" + (home / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield {"api": api, "env": env, "home": home}
    finally:
        stop(process)


@pytest.fixture(scope="module")
def deployed(server):
    """The work pool, `prefect deploy --all` from prefect.yaml, and a process worker polling the pool."""
    run = lambda *args: subprocess.run(PREFECT + ["--no-prompt", *args], cwd=ROOT, env=server["env"],
                                       capture_output=True, text=True, timeout=300)
    created = run("work-pool", "create", "fluxcat", "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    deploy = run("deploy", "--all")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    worker = start(PREFECT + ["worker", "start", "--pool", "fluxcat", "--type", "process"], server["env"],
                   server["home"] / "worker.log")
    try:
        yield {**server, "worker": worker}
    finally:
        stop(worker)


def call(method: str, url: str, **kwargs) -> httpx.Response:
    """One API request, retried on 5xx/429 as Prefect's own client does."""
    for attempt in range(4):
        response = httpx.request(method, url, **kwargs)
        if response.status_code < 500 and response.status_code != 429:
            return response
        time.sleep(1 + attempt)
    return response


def deployments(api: str) -> dict[str, dict]:
    found = call("post", f"{api}/deployments/filter", json={}, timeout=30).json()
    return {d["name"]: d for d in found}


def create_run(deployed: dict, name: str, parameters: dict) -> dict:
    """What the UI's Run button does: POST create_flow_run on the deployment."""
    deployment = deployments(deployed["api"])[name]
    response = call("post", f"{deployed['api']}/deployments/{deployment['id']}/create_flow_run",
                          json={"parameters": parameters, "state": {"type": "SCHEDULED"}}, timeout=30)
    assert response.status_code == 201, (response.status_code, response.text)
    return response.json()


def run_deployment(deployed: dict, name: str, parameters: dict, timeout: float = 240) -> dict:
    return wait_for(deployed, create_run(deployed, name, parameters), timeout)


def wait_for(deployed: dict, flow_run: dict, timeout: float = 240) -> dict:
    api = deployed["api"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = call("get", f"{api}/flow_runs/{flow_run['id']}", timeout=30).json()["state"]
        if state["type"] in FINAL:
            assert state["type"] == "COMPLETED", (state, (deployed["home"] / "worker.log").read_text()[-4000:])
            return call("get", f"{api}/flow_runs/{flow_run['id']}", timeout=30).json()
        assert deployed["worker"].poll() is None, (deployed["home"] / "worker.log").read_text()[-4000:]
        time.sleep(1)
    pytest.fail(f"flow run {flow_run['id']} did not finish:\n" + (deployed["home"] / "worker.log").read_text()[-4000:])


def manifest(output: Path) -> list[dict]:
    return pq.read_table(output / "manifest.parquet").to_pylist()


def test_deployments_come_from_prefect_yaml(deployed):
    found = deployments(deployed["api"])
    assert set(found) == {"nightly", "on-demand", "refresh"}
    nightly = found["nightly"]
    assert [s["schedule"]["cron"] for s in nightly["schedules"]] == ["0 2 * * *"]
    assert nightly["schedules"][0]["schedule"]["timezone"] == "UTC"
    assert nightly["parameters"]["retry_failed"] is True
    for deployment in found.values():
        assert deployment["work_pool_name"] == "fluxcat"
        assert deployment["global_concurrency_limit"]["limit"] == 1
        assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
        assert deployment["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
    # typed parameters: the UI renders a form from this schema, with defaults and descriptions
    properties = nightly["parameter_openapi_schema"]["properties"]
    assert properties["task_runner"]["enum"] == ["threads", "dask", "ray"]
    assert "description" in properties["retry_failed"] and properties["shard_size"]["default"] == 256


def test_ui_runs_generate_then_rerun_makes_nothing_then_retry_failed(deployed, tmp_path):
    rows = [{"id": f"p{n}", "prompt": f"{'mug' if n % 3 == 0 else 'lamp'} product photo {n}", "width": 64, "height": 64}
            for n in range(6)]
    catalog = write_catalog(tmp_path / "catalog.parquet", rows)
    output = tmp_path / "out"
    base = {"catalog": catalog, "output": str(output), "backend": "fixed", "shard_size": 2}

    # 1. the first run: rows with "mug" fail (the fixed backend is told to), the rest are made
    run_deployment(deployed, "on-demand", {**base, "backend_options": {"fail_prompts_containing": "mug"}})
    first = {r["id"]: r for r in manifest(output)}
    assert {r["status"] for r in first.values()} == {"generated", "failed"}
    failed = {i for i, r in first.items() if r["status"] == "failed"}
    assert failed == {"p0", "p3"}
    images = sorted((output / "images").rglob("*.png"))
    assert len(images) == 4 and (output / "index.html").exists()
    mtimes = {p: p.stat().st_mtime_ns for p in images}

    # 2. a plain rerun from the UI makes nothing: finished shards are reused, failures stay failures
    run_deployment(deployed, "on-demand", base)
    second = {r["id"]: r["status"] for r in manifest(output)}
    assert "generated" not in second.values()
    assert {i for i, s in second.items() if s == "failed"} == failed
    assert {p: p.stat().st_mtime_ns for p in sorted((output / "images").rglob("*.png"))} == mtimes

    # 3. retry_failed re-attempts only the failed rows
    run_deployment(deployed, "on-demand", {**base, "retry_failed": True})
    third = {r["id"]: r["status"] for r in manifest(output)}
    assert {i for i, s in third.items() if s == "generated"} == failed
    assert all(s == "existing" for i, s in third.items() if i not in failed)
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    assert len(list((output / "manifests").glob("manifest-*.parquet"))) == 3

    # 4. the refresh deployment on an unchanged catalog: everything unchanged, nothing made, counts as an artifact
    flow_run = run_deployment(deployed, "refresh", {k: v for k, v in base.items() if k != "shard_size"})
    artifacts = call("post", f"{deployed['api']}/artifacts/filter",
                           json={"artifacts": {"key": {"any_": ["fluxcat-refresh"]},
                                               "flow_run_id": {"any_": [flow_run["id"]]}}}, timeout=30).json()
    assert len(artifacts) == 1
    counts = {(r["what"], r["value"]): r["count"] for r in _table(artifacts[0])}
    assert counts[("catalog rows", "unchanged")] == 6 and counts[("images this refresh", "generated")] == 0
    assert not (output / "_work" / "lease.json").exists()  # every run released the output


def _table(artifact: dict) -> list[dict]:
    import json

    data = artifact["data"]
    return json.loads(data) if isinstance(data, str) else data


def test_colliding_runs_are_enqueued_not_run_together(deployed, tmp_path):
    """A second run of a deployment while one runs (a UI rerun during the nightly run) waits for a slot."""
    catalog = write_catalog(tmp_path / "catalog.parquet",
                            [{"id": f"c{n}", "prompt": f"chair photo {n}", "width": 64, "height": 64} for n in range(4)])
    parameters = {"catalog": catalog, "output": str(tmp_path / "out"), "backend": "fixed", "shard_size": 2}
    first, second = (create_run(deployed, "on-demand", parameters) for _ in range(2))
    runs = sorted((wait_for(deployed, r) for r in (first, second)), key=lambda r: r["start_time"])
    assert runs[0]["end_time"] <= runs[1]["start_time"]  # never writing the output at the same time
    states = [s["name"] for r in runs
              for s in call("get", f"{deployed['api']}/flow_run_states/", params={"flow_run_id": r["id"]}, timeout=30).json()]
    assert "AwaitingConcurrencySlot" in states
    statuses = {r["status"] for r in manifest(tmp_path / "out")}
    assert statuses == {"existing"}  # the later run found the earlier one's work done
