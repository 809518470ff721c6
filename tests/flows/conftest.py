"""One real `prefect server` for every deployment, schedule and browser test of the session."""

from __future__ import annotations

import pytest

from tests.flows.browser import browser, page  # noqa: F401  (fixtures for the browser tests)
from tests.flows.prefect_server import prefect_cli, start, start_server, stop, PREFECT


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    process, server = start_server(tmp_path_factory.mktemp("prefect-home"))
    try:
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="session")
def deployed(server):
    """The work pool, `prefect deploy --all` from prefect.yaml, and a process worker polling the pool."""
    created = prefect_cli(server, "work-pool", "create", "fluxcat", "--type", "process")
    assert created.returncode == 0, created.stdout + created.stderr
    deploy = prefect_cli(server, "deploy", "--all")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    worker = start(PREFECT + ["worker", "start", "--pool", "fluxcat", "--type", "process"], server["env"],
                   server["home"] / "worker.log")
    try:
        yield {**server, "worker": worker}
    finally:
        stop(worker)
