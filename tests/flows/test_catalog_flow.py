"""The generate_catalog flow end to end with the tiny FLUX, under Prefect's test harness."""

import io

import pytest
from PIL import Image

from fluxcat.manifest import read_manifest
from fluxcat.store import Store

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
EXPECTED = {"sq": (512, 512), "wide": (656, 304), "two": (512, 512), "dev": (512, 512)}


@pytest.fixture(scope="module")
def flow_run(prefect_harness, tmp_path_factory):
    from tests.conftest import write_catalog
    from flows.catalog import generate_catalog

    root = tmp_path_factory.mktemp("flow")
    catalog = write_catalog(root / "catalog.parquet", ROWS)
    output = str(root / "out")
    first = generate_catalog(catalog=catalog, output=output, backend="tiny", shard_size=2)
    second = generate_catalog(catalog=catalog, output=output, backend="tiny", shard_size=2)
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

    result = generate_catalog(catalog=catalog_factory(ROWS), output=str(tmp_path / "o"), backend="tiny", dry_run=True)
    assert result["dry_run"] and result["plan"]["images_to_generate"] == 5
    assert not (tmp_path / "o" / "images").exists()


def test_bad_configuration_fails_before_any_work(prefect_harness, tmp_path, catalog_factory):
    from flows.catalog import generate_catalog

    catalog = catalog_factory(ROWS)
    with pytest.raises(Exception, match="Input should be 'auto'"):
        generate_catalog(catalog=catalog, output=str(tmp_path / "o"), backend="nope")
    with pytest.raises(Exception, match="has no model_index.json"):
        generate_catalog(catalog=catalog, output=str(tmp_path / "o"), backend="diffusers",
                         backend_options={"schnell": str(tmp_path / "missing")})
    with pytest.raises(Exception, match="shard_size must be at least 1"):
        generate_catalog(catalog=catalog, output=str(tmp_path / "o"), backend="tiny", shard_size=0)
    assert not (tmp_path / "o").exists()


def test_artifacts_summary_progress_and_gallery(flow_run):
    import asyncio
    import json

    from prefect.client.orchestration import get_client

    async def latest(key):
        async with get_client() as client:
            response = await client._client.post("/artifacts/latest/filter",
                                                  json={"artifacts": {"key": {"any_": [key]}}, "limit": 1})
            response.raise_for_status()
            return response.json()[0]

    summary, progress, gallery = (asyncio.run(latest(k)) for k in ("fluxcat-summary", "fluxcat-progress", "fluxcat-gallery"))
    table = summary["data"] if isinstance(summary["data"], list) else json.loads(summary["data"])
    by_status = {r["value"]: r["images"] for r in table if r["by"] == "status"}
    assert by_status["existing"] == 5 and by_status["duplicate"] == 1 and by_status["rejected"] == 2  # the rerun's
    assert {r["value"] for r in table if r["by"] == "size"} == {"512x512", "656x304"}
    assert progress["type"] == "progress" and float(progress["data"]) == 100.0
    assert gallery["type"] == "markdown" and "fluxcat gallery" in gallery["data"] and "images/" in gallery["data"]
