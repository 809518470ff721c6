"""The Prefect UI in a real browser (Debian's Chromium driven by Playwright) against the real `prefect server` with
prefect.yaml deployed: fill the on-demand deployment's custom-run form, submit it, see the run complete with its plan
log, summary and gallery, and see the nightly schedule's upcoming runs. Screenshots go to outputs/ui/."""

from __future__ import annotations

import re
import time

from tests.conftest import write_catalog
from tests.flows.browser import SHOTS, choose, field, images_loaded, tab
from tests.flows.prefect_server import call, deployments, wait_for

def test_custom_run_from_the_form_completes_with_plan_log_summary_and_gallery(deployed, page, tmp_path):
    catalog = write_catalog(tmp_path / "catalog.parquet",
                            [{"id": f"u{n}", "prompt": f"a ceramic mug, studio photo {n}", "width": 64, "height": 64}
                             for n in range(5)] + [{"id": "blank", "prompt": "  "}])
    output = str(tmp_path / "ui-out")
    on_demand = deployments(deployed["api"])["on-demand"]
    page.goto(f"{deployed['ui']}/deployments/deployment/{on_demand['id']}/run", wait_until="networkidle")
    assert "(Optional)" not in field(page, "catalog").first.inner_text()  # required fields read as required
    field(page, "catalog").locator("textarea").fill(catalog)
    field(page, "output").locator("textarea").fill(output)
    field(page, "Shard Size").locator("input").fill("2")
    choose(page, "Mode", "exact")
    choose(page, "Backend", "fixed")
    page.screenshot(path=SHOTS / "1-custom-run-form.png")
    page.get_by_role("button", name="Submit").click()
    # the run the form created (the UI's "scheduled to start" toast is gone within seconds: a loaded machine missed it)
    flow_run = wait_for(deployed, _poll(lambda: _runs(deployed["api"], on_demand["id"], output), 120))
    assert flow_run["parameters"]["catalog"] == catalog and flow_run["parameters"]["backend"]["backend"] == "fixed"
    assert flow_run["parameters"]["images"]["shard_size"] == 2 and flow_run["parameters"]["dedupe"]["dedupe"] == "exact"

    page.goto(f"{deployed['ui']}/runs/flow-run/{flow_run['id']}", wait_until="networkidle")
    page.get_by_text("Completed").first.wait_for()
    page.screenshot(path=SHOTS / "2-run-completed.png")
    tab(page, "Task Runs")
    page.get_by_text(re.compile(r"schnell · 2 images · from row 0 · ")).first.wait_for()  # readable shard tasks
    page.screenshot(path=SHOTS / "3-task-runs.png", full_page=True)
    tab(page, "Logs")
    plan_line = page.get_by_text(re.compile(r"plan: 6 catalog rows -> 5 images to generate")).first
    plan_line.wait_for()
    page.get_by_text(re.compile(r"done: 5 generated, 1 rejected; manifest ")).first.wait_for()
    plan_line.scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "4-run-logs.png", full_page=True)

    tab(page, "Artifacts")
    page.get_by_text(re.compile("^fluxcat-summary-on-demand-ui-out-")).first.wait_for()
    page.screenshot(path=SHOTS / "5-run-artifacts.png", full_page=True)
    page.get_by_text(re.compile("^fluxcat-gallery-on-demand-ui-out-")).first.click()
    page.get_by_text("fluxcat gallery").first.wait_for()
    widths = images_loaded(page)
    page.screenshot(path=SHOTS / "6-gallery.png", full_page=True)
    assert len(widths) == 5 and all(widths), widths  # thumbnails in the artifact: the browser shows each image
    # where the contact sheet is, as text to copy (a file:// link would be refused), without stray backticks
    page.get_by_text(f"Contact sheet (every row): {output}/index.html").first.wait_for()
    assert not page.get_by_role("link", name=re.compile("index.html")).count()

    # "Retry" on the finished run: it runs again (making nothing) and updates its artifacts instead of adding copies
    before = _artifact_keys(deployed["api"], flow_run["id"])
    page.goto(f"{deployed['ui']}/runs/flow-run/{flow_run['id']}", wait_until="networkidle")
    page.get_by_role("button", name="Retry").click()
    page.get_by_role("button", name="Retry").last.click()  # the confirmation dialog's button
    retried = _poll(lambda: [r for r in [call("get", f"{deployed['api']}/flow_runs/{flow_run['id']}").json()]
                             if r["run_count"] > flow_run["run_count"]], 120)
    wait_for(deployed, retried)
    after = _artifact_keys(deployed["api"], flow_run["id"])
    assert sorted(after) == sorted(before) and len(after) == len(set(after)) == 4  # plan, progress, summary, gallery


def test_the_nightly_deployment_shows_upcoming_runs(deployed, page):
    nightly = deployments(deployed["api"])["nightly"]
    deadline = time.monotonic() + 90
    while not _scheduled(deployed["api"], nightly["id"]) and time.monotonic() < deadline:
        time.sleep(1)
    page.goto(f"{deployed['ui']}/deployments/deployment/{nightly['id']}", wait_until="networkidle")
    tab(page, "Upcoming")
    page.get_by_text("Scheduled").first.wait_for()
    page.get_by_text(re.compile(r"Scheduled for .* 02:00:00 AM")).first.wait_for()
    page.screenshot(path=SHOTS / "7-nightly-upcoming.png", full_page=True)


def _artifact_keys(api: str, flow_run_id: str) -> list[str]:
    found = call("post", f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
    return [artifact["key"] for artifact in found.json()]


def _runs(api: str, deployment_id: str, output: str) -> list[dict]:
    found = call("post", f"{api}/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}).json()
    return [run for run in found if run["parameters"].get("output") == output]


def _poll(found, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result[0]
        time.sleep(0.5)
    raise AssertionError(f"nothing after {timeout} s")


def _scheduled(api: str, deployment_id: str) -> list:
    return call("post", f"{api}/flow_runs/filter", json={"flow_runs": {
        "deployment_id": {"any_": [deployment_id]}, "state": {"type": {"any_": ["SCHEDULED"]}}}}).json()
