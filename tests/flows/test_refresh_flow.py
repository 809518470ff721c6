"""`fluxcat refresh` and `fluxcat run` through the CLI: the refresh flow end to end, and a held output refused."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from fluxcat.lease import LEASE_PATH
from fluxcat.store import Store
from fluxcat_cli.main import main
from tests.conftest import latest_artifact

ROWS = [{"id": f"sku-{n}", "prompt": f"catalog photo of item {n}", "width": 64, "height": 64} for n in range(4)]
COMMON = ["--backend", "fixed", "--dedupe", "exact", "--shard-size", "2"]


def _rows(artifact: dict) -> list[dict]:
    return artifact["data"] if isinstance(artifact["data"], list) else json.loads(artifact["data"])


def manifest(output: str) -> dict[str, dict]:
    return {r["id"]: r for r in pq.read_table(f"{output}/manifest.parquet").to_pylist()}


def test_refresh_through_the_cli(catalog_factory, tmp_path, prefect_harness):
    output = str(tmp_path / "out")
    assert main(["run", catalog_factory(ROWS), "-o", output, *COMMON]) == 0
    first = manifest(output)
    changed = [dict(r) for r in ROWS] + [{"id": "sku-new", "prompt": "a new item", "width": 64, "height": 64}]
    changed[0]["prompt"] = "catalog photo of item 0, side view"
    changed[1]["prompt"] = "catalog photo of item 1, side view"
    catalog = catalog_factory(changed)

    assert main(["refresh", catalog, "-o", output, *COMMON, "--ids", "sku-0,sku-new"]) == 0
    second = manifest(output)
    assert second["sku-0"]["prompt"].endswith("side view") and second["sku-0"]["key"] != first["sku-0"]["key"]
    assert second["sku-1"] == {**first["sku-1"], "status": "existing"}  # not selected: as before, made before
    assert second["sku-new"]["status"] == "generated"
    changes = latest_artifact("refresh-changes", output, "refresh-assets")
    assert changes["type"] == "table" and _rows(changes) == [
        {"id": "sku-0", "change": "prompt changed", "outcome": "generated"},
        {"id": "sku-new", "change": "new", "outcome": "generated"}]

    assert main(["refresh", catalog, "-o", output, *COMMON]) == 0  # now sku-1 as well; the rest is carried over
    third = manifest(output)
    remade = {i for i in third if third[i]["created_at"] != second[i]["created_at"]}
    assert remade == {"sku-1"}
    assert {i: r["status"] for i, r in third.items()} == {**{i: "existing" for i in third}, "sku-1": "generated"}
    assert _rows(latest_artifact("refresh-changes", output, "refresh-assets")) == [
        {"id": "sku-1", "change": "prompt changed", "outcome": "generated"}]
    assert len(list((tmp_path / "out" / "manifests").iterdir())) == 3


def test_a_held_output_is_refused_with_exit_3(catalog_factory, tmp_path, prefect_harness):
    output = str(tmp_path / "out")
    Store(output).write_bytes(LEASE_PATH, json.dumps({"token": "t", "owner": "flow run nightly-42", "expires_at": 4e9}).encode())
    assert main(["run", catalog_factory(ROWS), "-o", output, *COMMON]) == 3
    assert main(["refresh", catalog_factory(ROWS), "-o", output, *COMMON, "--lease-wait", "0.5"]) == 3
    assert not (tmp_path / "out" / "manifest.parquet").exists()
    assert json.loads(Store(output).read_bytes(LEASE_PATH))["owner"] == "flow run nightly-42"  # left alone


def test_run_and_refresh_with_defaults_agree_on_every_row(catalog_factory, tmp_path, prefect_harness):
    """One settings schema: a default refresh plans exactly the keys a default run made, semantic duplicates included."""
    rows = [{"id": "a", "prompt": "A red leather wallet on a white background, product photo", "width": 64, "height": 64},
            {"id": "b", "prompt": "A red leather wallet on a white background, product photograph", "width": 64,
             "height": 64},
            {"id": "c", "prompt": "A brown leather wallet on a white background, product photo", "width": 64, "height": 64}]
    catalog, output = catalog_factory(rows), str(tmp_path / "out")
    assert main(["run", catalog, "-o", output, "-b", "fixed"]) == 0
    first = manifest(output)
    assert first["b"]["status"] == "duplicate" and first["c"]["status"] == "generated"  # the default is semantic
    assert main(["refresh", catalog, "-o", output, "-b", "fixed"]) == 0
    second = manifest(output)
    columns = ("key", "image_uri", "duplicate_of", "created_at")
    assert {i: [r[c] for c in columns] for i, r in second.items()} == {i: [r[c] for c in columns] for i, r in first.items()}
    assert {i: r["status"] for i, r in second.items()} == {"a": "existing", "b": "duplicate", "c": "existing"}
