"""Secrets only by reference: a marker secret typed through every entry point (a storage Secret block, a provider
key Secret block, $FLUXCAT_STORAGE_OPTIONS for the CLI, and a secret put in the wrong field) is found in no flow-run
parameter, log, artifact, task run, manifest, output file or command output; the wrong field is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import ROOT, write_catalog
from tests.flows.prefect_server import call, deployments, run_deployment
from tests.fluxcat.backends.protocol_servers import FalServer

ROWS = [{"id": f"s{n}", "prompt": f"a ceramic vase, photo {n}", "width": 64, "height": 64} for n in range(3)]


def save_secret(server: dict, name: str, value) -> None:
    code = f"from prefect.blocks.system import Secret; Secret(value={value!r}).save({name!r}, overwrite=True)"
    done = subprocess.run([sys.executable, "-c", code], env=server["env"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def everything_prefect_recorded(api: str) -> str:
    texts = []
    for kind in ("flow_runs", "task_runs", "logs", "artifacts", "deployments"):
        response = call("post", f"{api}/{kind}/filter", json={"limit": 200})
        assert response.status_code == 200 and response.json(), f"the server recorded no {kind}: the scan proves nothing"
        texts.append(response.text)
    return "\n".join(texts)


def files_containing(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_marker_secret_reaches_no_parameter_log_artifact_manifest_or_output(deployed, tmp_path):
    marker = f"marker-{uuid.uuid4().hex}"
    api = deployed["api"]
    catalog = write_catalog(tmp_path / "catalog.parquet", ROWS)
    out = tmp_path / "outputs"

    # 1. storage options from a Secret block named in the form (fsspec takes them; the local filesystem ignores them)
    save_secret(deployed, "fluxcat-test-storage", {"auto_mkdir": True, "password": marker})
    run_deployment(deployed, "on-demand", {"catalog": catalog, "output": str(out / "storage"),
                                           "backend": {"backend": "fixed"}, "storage": {"storage_block": "fluxcat-test-storage"}})

    # 2. a hosted provider's API key from a Secret block: the provider double checks it on every request
    save_secret(deployed, "fluxcat-test-fal-key", marker)
    with FalServer(marker) as fal:
        run_deployment(deployed, "on-demand", {"catalog": catalog, "output": str(out / "fal"), "backend": {
            "backend": "fal", "api_key_block": "fluxcat-test-fal-key", "backend_options": {"base_url": fal.url}}})
    assert {r["status"] for r in _manifest(out / "fal")} == {"generated"}  # the key was right: it was used

    # 3. a secret typed into the wrong field is refused by the server before anything stores it
    on_demand = deployments(api)["on-demand"]
    refused = call("post", f"{api}/deployments/{on_demand['id']}/create_flow_run", json={"parameters": {
        "catalog": catalog, "output": str(out / "x"), "backend": {"backend": "fal", "backend_options": {"api_key": marker}}}})
    assert refused.status_code == 409 and marker not in refused.text, refused.text
    # ... under a name no pattern catches: no backend takes it, so the closed schema refuses it too
    misplaced = call("post", f"{api}/deployments/{on_demand['id']}/create_flow_run", json={"parameters": {
        "catalog": catalog, "output": str(out / "x"), "backend": {"backend": "fal", "backend_options": {"fal_credential": marker}}}})
    assert misplaced.status_code == 409 and "fal_credential" in misplaced.text and marker not in misplaced.text

    # 4. the CLI: storage options from $FLUXCAT_STORAGE_OPTIONS, flow runs recorded by the same server
    env = {**deployed["env"], "FLUXCAT_STORAGE_OPTIONS": json.dumps({"auto_mkdir": True, "password": marker})}
    cli = subprocess.run([sys.executable, "-m", "fluxcat_cli.main", "run", catalog, "-o", str(out / "cli"), "-b", "fixed"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    cli_wrong = subprocess.run([sys.executable, "-m", "fluxcat_cli.main", "plan", catalog, "-b", "fal",
                                "--backend-option", f"api_key={marker}"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
    assert cli_wrong.returncode == 2 and "would carry a secret in clear" in cli_wrong.stderr

    for text in (everything_prefect_recorded(api), cli.stdout + cli.stderr, cli_wrong.stdout + cli_wrong.stderr,
                 (deployed["home"] / "worker.log").read_text()):
        assert marker not in text
    assert files_containing(out, marker) == []
    assert len(_manifest(out / "storage")) == len(_manifest(out / "cli")) == len(ROWS)


def _manifest(output: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(output / "manifest.parquet").to_pylist()
