"""Hostile catalogs through the core run path: colliding column names, empty catalogs, every bad value."""

import pyarrow as pa
import pyarrow.parquet as pq

from fluxcat.pipeline import RunOptions, finish, plan, run_one_shard


def run(catalog: str, output: str):
    options = RunOptions(catalog=catalog, output=output, backend="fixed")
    shards = [shard.name for shard in plan(options).shards]
    for shard in shards:
        run_one_shard(options, shard)
    return finish(options, shards, set())


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
