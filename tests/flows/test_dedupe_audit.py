"""The dedupe audit trail as a Prefect markdown artifact, read back from Prefect's own API (test harness server)."""

ROWS = [
    {"id": "a", "prompt": "A pair of white trainers on a wooden floor", "image_size": "square"},
    {"id": "b", "prompt": "A pair of white sneakers on a wooden floor", "image_size": "square"},
    {"id": "c", "prompt": "A pair of black trainers on a wooden floor", "image_size": "square"},
]


def test_dry_run_publishes_merges_and_pairs_kept_apart(prefect_harness, tmp_path):
    from flows.catalog import generate_catalog
    from tests.conftest import latest_artifact, write_catalog

    catalog, output = write_catalog(tmp_path / "catalog.parquet", ROWS), str(tmp_path / "out")
    result = generate_catalog(catalog=catalog, output=output, backend="tiny", scope={"dry_run": True})
    assert [(d["row_number"], d["canonical"]) for d in result["plan"]["duplicates"]] == [(1, 0)]

    artifact = latest_artifact("dedupe-audit", output)
    assert artifact["type"] == "markdown"
    assert "1 rows merged" in artifact["data"] and "sneakers ~ trainers" in artifact["data"]
    assert "differs in colour: white vs black" in artifact["data"]
