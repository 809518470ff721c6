"""What the Prefect UI tells an operator (Debian's Chromium against the real server, prefect.yaml deployed, a process
worker): a run that made none of its images ends Failed; a missing catalog ends the run with one line and no
traceback; a run waiting for another writer's lease says who holds it and until when; shard progress lines; a
review round-trip from the Resume form. Screenshots: outputs/ui/."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

import pyarrow.parquet as pq

from fluxcat.layout import LEASE_PATH
from fluxcat.store import Store
from tests.conftest import write_catalog
from tests.flows.browser import SHOTS, choose, field, tab
from tests.flows.prefect_server import call, create_run, logs_of, poll, run_deployment, wait_for

ROWS = [{"id": f"m{n}", "prompt": f"a stoneware mug, photo {n}", "width": 64, "height": 64} for n in range(3)]


def open_run(deployed: dict, page, flow_run: dict, shot: str) -> None:
    page.goto(f"{deployed['ui']}/runs/flow-run/{flow_run['id']}", wait_until="networkidle")
    tab(page, "Logs")
    page.screenshot(path=SHOTS / shot, full_page=True)


def test_a_run_that_made_none_of_its_images_shows_failed_with_progress_lines(deployed, page, tmp_path):
    rows = [{"id": f"f{n}", "prompt": f"a stoneware mug, photo {n}", "width": 64, "height": 64} for n in range(26)]
    catalog = write_catalog(tmp_path / "catalog.parquet", rows)
    run = run_deployment(deployed, "on-demand", {"catalog": catalog, "output": str(tmp_path / "out"), "backend": {
        "backend": "fixed", "backend_options": {"fail_prompts_containing": "mug"}}}, ends="FAILED")
    assert run["state"]["message"] == "made none of the 26 images this run was asked to make (26 failed)"
    logs = final_logs(deployed, run)
    assert not [line for line in logs if "Traceback" in line], logs  # the state says why; no engine traceback
    # progress inside the one shard of 26 rows: a line every 25 images (tasks/reporting.py ProgressLines)
    assert [line for line in logs if line.startswith("progress: 25 images so far (25 failed) after ")], logs
    open_run(deployed, page, run, "8-all-failed-run.png")
    page.locator(".state-badge", has_text="Failed").first.wait_for()
    page.get_by_text(re.compile("Finished in state Failed\\('made none of the 26 images")).first.wait_for()
    assert (tmp_path / "out" / "manifest.parquet").exists()  # the run still wrote what it has: the reasons


def test_a_missing_catalog_ends_the_run_with_one_line_and_no_traceback(deployed, page, tmp_path):
    missing = str(tmp_path / "no-such-catalog.parquet")
    run = run_deployment(deployed, "on-demand", {"catalog": missing, "output": str(tmp_path / "out"),
                                                 "backend": {"backend": "fixed"}}, ends="FAILED")
    assert run["state"]["message"].startswith(f"catalog not found: {missing}")
    logs = final_logs(deployed, run)
    assert [line for line in logs if missing in line] == [f"Finished in state Failed({run['state']['message']!r})"]
    assert not [line for line in logs if "Traceback" in line or "Error" in line], logs
    open_run(deployed, page, run, "9-missing-catalog-logs.png")
    page.get_by_text(re.compile("Finished in state Failed\\('catalog not found")).first.wait_for()
    assert not page.get_by_text("Traceback").count()


def test_a_run_waiting_for_the_output_says_who_holds_it_and_until_when(deployed, page, tmp_path):
    catalog, output = write_catalog(tmp_path / "catalog.parquet", ROWS), str(tmp_path / "out")
    store = Store(output)
    until = datetime.fromtimestamp(time.time() + 600, timezone.utc).isoformat(timespec="seconds")
    store.write_bytes(LEASE_PATH, json.dumps({  # another machine's writer, well within its lease
        "token": "nightly", "owner": "flow run nightly-42 (0c1d)", "host": "gpu-box-7", "pid": 4242,
        "acquired_at": "2026-01-01T02:00:00+00:00", "expires_at": time.time() + 600, "expires": until}).encode())
    flow_run = create_run(deployed, "on-demand", {"catalog": catalog, "output": output, "backend": {"backend": "fixed"},
                                                  "execution": {"lease_wait_seconds": 300}})
    waiting = poll(lambda: [line for line in logs_of(deployed["api"], flow_run["id"])
                            if line.startswith(f"waiting for the output {output}: ")], 180)
    assert "flow run nightly-42 (0c1d) (host gpu-box-7, pid 4242, since 2026-01-01T02:00:00+00:00) holds it until " \
           f"{until}" in waiting[0]
    store.delete(LEASE_PATH)  # that run finishes
    run = wait_for(deployed, flow_run)
    poll(lambda: [line for line in logs_of(deployed["api"], run["id"]) if line.startswith(f"took the lease on {output}")],
         60)
    open_run(deployed, page, run, "10-lease-wait-logs.png")
    page.get_by_text(re.compile("waiting for the output .* holds it until")).first.wait_for()


def final_logs(deployed: dict, run: dict) -> list[str]:
    """The run's log lines once its closing line has arrived (runs send their logs in batches)."""
    closing = f"Finished in state {run['state']['name']}("
    return poll(lambda: [logs for logs in [logs_of(deployed["api"], run["id"])]
                         if any(line.startswith(closing) for line in logs)], 60)[0]


def test_a_review_from_the_ui_form_approves_one_and_regenerates_one(deployed, page, tmp_path):
    """review=all: after QA the run is suspended with a form (no worker held); a person opens the run in the UI,
    presses Resume, approves one image and regenerates the other; the worker starts the run again, which carries
    the decisions out and completes; the manifest records both."""
    rows = [{"id": f"r{n}", "prompt": f"a linen cushion, photo {n}", "width": 64, "height": 64} for n in range(2)]
    catalog, output = write_catalog(tmp_path / "catalog.parquet", rows), tmp_path / "out"
    flow_run = create_run(deployed, "on-demand", {"catalog": catalog, "output": str(output),
                                                  "backend": {"backend": "fixed"}, "review": {"review": "all"}})
    poll(lambda: [r for r in [call("get", f"{deployed['api']}/flow_runs/{flow_run['id']}").json()]
                  if r["state"]["type"] == "PAUSED"], 240)
    page.goto(f"{deployed['ui']}/runs/flow-run/{flow_run['id']}", wait_until="networkidle")
    page.get_by_role("button", name="Resume").first.click()
    first, second = (page.locator(".schema-form-property").filter(has_text=re.compile(f"^row {n} · r{n}"))
                     for n in (0, 1))
    page.get_by_text("row 1 · r1").first.wait_for()
    page.wait_for_function("() => [...document.images].every(image => image.complete)")
    choose(page, "Decision", "approve", within=first.first)
    choose(page, "Decision", "regenerate", within=second.first)
    field(page, "Reason", within=second.first).first.locator("textarea, input").first.fill("too dark")
    page.screenshot(path=SHOTS / "11-review-form.png", full_page=True)
    thumbnails = page.evaluate("() => [...document.images].filter(i => i.src.startsWith('data:')).map(i => i.naturalWidth)")
    assert len(thumbnails) == 2 and all(thumbnails), thumbnails  # the form shows each image to decide on
    page.get_by_role("button", name=re.compile("^(Submit|Resume)$")).last.click()
    run = wait_for(deployed, flow_run, timeout=300)
    decided = {r["id"]: r for r in pq.read_table(output / "manifest.parquet").to_pylist()}
    approve, again = (json.loads(decided[i]["qa_details"])["review"] for i in ("r0", "r1"))
    assert approve["decision"] == "approve" and decided["r0"]["qa_status"] == "approved"
    assert again["decision"] == "regenerate" and again["reason"] == "too dark" and decided["r1"]["seed"] == again["seed"]
    poll(lambda: [line for line in logs_of(deployed["api"], run["id"])  # logs arrive in batches
                  if line == "review: 1 approved, 0 rejected, 1 regenerated"], 60)
    open_run(deployed, page, run, "12-review-done-logs.png")
