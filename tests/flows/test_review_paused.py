"""Review in a run without a deployment, against a real `prefect server`: the run pauses in its own process with the
form; Prefect's own client resumes it with what the form sends (a rejection and its reason reach the manifest), or
nobody answers and the wait runs out (the rows stay flagged, the log says the review timed out, and Prefect fails
the run, as it does a suspended one)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq

from fluxcat.layout import LEASE_PATH
from fluxcat.store import Store
from tests.conftest import ROOT, write_catalog
from tests.flows.prefect_server import call, logs_of, poll

RUN = "import json, sys; from flows.catalog import generate_catalog; generate_catalog(**json.loads(sys.argv[1]))"


def start_flow(server: dict, parameters: dict, log) -> subprocess.Popen:
    """The flow called in its own process (what `fluxcat run --review ...` does), reporting to the server."""
    return subprocess.Popen([sys.executable, "-c", RUN, json.dumps(parameters)], cwd=ROOT, env=server["env"],
                            stdout=log, stderr=subprocess.STDOUT)


def run_of(server: dict, output: str, state: str, timeout: float = 240) -> dict:
    """The flow run writing to `output`, once it is in `state`."""
    def found():
        runs = call("post", f"{server['api']}/flow_runs/filter", json={"flow_runs": {"state": {"type": {
            "any_": [state]}}}}).json()
        return [run for run in runs if run["parameters"].get("output") == output]
    return poll(found, timeout)[0]


def finished(process: subprocess.Popen, log_path, timeout: float = 240) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(log_path.read_text()[-4000:]) from None


def test_a_paused_review_resumed_through_prefect_records_a_rejection_and_its_reason(server, tmp_path):
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL, temporary_settings

    rows = [{"id": f"j{n}", "prompt": f"a cotton tote bag, photo {n}", "width": 64, "height": 64} for n in range(2)]
    catalog, output = write_catalog(tmp_path / "catalog.parquet", rows), str(tmp_path / "out")
    log_path = tmp_path / "flow.log"
    with open(log_path, "wb") as log:
        process = start_flow(server, {"catalog": catalog, "output": output, "backend": {"backend": "fixed"},
                                      "review": {"review": "all"}}, log)
        try:
            paused = run_of(server, output, "PAUSED")
            assert Store(output).exists(LEASE_PATH)  # a paused run holds the output while it waits (docs: known limit)
            with temporary_settings(updates={PREFECT_API_URL: server["api"]}):
                resume_flow_run(paused["id"], run_input={  # what the form sends on Submit
                    "row_0_0": {"decision": "approve", "reason": "", "seed": None},
                    "row_1_0": {"decision": "reject", "reason": "the strap is missing", "seed": None}})
            finished(process, log_path)
        finally:
            if process.poll() is None:
                process.kill()
    run = call("get", f"{server['api']}/flow_runs/{paused['id']}").json()
    assert run["state"]["type"] == "COMPLETED", (run["state"], log_path.read_text()[-3000:])
    decided = {row["id"]: row for row in pq.read_table(f"{output}/manifest.parquet").to_pylist()}
    rejected = json.loads(decided["j1"]["qa_details"])["review"]
    assert decided["j1"]["qa_status"] == "rejected" and rejected["decision"] == "reject"
    assert rejected["reason"] == "the strap is missing" and paused["id"] in rejected["by"]
    assert decided["j0"]["qa_status"] == "approved"
    assert not Store(output).exists(LEASE_PATH)
    poll(lambda: [line for line in logs_of(server["api"], paused["id"])
                  if line == "review: 1 approved, 1 rejected, 0 regenerated"], 60)


def test_a_review_nobody_answers_times_out_and_leaves_the_rows_flagged(server, tmp_path):
    rows = [{"id": "navy", "prompt": "a navy rain jacket on a hanger", "image_size": "square"}]
    catalog, output = write_catalog(tmp_path / "catalog.parquet", rows), str(tmp_path / "out")
    log_path = tmp_path / "flow.log"
    with open(log_path, "wb") as log:
        process = start_flow(server, {"catalog": catalog, "output": output, "dedupe": {"dedupe": "off"},
                                      "backend": {"backend": "text-render", "backend_options": {
                                          "misspell_rate": 0, "wrong_colour_rate": 1}},
                                      "review": {"review": "flagged", "review_timeout_hours": 0.001}}, log)  # 3.6 s
        finished(process, log_path)
    flow_run = run_of(server, output, "FAILED", timeout=30)
    # Prefect's server fails a run whose pause ran out, whatever state the run proposes next
    assert flow_run["state"]["message"].endswith(" and never resumed."), flow_run["state"]
    manifest = pq.read_table(f"{output}/manifest.parquet").to_pylist()
    assert [(row["id"], row["qa_status"]) for row in manifest] == [("navy", "flagged")]
    assert "review" not in json.loads(manifest[0]["qa_details"])
    logs = poll(lambda: [line for line in logs_of(server["api"], flow_run["id"]) if line.startswith("review")], 60)
    assert logs[-1] == "review timed out: nobody answered within 0.001 h; the images stay as QA left them", logs
    assert logs[0].startswith("review: waiting up to 0.001 h for a person to decide on 1 images"), logs
    assert not Store(output).exists(LEASE_PATH)
