"""Asset refresh against the real core: a first run, then catalog changes, deleted images, id filters and prune."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from fluxcat.manifest import HISTORY_DIR, MANIFEST
from fluxcat.pipeline import RunOptions, open_run, plan, run_one_shard
from fluxcat.refresh import finish_refresh, prepare_refresh
from fluxcat.store import Store, image_relpath
from tests.pipeline import run_catalog

SIZE = {"width": 64, "height": 64}


def rows_v1() -> list[dict]:
    return [
        {"id": "a", "prompt": "a blue ceramic mug on a white table", "price": 10.0, **SIZE},
        {"id": "b", "prompt": "a leather wallet, studio light", "price": 20.0, **SIZE},
        {"id": "c", "prompt": "a steel water bottle", "seed": 7, "price": 30.0, **SIZE},
        {"id": "d", "prompt": "a wool scarf folded", "price": 40.0, **SIZE},
    ]


def rows_v2() -> list[dict]:
    """a: only its price changed; b: new prompt; c: new seed; d: gone; e: new."""
    a, b, c, _ = rows_v1()
    return [
        {**a, "price": 11.0},
        {**b, "prompt": "a leather wallet, outdoor light"},
        {**c, "seed": 8},
        {"id": "e", "prompt": "a canvas tote bag", "price": 50.0, **SIZE},
    ]


def options(catalog: str, output: str, **overrides) -> RunOptions:
    return RunOptions(catalog=catalog, output=output, backend="fixed", shard_size=2, **overrides)


def first_run(catalog: str, output: str, **overrides) -> None:
    run_catalog(options(catalog, output, **overrides))


def refresh(catalog: str, output: str, ids=None, prune=False, **overrides):
    """The refresh flow's steps, in one run's context."""
    opts = options(catalog, output, **overrides)
    store = Store(output)
    with open_run(opts) as run:
        plan_shards = [s.name for s in plan(run).shards]
        work = prepare_refresh(store, plan_shards, opts.image_format, ids)
        for shard in work.work_shards:
            run_one_shard(run, shard)
    return work, finish_refresh(store, work.token, plan_shards, work.work_shards, prune)


def manifest_by_id(output: str) -> dict[str, dict]:
    return {r["id"]: r for r in pq.read_table(os.path.join(output, MANIFEST)).to_pylist()}


def image_path(output: str, row: dict) -> str:
    return os.path.join(output, image_relpath(row["key"], "png"))


@pytest.fixture
def first(catalog_factory, tmp_path):
    output = str(tmp_path / "out")
    first_run(catalog_factory(rows_v1()), output)
    return output, manifest_by_id(output)


def test_refresh_counts_and_regenerates_only_new_and_changed_rows(first, catalog_factory):
    output, before = first
    mtimes = {i: os.stat(image_path(output, r)).st_mtime_ns for i, r in before.items()}
    work, summary = refresh(catalog_factory(rows_v2()), output)

    assert summary.counts == {"added": 1, "changed": 2, "missing": 0, "unchanged": 1, "removed": 1, "not_selected": 0}
    assert work.images_to_regenerate == 3
    assert summary.made == {"generated": 3}
    assert summary.run.statuses == {"generated": 3, "existing": 1}  # a was made by the first run, as `run` says
    after = manifest_by_id(output)
    assert sorted(after) == ["a", "b", "c", "e"]
    # unchanged: same image, same outcome record, untouched file; catalog columns follow today's catalog
    for column in ("key", "sha256", "created_at", "bytes"):
        assert after["a"][column] == before["a"][column]
    assert before["a"]["status"] == "generated" and after["a"]["status"] == "existing"
    assert after["a"]["price"] == 11.0
    assert os.stat(image_path(output, after["a"])).st_mtime_ns == mtimes["a"]
    # changed inputs give new content keys and new images; the old images stay (no prune)
    for row_id in ("b", "c"):
        assert after[row_id]["key"] != before[row_id]["key"] and after[row_id]["status"] == "generated"
        assert os.path.exists(image_path(output, after[row_id]))
        assert os.path.exists(image_path(output, before[row_id]))
    assert os.path.exists(image_path(output, before["d"]))
    assert os.path.exists(image_path(output, after["e"]))
    # which rows changed and why: the refresh artifact's list, in catalog order, removed ids last
    assert summary.changes == [
        {"id": "b", "change": "prompt changed", "outcome": "generated"},
        {"id": "c", "change": "settings changed (model, size, steps, guidance, seed or image count)",
         "outcome": "generated"},
        {"id": "e", "change": "new", "outcome": "generated"},
        {"id": "d", "change": "removed from the catalog", "outcome": "left the manifest"}]
    # history: one timestamped manifest per run, manifest.parquet equal to the newest
    history = sorted(os.listdir(os.path.join(output, HISTORY_DIR)))
    assert len(history) == 2
    newest = pq.read_table(os.path.join(output, HISTORY_DIR, history[-1]))
    assert newest.equals(pq.read_table(os.path.join(output, MANIFEST)))
    assert sorted(r["id"] for r in pq.read_table(os.path.join(output, HISTORY_DIR, history[0])).to_pylist()) == list("abcd")


def test_refresh_of_an_unchanged_catalog_makes_nothing(first, catalog_factory):
    output, before = first
    work, summary = refresh(catalog_factory(rows_v1()), output)
    assert work.work_shards == [] and summary.counts["unchanged"] == 4
    assert summary.made == {} and summary.run.statuses == {"existing": 4}  # carried over: made by the first run
    assert summary.changes == [] and summary.changes_table()[0]["id"] == "(none)"
    for row_id, row in manifest_by_id(output).items():
        assert (row["key"], row["sha256"], row["created_at"]) == (before[row_id]["key"], before[row_id]["sha256"],
                                                                  before[row_id]["created_at"])


def test_missing_image_is_regenerated(first, catalog_factory):
    output, before = first
    os.remove(image_path(output, before["b"]))
    work, summary = refresh(catalog_factory(rows_v1()), output)
    assert summary.counts["missing"] == 1 and summary.counts["unchanged"] == 3
    assert work.images_to_regenerate == 1
    after = manifest_by_id(output)
    assert os.path.exists(image_path(output, after["b"]))
    assert after["b"]["key"] == before["b"]["key"] and after["b"]["created_at"] > before["b"]["created_at"]
    assert summary.changes == [{"id": "b", "change": "image missing (never made, failed, or deleted)",
                                "outcome": "generated"}]


def test_failed_rows_count_as_missing_and_are_retried(catalog_factory, tmp_path):
    output = str(tmp_path / "out")
    catalog = catalog_factory(rows_v1())
    first_run(catalog, output, backend_options={"fail_prompts_containing": "wallet"})
    assert manifest_by_id(output)["b"]["status"] == "failed"
    _, summary = refresh(catalog, output)
    assert summary.counts["missing"] == 1 and summary.made == {"generated": 1}
    assert manifest_by_id(output)["b"]["status"] == "generated"


def test_ids_filter_touches_only_those_ids(first, catalog_factory):
    output, before = first
    _, summary = refresh(catalog_factory(rows_v2()), output, ids=["b"])
    assert summary.counts["changed"] == 1 and summary.counts["not_selected"] == 4  # a, c, d and the new e
    after = manifest_by_id(output)
    assert sorted(after) == ["a", "b", "c", "d"]  # e not added; d not removed
    assert after["b"]["key"] != before["b"]["key"]
    for row_id in ("a", "c", "d"):  # left as the previous manifest recorded them, their images made before
        assert after[row_id] == {**before[row_id], "status": "existing"}
    assert [c["id"] for c in summary.changes] == ["b"]


def test_prune_deletes_only_images_no_longer_used(first, catalog_factory):
    output, before = first
    _, summary = refresh(catalog_factory(rows_v2()), output, prune=True)
    assert summary.pruned_images == 3  # d removed; b and c replaced
    for row_id in ("b", "c", "d"):
        assert not os.path.exists(image_path(output, before[row_id]))
    after = manifest_by_id(output)
    for row in after.values():
        assert os.path.exists(image_path(output, row))


def test_first_refresh_without_manifest_adds_everything(catalog_factory, tmp_path):
    output = str(tmp_path / "out")
    _, summary = refresh(catalog_factory(rows_v1()), output)
    assert summary.counts["added"] == 4 and summary.made == {"generated": 4}


def test_the_changes_list_is_capped_and_says_how_many_more(first, catalog_factory):
    output, _ = first
    _, summary = refresh(catalog_factory([{"id": f"n{i}", "prompt": f"a paper lamp, photo {i}", **SIZE}
                                          for i in range(5)]), output)
    assert [c["id"] for c in summary.changes] == ["n0", "n1", "n2", "n3", "n4", "a", "b", "c", "d"]
    table = summary.changes_table(limit=3)
    assert [r["id"] for r in table] == ["n0", "n1", "n2", "and 6 more"]
    assert table[0] == {"id": "n0", "change": "new", "outcome": "generated"}


def test_a_row_now_rejected_says_so(first, catalog_factory):
    output, _ = first
    a, b, c, d = rows_v1()
    _, summary = refresh(catalog_factory([a, {**b, "width": -5}, c, d]), output)
    assert summary.changes == [{"id": "b", "change": "now rejected", "outcome": "rejected"}]
