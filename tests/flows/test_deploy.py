"""prefect.yaml against a real `prefect server`: deploy --all, a process worker, flow runs created as the UI does."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import ROOT, write_catalog
from tests.flows.prefect_server import (PREFECT, artifacts_of, call, create_run, deployments, poll, prefect_cli,
                                        run_deployment, start, stop, wait_for)

def manifest(output: Path) -> list[dict]:
    return pq.read_table(output / "manifest.parquet").to_pylist()


def test_deployments_come_from_prefect_yaml(deployed):
    found = deployments(deployed["api"])
    assert set(found) == {"nightly", "on-demand", "refresh"}
    nightly = found["nightly"]
    assert [s["schedule"]["cron"] for s in nightly["schedules"]] == ["0 2 * * *"]
    assert nightly["schedules"][0]["schedule"]["timezone"] == "UTC"
    assert nightly["parameters"]["scope"] == {"retry_failed": True}
    for deployment in found.values():
        assert deployment["work_pool_name"] == "fluxcat"
        assert deployment["global_concurrency_limit"]["limit"] == 1
        assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
        assert deployment["pull_steps"] == [] and deployment["entrypoint"].startswith("flows.")  # the installed package
    # typed, grouped parameters: the UI renders a form section per group, with defaults and descriptions
    schema = nightly["parameter_openapi_schema"]
    assert schema["required"] == ["catalog", "output"]
    groups = schema["definitions"]
    assert groups["Execution"]["properties"]["task_runner"]["enum"] == ["threads", "dask", "ray"]
    assert "description" in groups["RunScope"]["properties"]["retry_failed"]
    assert groups["Images"]["properties"]["shard_size"]["default"] == 256
    assert "storage_options" not in str(schema)  # secrets are not parameters; a Secret block name is
    assert groups["Storage"]["properties"]["storage_block"]["type"] == "string"
    # the same schema behind run and refresh: their groups and defaults cannot drift apart
    refresh = found["refresh"]["parameter_openapi_schema"]["definitions"]
    assert all(refresh[g] == groups[g] for g in ("Images", "Dedupe", "Backend", "Storage", "Execution"))


def test_ui_runs_generate_then_rerun_makes_nothing_then_retry_failed(deployed, tmp_path):
    rows = [{"id": f"p{n}", "prompt": f"{'mug' if n % 3 == 0 else 'lamp'} product photo {n}", "width": 64, "height": 64}
            for n in range(6)]
    catalog = write_catalog(tmp_path / "catalog.parquet", rows)
    output = tmp_path / "out"
    base = {"catalog": catalog, "output": str(output), "backend": {"backend": "fixed"}, "images": {"shard_size": 2}}

    # 1. the first run: rows with "mug" fail (the fixed backend is told to), the rest are made
    run_deployment(deployed, "on-demand",
                   {**base, "backend": {"backend": "fixed", "backend_options": {"fail_prompts_containing": "mug"}}})
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
    run_deployment(deployed, "on-demand", {**base, "scope": {"retry_failed": True}})
    third = {r["id"]: r["status"] for r in manifest(output)}
    assert {i for i, s in third.items() if s == "generated"} == failed
    assert all(s == "existing" for i, s in third.items() if i not in failed)
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    assert len(list((output / "manifests").glob("manifest-*.parquet"))) == 3

    # 4. the refresh deployment on an unchanged catalog: everything unchanged, nothing made, counts as an artifact
    flow_run = run_deployment(deployed, "refresh", {k: v for k, v in base.items() if k != "images"})
    artifacts = [a for a in artifacts_of(deployed["api"], flow_run["id"]) if a["key"].startswith("fluxcat-refresh-refresh-out-")]
    assert len(artifacts) == 1  # keyed by deployment and output
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
    parameters = {"catalog": catalog, "output": str(tmp_path / "out"), "backend": {"backend": "fixed"},
                  "images": {"shard_size": 2}}
    first, second = (create_run(deployed, "on-demand", parameters) for _ in range(2))
    runs = sorted((wait_for(deployed, r) for r in (first, second)), key=lambda r: r["start_time"])
    assert runs[0]["end_time"] <= runs[1]["start_time"]  # never writing the output at the same time
    states = [s["name"] for r in runs
              for s in call("get", f"{deployed['api']}/flow_run_states/", params={"flow_run_id": r["id"]}).json()]
    assert "AwaitingConcurrencySlot" in states
    statuses = {r["status"] for r in manifest(tmp_path / "out")}
    assert statuses == {"existing"}  # the later run found the earlier one's work done


def test_nightly_schedule_creates_flow_runs_that_run(deployed, tmp_path):
    """The scheduler inserts prefect.yaml's 02:00 runs (the Upcoming tab), and a schedule a few seconds ahead on the
    same deployment fires: its run is created by the scheduler, picked up by the worker and completes."""
    from datetime import datetime, timedelta, timezone

    api = deployed["api"]
    nightly = deployments(api)["nightly"]
    upcoming = poll(lambda: _runs_of(api, nightly["id"], "SCHEDULED"), 90)
    starts = {datetime.fromisoformat(r["expected_start_time"]).astimezone(timezone.utc) for r in upcoming}
    assert {(t.hour, t.minute) for t in starts} == {(2, 0)} and min(starts) > datetime.now(timezone.utc)

    catalog = write_catalog(tmp_path / "catalog.parquet",
                            [{"id": f"n{n}", "prompt": f"desk lamp photo {n}", "width": 64, "height": 64} for n in range(3)])
    soon = (datetime.now(timezone.utc) + timedelta(seconds=20)).replace(microsecond=0)
    added = call("post", f"{api}/deployments/{nightly['id']}/schedules", json=[{
        "schedule": {"interval": 86400, "anchor_date": soon.isoformat(), "timezone": "UTC"}, "active": True,
        "parameters": {"catalog": catalog, "output": str(tmp_path / "out"), "backend": {"backend": "fixed"}}}])
    assert added.status_code == 201, added.text
    fired = poll(lambda: [r for r in _runs_of(api, nightly["id"])
                           if datetime.fromisoformat(r["expected_start_time"]) == soon], 90)
    assert fired[0]["auto_scheduled"] is True  # made by the scheduler, not by this test
    wait_for(deployed, fired[0], timeout=240)
    assert {r["status"] for r in manifest(tmp_path / "out")} == {"generated"}


def _runs_of(api: str, deployment_id: str, state: str | None = None) -> list[dict]:
    flow_runs = {"deployment_id": {"any_": [deployment_id]}}
    if state:
        flow_runs["state"] = {"type": {"any_": [state]}}
    return call("post", f"{api}/flow_runs/filter", json={"flow_runs": flow_runs}).json()


def test_a_worker_outside_the_checkout_runs_a_deployment(deployed, tmp_path):
    """prefect.yaml deployed as it is (only its work pool and names changed, so that no other worker takes the run)
    and run by a process worker started in another directory, from a virtual environment where fluxcat is installed
    from its wheel and the checkout cannot be imported. The deployment's default paths work there (absolute under the
    directory it was deployed from); a relative one fails in one line."""
    import shutil
    import site
    import subprocess
    import sys

    import yaml

    venv, elsewhere, source = tmp_path / "venv", tmp_path / "elsewhere", tmp_path / "source"
    elsewhere.mkdir()
    # the wheel is built from a copy: setuptools leaves a build/ folder where it builds
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "outputs", "build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source), "-w",
                    str(tmp_path / "dist")], check=True, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    packages = next((venv / "lib").glob("python3*/site-packages"))
    # the test environment's dependencies, as a plain path: its editable install of the checkout is not loaded
    (packages / "dependencies.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(packages),
                    *map(str, (tmp_path / "dist").glob("fluxcat-*.whl"))], check=True, capture_output=True, timeout=300)
    python = str(venv / "bin" / "python")
    alone = {k: v for k, v in deployed["env"].items() if k != "PYTHONPATH"}  # a PYTHONPATH naming the checkout
    where = subprocess.run([python, "-c", "import flows, fluxcat; print(flows.__file__, fluxcat.__file__)"], cwd=elsewhere,
                           env=alone, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and str(packages) in where

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    for deployment in config["deployments"]:
        deployment["name"] = f"outside-{deployment['name']}"
        deployment["work_pool"] = {**deployment["work_pool"], "name": "fluxcat-outside"}
        deployment.pop("schedules", None)
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(config))
    assert prefect_cli(deployed, "work-pool", "create", "fluxcat-outside", "--type", "process").returncode == 0
    done = subprocess.run(PREFECT + ["--no-prompt", "deploy", "--prefect-file", str(tmp_path / "prefect.yaml"), "--name",
                                     "outside-on-demand"], cwd=elsewhere, env=deployed["env"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # the worker starts in a third directory: the defaults must not depend on where it was started
    worker_home = tmp_path / "worker-home"
    worker_home.mkdir()
    worker = start([python, "-m", "prefect", "worker", "start", "--pool", "fluxcat-outside", "--type", "process"],
                   alone, tmp_path / "worker.log", cwd=worker_home)
    outside = {**deployed, "worker": worker, "home": tmp_path}
    try:
        # prefect.yaml's default paths, made absolute under the directory `prefect deploy` ran in
        (elsewhere / "datasets").mkdir()
        write_catalog(elsewhere / "datasets" / "sample_catalog.parquet",
                      [{"id": f"o{n}", "prompt": f"a teapot, photo {n}", "width": 64, "height": 64} for n in range(3)])
        defaults = deployments(deployed["api"])["outside-on-demand"]["parameters"]
        assert defaults["catalog"] == str(elsewhere.resolve() / "datasets" / "sample_catalog.parquet")
        run = wait_for(outside, create_run(deployed, "outside-on-demand", {"backend": {"backend": "fixed"}}))
        # a relative path in a deployment's run: one line before any work, not an output deleted with the worker's
        # temporary folder
        relative = wait_for(outside, create_run(deployed, "outside-on-demand", {
            "catalog": str(elsewhere / "datasets" / "sample_catalog.parquet"), "output": "relative-out",
            "backend": {"backend": "fixed"}}), ends="FAILED")
    finally:
        stop(worker)
    assert run["state"]["type"] == "COMPLETED"
    assert {r["status"] for r in manifest(elsewhere.resolve() / "outputs" / "on-demand")} == {"generated"}
    assert relative["state"]["message"] == (
        "output 'relative-out' is a relative path, and a deployment's run has no directory to resolve it against (its "
        "worker runs it in a temporary folder): give an absolute path or a URL")
