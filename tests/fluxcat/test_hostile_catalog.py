"""Hostile catalogs through the core run path: colliding column names, empty catalogs, every bad value."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fluxcat.pipeline import RunOptions, open_run, plan, run_one_shard
from tests.hostile_catalog import (
    BAD_ROWS, GOOD_ROWS, OBFUSCATED, ORDINARY, check_manifest, obfuscated_catalog, write_hostile_catalog,
)
from tests.pipeline import run_catalog


def run(catalog: str, output: str):
    return run_catalog(RunOptions(catalog=catalog, output=output, backend="fixed"))[1]


def test_columns_named_like_manifest_columns_pass_through_renamed_and_never_fail_a_shard(tmp_path):
    # every outcome column with another type than the manifest's, and a name whose prefixed form is taken too
    catalog = pa.table({"prompt": ["a red mug", "a blue mug"], "details": [{"a": 1}, {"a": 2}], "backend": [1.5, None],
                        "reason": ["r1", "r2"], "status": ["new", "old"], "key": [7, 8], "image_uri": ["u1", "u2"],
                        "sha256": [1, 2], "created_at": ["yesterday", "today"], "catalog_status": ["x", "y"]})
    pq.write_table(catalog, tmp_path / "collide.parquet")
    summary = run(str(tmp_path / "collide.parquet"), str(tmp_path / "out"))
    assert summary.statuses == {"generated": 2}
    manifest = pq.read_table(tmp_path / "out" / "manifest.parquet")
    rows = manifest.to_pylist()
    assert [r["catalog_details"] for r in rows] == [{"a": 1}, {"a": 2}]
    assert [r["catalog_sha256"] for r in rows] == [1, 2] and manifest.schema.field("catalog_sha256").type == pa.int64()
    assert [(r["catalog_status"], r["catalog_catalog_status"]) for r in rows] == [("x", "new"), ("y", "old")]
    assert [r["catalog_key"] for r in rows] == [7, 8] and [r["catalog_created_at"] for r in rows] == ["yesterday", "today"]
    assert all(len(r["sha256"]) == 64 and r["status"] == "generated" and r["backend"] == "fixed" for r in rows)


def test_an_empty_catalog_makes_an_empty_manifest_with_its_columns(tmp_path):
    pq.write_table(pa.table({"prompt": pa.array([], pa.string()), "price": pa.array([], pa.float64())}),
                   tmp_path / "empty.parquet")
    summary = run(str(tmp_path / "empty.parquet"), str(tmp_path / "out"))
    assert summary.rows == 0 and not summary.statuses
    manifest = pq.read_table(tmp_path / "out" / "manifest.parquet")
    assert manifest.num_rows == 0 and {"price", "status", "sha256"} <= set(manifest.schema.names)
    assert (tmp_path / "out" / "index.html").exists()


def test_the_hostile_catalog_rejects_each_bad_row_with_its_reason_and_makes_every_good_one(tmp_path):
    summary = run(write_hostile_catalog(tmp_path / "hostile.parquet"), str(tmp_path / "out"))
    check_manifest(pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist())
    assert summary.statuses == {"rejected": len(BAD_ROWS), "generated": len(GOOD_ROWS) + 1}


@pytest.mark.parametrize("prompts, reason", [
    (pa.array([1, 2], pa.int64()), "prompt must be text, got int 1"),
    (pa.array([["a", "mug"], []], pa.list_(pa.string())), "prompt must be text, got list ['a', 'mug']"),
    (pa.array([{"text": "a mug"}, None], pa.struct([("text", pa.string())])), "prompt must be text, got dict"),
    (pa.array([1.5, float("inf")]), "prompt must be text, got float 1.5"),
])
def test_a_prompt_column_of_another_type_rejects_its_rows_and_the_run_ends(tmp_path, prompts, reason):
    pq.write_table(pa.table({"prompt": prompts, "id": ["a", "b"]}), tmp_path / "typed.parquet")
    summary = run(str(tmp_path / "typed.parquet"), str(tmp_path / "out"))
    assert summary.statuses == {"rejected": 2}
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert reason in rows[0]["reason"] and rows[0]["prompt"] is None


def test_a_seed_column_of_infinities_rejects_those_rows(tmp_path):
    pq.write_table(pa.table({"prompt": ["a red mug", "a blue mug", "a green mug"],
                             "seed": [float("inf"), float("-inf"), 42.0]}), tmp_path / "seeds.parquet")
    summary = run(str(tmp_path / "seeds.parquet"), str(tmp_path / "out"))
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert [r["status"] for r in rows] == ["rejected", "rejected", "generated"] and summary.rows == 3
    assert ["seed must be a finite whole number, got inf", "seed must be a finite whole number, got -inf"] == \
        [r["reason"] for r in rows[:2]]


def test_refresh_to_an_empty_catalog_removes_every_row_and_back(tmp_path):
    from fluxcat.refresh import finish_refresh, prepare_refresh
    from fluxcat.store import Store

    rows = pa.table({"id": ["a", "b"], "prompt": ["a red mug", "a blue mug"]})
    pq.write_table(rows, tmp_path / "two.parquet")
    pq.write_table(rows.slice(0, 0), tmp_path / "none.parquet")
    output = str(tmp_path / "out")
    run(str(tmp_path / "two.parquet"), output)
    counts = []
    for catalog in ("none.parquet", "two.parquet"):
        options = RunOptions(catalog=str(tmp_path / catalog), output=output, backend="fixed")
        with open_run(options) as context:
            shards = [shard.name for shard in plan(context).shards]
            refresh = prepare_refresh(Store(output), shards, "png")
            for shard in refresh.work_shards:
                run_one_shard(context, shard)
        summary = finish_refresh(Store(output), refresh.token, shards, refresh.work_shards)
        counts.append((dict(refresh.counts), summary.run.rows))
    assert counts == [({"removed": 2}, 0), ({"added": 2}, 2)]


def _outcomes(manifest_path) -> dict[str, dict]:
    return {row["id"]: row for row in pq.read_table(manifest_path).to_pylist()}


def test_obfuscated_blocked_terms_and_private_data_are_rejected_row_by_row_on_a_local_backend(tmp_path):
    summary = run(obfuscated_catalog(tmp_path / "obfuscated.parquet"), str(tmp_path / "out"))
    rows = _outcomes(tmp_path / "out" / "manifest.parquet")
    for row_id, _, reason in OBFUSCATED:
        assert rows[row_id]["status"] == "rejected" and reason in rows[row_id]["reason"], (row_id, rows[row_id])
    assert [rows[f"ordinary-{i}"]["reason"] for i in range(len(ORDINARY))] == [None] * len(ORDINARY)
    assert summary.statuses == {"rejected": len(OBFUSCATED), "generated": len(ORDINARY)}


def test_private_data_check_off_lets_a_local_backend_draw_it_but_never_a_blocked_term(tmp_path):
    catalog = obfuscated_catalog(tmp_path / "obfuscated.parquet")
    options = RunOptions(catalog=catalog, output=str(tmp_path / "out"), backend="fixed", private_data_check=False)
    with open_run(options) as run:
        plan(run)
    reasons = {row["id"]: row["reason"] for row in _plan_rows(tmp_path / "out")}
    for row_id, _, reason in OBFUSCATED:
        assert (reasons[row_id] is None) == ("personal information" in reason), (row_id, reasons[row_id])


def test_a_hosted_backend_refuses_private_data_even_with_the_check_off(tmp_path, monkeypatch):
    monkeypatch.setenv("FAL_KEY", "k-123456")
    catalog = obfuscated_catalog(tmp_path / "obfuscated.parquet")
    options = RunOptions(catalog=catalog, output=str(tmp_path / "out"), backend="fal", private_data_check=False,
                         backend_options={"base_url": "http://127.0.0.1:9", "blocked_terms": "dragon fire"})
    with open_run(options) as run:
        plan(run)
    rejected = {row["id"]: row["reason"] for row in _plan_rows(tmp_path / "out") if row["reason"]}
    assert set(rejected) == {row_id for row_id, _, _ in OBFUSCATED}


def _plan_rows(output) -> list[dict]:
    from fluxcat.layout import PLAN_DIR

    return [row for path in sorted((output / PLAN_DIR).glob("*.parquet")) for row in pq.read_table(path).to_pylist()]
