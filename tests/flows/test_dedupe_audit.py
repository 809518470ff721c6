"""The dedupe audit trail as a Prefect markdown artifact, read back from Prefect's own API (test harness server);
every dedupe setting reaches the run through the flow's `dedupe` parameter."""

import json

ROWS = [
    {"id": "a", "prompt": "A pair of white trainers on a wooden floor", "image_size": "square"},
    {"id": "b", "prompt": "A pair of white sneakers on a wooden floor", "image_size": "square"},
    {"id": "c", "prompt": "A pair of black trainers on a wooden floor", "image_size": "square"},
    {"id": "d", "prompt": "A canvas tote on a hook, product photo", "image_size": "square"},
    {"id": "e", "prompt": "A canvas shopper bag on a hook, product photo", "image_size": "square"},
]


def test_dry_run_publishes_merges_and_pairs_kept_apart(prefect_harness, tmp_path):
    from flows.catalog import generate_catalog
    from tests.conftest import latest_artifact, write_catalog

    words = tmp_path / "brand_words.json"
    words.write_text(json.dumps({"synonyms": [["tote", "shopper bag"]]}))
    catalog, output = write_catalog(tmp_path / "catalog.parquet", ROWS), str(tmp_path / "out")
    dedupe = {"dedupe_lexicon": str(words), "dedupe_audit": 1, "dedupe_threshold": 0.5, "embedding_batch_size": 2}
    result = generate_catalog(catalog=catalog, output=output, backend="tiny", scope={"dry_run": True}, dedupe=dedupe)
    assert [(d["row_number"], d["canonical"]) for d in result["plan"]["duplicates"]] == [(1, 0), (4, 3)]
    assert len(result["plan"]["kept_apart"]) == 1  # dedupe_audit reached the run

    artifact = latest_artifact("dedupe-audit", output)
    assert artifact["type"] == "markdown"
    assert "2 rows merged" in artifact["data"] and "sneakers = trainers (" in artifact["data"]
    assert "differs in colour: white vs black" in artifact["data"]
