"""Catalog-level planning: exact duplicates, ids, passthrough columns, and content-named shards."""

import pyarrow as pa
import pytest

from fluxcat.backends.fixed import FixedBackend
from fluxcat.layout import PLAN_DIR
from fluxcat.shards import PlanSettings, plan_catalog
from fluxcat.store import Store


def settings(**overrides):
    backend = FixedBackend()
    return PlanSettings(model_id=backend.model_id, **overrides)


def plan_rows(store, report):
    rows = []
    for shard in report.shards:
        rows += store.read_table(f"{PLAN_DIR}/{shard.name}.parquet").to_pylist()
    return sorted(rows, key=lambda r: (r["row_number"], r["image_index"] or 0))


def test_exact_duplicates_point_to_the_first_row(tmp_path, catalog_factory):
    url = catalog_factory([
        {"id": "a", "prompt": "A Red mug."}, {"id": "b", "prompt": "a red  mug"},
        {"id": "c", "prompt": "a red mug", "image_size": "square"}, {"id": "d", "prompt": "a blue mug"},
    ])
    store = Store(str(tmp_path / "out"))
    report = plan_catalog(url, store, settings())
    rows = {r["id"]: r for r in plan_rows(store, report)}
    assert rows["b"]["status"] == "duplicate" and rows["b"]["duplicate_of"] == "a"
    assert rows["b"]["image_uri"] == rows["a"]["image_uri"] and rows["b"]["key"] == rows["a"]["key"]
    assert rows["c"]["status"] == "planned"  # same text, other size: a different image
    assert report.images_to_generate == 3 and report.statuses["duplicate"] == 1
    assert [(m.row_number, m.canonical) for m in report.duplicates] == [(1, 0)]


def test_rows_without_ids_and_with_the_same_prompt_are_duplicates(tmp_path, catalog_factory):
    url = catalog_factory([{"prompt": "a red mug"}, {"prompt": "A red mug!"}, {"prompt": "a red mug"}])
    store = Store(str(tmp_path / "out"))
    report = plan_catalog(url, store, settings())
    rows = plan_rows(store, report)
    assert [r["status"] for r in rows] == ["planned", "duplicate", "duplicate"]
    assert rows[2]["id"] == f"{rows[0]['id']}-2" and rows[2]["duplicate_of"] == rows[0]["id"]
    assert [(m.prompt, m.canonical_prompt) for m in report.duplicates][0] == ("A red mug!", "a red mug")


def test_dedupe_off_plans_every_row(tmp_path, catalog_factory):
    url = catalog_factory([{"id": "a", "prompt": "a red mug"}, {"id": "b", "prompt": "a red mug"}])
    report = plan_catalog(url, Store(str(tmp_path / "o")), settings(dedupe="off"))
    assert report.images_to_generate == 2  # same key: generated once, recorded for both


def test_reused_explicit_id_is_rejected_but_derived_ids_are_made_unique(tmp_path, catalog_factory):
    url = catalog_factory([
        {"id": "SKU-1", "prompt": "a red mug"}, {"id": "SKU-1", "prompt": "a blue mug"},
        {"id": None, "prompt": "a cup"}, {"id": None, "prompt": "a cup", "image_size": "square"},
    ])
    store = Store(str(tmp_path / "o"))
    rows = plan_rows(store, plan_catalog(url, store, settings()))
    assert rows[1]["status"] == "rejected" and "already used by row 0" in rows[1]["reason"]
    assert rows[2]["id"].startswith("p-") and rows[3]["id"] == f"{rows[2]['id']}-3"


def test_rejected_rows_keep_their_reason_and_other_rows_plan(tmp_path, catalog_factory):
    url = catalog_factory([{"id": "ok", "prompt": "a mug"}, {"id": "bad", "prompt": ""},
                           {"id": "big", "prompt": "a mug", "num_images": 7}])
    store = Store(str(tmp_path / "o"))
    rows = {r["id"]: r for r in plan_rows(store, plan_catalog(url, store, settings()))}
    assert rows["ok"]["status"] == "planned"
    assert rows["bad"]["status"] == "rejected" and "prompt is empty" in rows["bad"]["reason"]
    assert "num_images 7" in rows["big"]["reason"]


def test_passthrough_columns_keep_values_and_types(tmp_path, catalog_factory):
    schema = pa.schema([("id", pa.string()), ("prompt", pa.string()), ("price", pa.decimal128(6, 2)),
                        ("tags", pa.list_(pa.string()))])
    from decimal import Decimal
    url = catalog_factory([{"id": "a", "prompt": "a mug", "price": Decimal("9.99"), "tags": ["x", "y"]},
                           {"id": "b", "prompt": "", "price": Decimal("1.00"), "tags": []}], schema)
    store = Store(str(tmp_path / "o"))
    report = plan_catalog(url, store, settings())
    table = store.read_table(f"{PLAN_DIR}/{report.shards[0].name}.parquet")
    assert table.schema.field("price").type == pa.decimal128(6, 2)
    rows = {r["id"]: r for r in plan_rows(store, report)}
    assert rows["a"]["price"] == Decimal("9.99") and rows["a"]["tags"] == ["x", "y"]
    assert rows["b"]["price"] == Decimal("1.00")  # rejected rows carry their columns too


def test_shards_hold_one_model_are_bounded_and_named_by_content(tmp_path, catalog_factory):
    long = " ".join(["word"] * 25)
    url = catalog_factory([{"prompt": f"mug {i}"} for i in range(7)] + [{"prompt": f"{long} {i}"} for i in range(3)])
    store = Store(str(tmp_path / "o"))
    first = plan_catalog(url, store, settings(shard_size=3))
    assert [s.images for s in first.shards if s.model == "schnell"] == [3, 3, 1]
    assert [s.images for s in first.shards if s.model == "dev"] == [3]
    again = plan_catalog(url, store, settings(shard_size=3))
    assert [s.name for s in again.shards] == [s.name for s in first.shards]
    changed = plan_catalog(url, store, settings(shard_size=3, image_format="webp"))
    assert not {s.name for s in changed.shards} & {s.name for s in first.shards}


def test_num_images_expands_to_one_row_per_image(tmp_path, catalog_factory):
    url = catalog_factory([{"id": "a", "prompt": "a mug", "num_images": 3, "seed": 5}])
    store = Store(str(tmp_path / "o"))
    rows = plan_rows(store, plan_catalog(url, store, settings()))
    assert [(r["image_index"], r["seed"]) for r in rows] == [(0, 5), (1, 6), (2, 7)]
    assert len({r["key"] for r in rows}) == 3


def test_limit_and_bad_shard_size(tmp_path, catalog_factory):
    url = catalog_factory([{"prompt": f"mug {i}"} for i in range(10)])
    store = Store(str(tmp_path / "o"))
    assert plan_catalog(url, store, settings(limit=4)).images_to_generate == 4
    with pytest.raises(ValueError, match="shard_size"):
        plan_catalog(url, store, settings(shard_size=0))
