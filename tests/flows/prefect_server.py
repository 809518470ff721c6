"""A real `prefect server` (with its UI), prefect.yaml deployed, and a process worker: helpers and fixtures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

PREFECT = [sys.executable, "-m", "prefect"]
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict, log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    """A child in its own process group, so teardown ends it and everything it started."""
    handle = open(log, "wb")
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_server(home: Path) -> tuple[subprocess.Popen, dict]:
    """A server with its own PREFECT_HOME (database, profiles) so nothing leaks; the scheduler looks every 2 s."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "true",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_API_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
           "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2"}
    process = start(PREFECT + ["server", "start", "--host", "127.0.0.1", "--port", str(port)], env, home / "server.log")
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return process, {"api": api, "ui": f"http://127.0.0.1:{port}", "env": env, "home": home}
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail("prefect server did not start:\n" + (home / "server.log").read_text()[-3000:])
        time.sleep(0.5)


def prefect_cli(server: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(PREFECT + ["--no-prompt", *args], cwd=ROOT, env=server["env"], capture_output=True,
                          text=True, timeout=300)


def call(method: str, url: str, **kwargs) -> httpx.Response:
    """One API request, retried on 5xx/429 as Prefect's own client does, and on a timeout (a loaded machine)."""
    for attempt in range(4):
        try:
            response = httpx.request(method, url, timeout=30, **kwargs)
        except httpx.TimeoutException:
            if attempt == 3:
                raise
            continue
        if response.status_code < 500 and response.status_code != 429:
            return response
        time.sleep(1 + attempt)
    return response


def deployments(api: str) -> dict[str, dict]:
    return {d["name"]: d for d in call("post", f"{api}/deployments/filter", json={}).json()}


def create_run(deployed: dict, name: str, parameters: dict) -> dict:
    """What the UI's Run button does: POST create_flow_run on the deployment."""
    deployment = deployments(deployed["api"])[name]
    response = call("post", f"{deployed['api']}/deployments/{deployment['id']}/create_flow_run",
                    json={"parameters": parameters, "state": {"type": "SCHEDULED"}})
    assert response.status_code == 201, (response.status_code, response.text)
    return response.json()


def run_deployment(deployed: dict, name: str, parameters: dict, timeout: float = 240, ends: str = "COMPLETED") -> dict:
    return wait_for(deployed, create_run(deployed, name, parameters), timeout, ends)


def worker_log(deployed: dict) -> str:
    return (deployed["home"] / "worker.log").read_text()[-4000:]


def wait_for(deployed: dict, flow_run: dict, timeout: float = 240, ends: str = "COMPLETED") -> dict:
    """The flow run once it reaches a final state, which must be `ends`."""
    api = deployed["api"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = call("get", f"{api}/flow_runs/{flow_run['id']}").json()
        if run["state"]["type"] in FINAL:
            assert run["state"]["type"] == ends, (run["state"], worker_log(deployed))
            return run
        assert deployed["worker"].poll() is None, worker_log(deployed)
        time.sleep(1)
    pytest.fail(f"flow run {flow_run['id']} did not finish:\n" + worker_log(deployed))


def logs_of(api: str, flow_run_id: str) -> list[str]:
    """Every log line the run's page shows, oldest first."""
    found = call("post", f"{api}/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}},
                                                     "sort": "TIMESTAMP_ASC", "limit": 200})
    return [entry["message"] for entry in found.json()]


def artifacts_of(api: str, flow_run_id: str) -> list[dict]:
    return call("post", f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}).json()


def poll(found, timeout: float) -> list:
    """`found()`'s first non-empty answer, asked every second until `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"nothing after {timeout} s")
