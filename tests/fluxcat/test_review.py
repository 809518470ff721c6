"""A person's review in the core: the rows offered, and each decision recorded in the shard parts and the manifest."""

from __future__ import annotations

import json
import logging

import pytest

from fluxcat.backends.fixed import FixedBackend
from fluxcat.layout import PARTS_DIR
from fluxcat.manifest import read_manifest
from fluxcat.pipeline import RunOptions, finish, open_run
from fluxcat.review import Decision, record_decisions, rows_to_review
from fluxcat.store import Store
from tests.pipeline import run_catalog

ROWS = [{"id": f"v{n}", "prompt": f"a walnut side table, photo {n}", "width": 64, "height": 64} for n in range(3)]


class SeedsAsked(FixedBackend):
    """The fixed backend, keeping the seed of every image it is asked for."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seeds: list[int] = []

    def generate(self, requests):
        self.seeds += [request.seed for request in requests]
        yield from super().generate(requests)


def made(tmp_path, catalog_factory, rows=ROWS):
    options = RunOptions(catalog=catalog_factory(rows), output=str(tmp_path / "out"), backend="fixed", dedupe="off")
    report, _, _ = run_catalog(options)
    return options, Store(options.output), [shard.name for shard in report.shards]


def test_each_decision_is_recorded_in_the_parts_and_the_next_manifest(tmp_path, catalog_factory):
    options, store, shards = made(tmp_path, catalog_factory)
    rows = rows_to_review(store, shards, "all")
    assert [row["field"] for row in rows] == ["row_0_0", "row_1_0", "row_2_0"] and all(r["thumbnail"] for r in rows)
    decisions = {"row_0_0": Decision("approve"), "row_1_0": Decision("reject", "the legs are cut off"),
                 "row_2_0": Decision("regenerate", "too dark", seed=4242)}
    backend = SeedsAsked()
    with open_run(options, backend=backend) as run:
        counts = record_decisions(run, rows, decisions, "a tester")
    assert counts == {"approve": 1, "reject": 1, "regenerate": 1}
    assert backend.seeds == [4242]  # only the image to regenerate was made again, from the reviewer's seed
    before = read_manifest(store).to_pylist()  # the decisions reach the manifest when the run writes its next one
    assert not [row for row in before if "review" in json.loads(row["qa_details"] or "{}")]
    finish(options, shards, set())
    decided = {row["id"]: row for row in read_manifest(store).to_pylist()}
    review = {name: json.loads(decided[name]["qa_details"])["review"] for name in decided}
    assert decided["v0"]["qa_status"] == "approved" and review["v0"]["decision"] == "approve"
    assert decided["v1"]["qa_status"] == "rejected"
    assert review["v1"]["reason"] == "the legs are cut off" and review["v1"]["by"] == "a tester"
    assert decided["v2"]["seed"] == 4242 and review["v2"] == {**review["v2"], "decision": "regenerate", "seed": 4242}
    assert decided["v2"]["qa_status"] not in ("approved", "rejected")  # QA's verdict on the new image
    assert decided["v2"]["status"] == "generated" and "at" in review["v2"]
    parts = {row["id"]: row for shard in shards for row in store.read_table(f"{PARTS_DIR}/{shard}.parquet").to_pylist()}
    assert parts["v1"]["qa_status"] == "rejected"  # kept in the parts, so every later run's manifest keeps it


def test_an_image_left_without_a_decision_is_left_as_qa_left_it(tmp_path, catalog_factory):
    options, store, shards = made(tmp_path, catalog_factory)
    rows = rows_to_review(store, shards, "all")
    first = {row["id"]: row["qa_status"] for row in read_manifest(store).to_pylist()}
    with open_run(options) as run:
        counts = record_decisions(run, rows, {"row_1_0": Decision("reject", "blurry")}, "a tester")
    finish(options, shards, set())
    after = {row["id"]: row for row in read_manifest(store).to_pylist()}
    assert counts == {"approve": 0, "reject": 1, "regenerate": 0}
    assert after["v0"]["qa_status"] == first["v0"] and "review" not in json.loads(after["v0"]["qa_details"] or "{}")
    assert after["v1"]["qa_status"] == "rejected"


def test_a_form_holds_at_most_the_limit_and_the_log_says_how_many_were_left_out(tmp_path, catalog_factory, caplog):
    _, store, shards = made(tmp_path, catalog_factory)
    with caplog.at_level(logging.INFO, logger="fluxcat.review"):
        offered = rows_to_review(store, shards, "all", limit=2)
    assert [row["id"] for row in offered] == ["v0", "v1"]
    assert [r.getMessage() for r in caplog.records if r.name == "fluxcat.review"] == [
        "review: 1 more images were not offered for review (a form holds at most 2, flagged first, then in catalog "
        "order); they stay as QA left them"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fluxcat.review"):
        assert len(rows_to_review(store, shards, "all", limit=3)) == 3
    assert not [r for r in caplog.records if r.name == "fluxcat.review"]


def test_a_decision_must_be_one_the_form_offers():
    with pytest.raises(ValueError, match="^review decision must be one of approve, reject, regenerate, got 'delete'$"):
        Decision("delete")
