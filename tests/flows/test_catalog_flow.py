"""The generate_catalog flow end to end with the tiny FLUX, under Prefect's test harness."""

import io

import pytest
from PIL import Image

from fluxcat.manifest import read_manifest
from fluxcat.store import Store
from tests.conftest import latest_artifact, prefect_post
from tasks.reporting import md_escape

ROWS = [
    {"id": "sq", "prompt": "a red leather wallet", "image_size": "square", "category": "bags"},
    {"id": "wide", "prompt": "a steel water bottle", "width": 650, "height": 300, "category": "kitchen"},
    {"id": "two", "prompt": "wireless earbuds", "image_size": "square", "num_images": 2, "category": "tech"},
    {"id": "dev", "prompt": "a candle label reading \"Fig\"", "model": "dev", "num_inference_steps": 3,
     "display_width": 300, "display_height": 300, "category": "home"},
    {"id": "dup", "prompt": "A red leather wallet.", "image_size": "square", "category": "bags"},
    {"id": "blank", "prompt": "  ", "category": "broken"},
    {"id": "toolong", "prompt": "x" * 1001, "category": "broken"},
]
EXPECTED = {"sq": (512, 512), "wide": (656, 304), "two": (512, 512), "dev": (304, 304)}  # dev: its 300x300 slot


@pytest.fixture(scope="module")
def flow_run(prefect_harness, tmp_path_factory):
    from tests.conftest import write_catalog
    from flows.catalog import generate_catalog

    root = tmp_path_factory.mktemp("flow")
    catalog = write_catalog(root / "catalog.parquet", ROWS)
    output = str(root / "out")
    first = generate_catalog(catalog=catalog, output=output, backend="tiny", images={"shard_size": 2})
    second = generate_catalog(catalog=catalog, output=output, backend="tiny", images={"shard_size": 2})
    return first, second, Store(output)


def test_images_decode_at_their_planned_sizes(flow_run):
    _, _, store = flow_run
    rows = read_manifest(store).to_pylist()
    made = [r for r in rows if r["status"] in ("generated", "existing")]
    assert sorted(r["id"] for r in made) == ["dev", "sq", "two", "two", "wide"]
    for row in made:
        image = Image.open(io.BytesIO(store.read_bytes(store.relpath(row["image_uri"]))))
        assert image.size == EXPECTED[row["id"]] == (row["width"], row["height"])


def test_manifest_is_complete(flow_run):
    first, _, store = flow_run
    rows = read_manifest(store).to_pylist()
    assert first["statuses"] == {"generated": 5, "duplicate": 1, "rejected": 2}
    assert sorted(r["id"] for r in rows) == sorted(["sq", "wide", "two", "two", "dev", "dup", "blank", "toolong"])
    by_id = {r["id"]: r for r in rows}
    assert by_id["dup"]["duplicate_of"] == "sq" and by_id["dup"]["image_uri"] == by_id["sq"]["image_uri"]
    assert "1001 characters" in by_id["toolong"]["reason"]
    assert by_id["wide"]["corrections"].startswith("size 650x300 -> 656x304")
    assert {r["category"] for r in rows} == {"bags", "kitchen", "tech", "home", "broken"}  # passthrough
    for row in rows:
        if row["status"] == "generated":
            assert row["sha256"] and row["bytes"] > 0 and row["created_at"] and row["backend"] == "tiny"
            assert row["seconds"] > 0 and row["model"] in ("schnell", "dev")
    assert store.exists("index.html") and len(store.list("manifests")) == 2


def test_rerun_regenerates_nothing(flow_run):
    _, second, store = flow_run
    assert second["statuses"] == {"existing": 5, "duplicate": 1, "rejected": 2}
    assert len(store.list("images")) == 5


def test_dry_run_generates_nothing(prefect_harness, tmp_path, catalog_factory):
    from flows.catalog import generate_catalog

    result = generate_catalog(catalog=catalog_factory(ROWS), output=str(tmp_path / "o"), backend="tiny",
                              scope={"dry_run": True})
    assert result["dry_run"] and result["plan"]["images_to_generate"] == 5
    assert not (tmp_path / "o" / "images").exists()


def test_bad_configuration_fails_before_any_work(prefect_harness, tmp_path, catalog_factory):
    from flows.catalog import generate_catalog

    catalog = catalog_factory(ROWS)
    with pytest.raises(Exception, match="Input should be 'auto'"):
        generate_catalog(catalog=catalog, output=str(tmp_path / "o"), backend="nope")
    with pytest.raises(Exception, match="has no model_index.json"):
        generate_catalog(catalog=catalog, output=str(tmp_path / "o"),
                         backend={"backend": "diffusers", "backend_options": {"schnell": str(tmp_path / "missing")}})
    with pytest.raises(Exception, match="greater than or equal to 1"):
        generate_catalog(catalog=catalog, output=str(tmp_path / "o"), backend="tiny", images={"shard_size": 0})
    with pytest.raises(Exception, match="would carry a secret in clear"):
        generate_catalog(catalog=catalog, output=str(tmp_path / "o"), backend={"backend_options": {"api_key": "k"}})
    assert not (tmp_path / "o").exists()


def test_artifacts_summary_progress_and_gallery_per_output(flow_run):
    import json

    output = flow_run[2].root
    summary, progress, gallery = (latest_artifact(k, output) for k in ("summary", "progress", "gallery"))
    table = summary["data"] if isinstance(summary["data"], list) else json.loads(summary["data"])
    by_status = {r["value"]: r["images"] for r in table if r["by"] == "status"}
    assert by_status["existing"] == 5 and by_status["duplicate"] == 1 and by_status["rejected"] == 2  # the rerun's
    assert {r["value"] for r in table if r["by"] == "size"} == {"512x512", "656x304", "304x304"}
    assert progress["type"] == "progress" and float(progress["data"]) == 100.0
    assert gallery["type"] == "markdown" and "fluxcat gallery" in gallery["data"]
    # thumbnails embedded (a browser loads them wherever the output lives); a local contact sheet as text to copy,
    # never a file:// link (a web page's file:// link is refused by the browser)
    assert "](data:image/" in gallery["data"] and "file://" not in gallery["data"]
    assert f"Contact sheet (every row): {md_escape(output + '/index.html')}" in gallery["data"]


def test_stage_logs_say_backend_plan_shards_and_where_the_manifest_is(flow_run):
    output = flow_run[2].root
    runs = prefect_post("/flow_runs/filter", {"flow_runs": {"name": {"like_": "%"}}, "sort": "START_TIME_DESC"})
    messages, run_ids = [], []
    for run in runs:
        logs = prefect_post("/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}, "limit": 200})
        text = [entry["message"] for entry in logs]
        if any(output in line for line in text):
            messages.append(text)
            run_ids.append(run["id"])
    assert len(messages) == 2  # the run and the rerun
    for text in messages:
        joined = "\n".join(text)
        assert "backend: tiny" in joined
        assert "plan: 7 catalog rows -> " in joined and "1 duplicate, 2 rejected" in joined
        assert f"manifest {output}/manifest.parquet; contact sheet {output}/index.html" in joined
    assert sum("reused: finished by an earlier run" in line for text in messages for line in text) >= 2
    assert any("generated in" in line for text in messages for line in text)
    shard_states = {run_id: sorted(t["state"]["name"] for t in prefect_post("/task_runs/filter", {
        "task_runs": {"name": {"like_": "% · from row %"}}, "flow_runs": {"id": {"any_": [run_id]}}}))
        for run_id in run_ids}
    # the first run's shard tasks end Completed, the rerun's (finished shards found again) Reused
    assert {frozenset(states) for states in shard_states.values()} == {frozenset({"Completed"}), frozenset({"Reused"})}


def test_dry_run_leaves_a_plan_artifact_and_log(prefect_harness, tmp_path, catalog_factory):
    import json

    from flows.catalog import generate_catalog
    from tasks.outcome import result_of

    output = str(tmp_path / "dry")
    # read as the CLI reads it: Prefect may hand back the server's copy of the final state, without its data (a
    # resent proposal on a loaded machine: tests/tasks/test_outcome.py)
    states = []
    result = result_of(lambda: states.append(generate_catalog(catalog=catalog_factory(ROWS), output=output,
                                                              backend="tiny", scope={"dry_run": True},
                                                              return_state=True)) or states[-1])
    assert states[0].is_completed() and states[0].message == "dry run: 5 images would be made"
    assert result["dry_run"] and result["plan"]["images_to_generate"] == 5
    plan = latest_artifact("plan", output)
    assert plan["description"].startswith("dry run: plan: 7 catalog rows -> 5 images to generate")
    rows = {(r["by"], r["value"]): r["count"] for r in json.loads(plan["data"])}
    assert rows[("statuses", "planned")] == 5 and rows[("statuses", "rejected")] == 2
