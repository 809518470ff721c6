"""`--budget-usd` counts what the provider charged, images or not: an attempt the provider made (its result then
refused here) or left in flight costs its price; one it never created, or says ended without an image, costs $0.
Against the fal and Replicate doubles, with creates counted there."""

import pytest

from tests.conftest import write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, run_pipeline, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, ReplicateServer, SegmindServer

PRICE = 0.003  # fal schnell, one 512x512 image


@pytest.fixture
def fal(monkeypatch):
    key = secret_key()
    monkeypatch.setenv("FAL_KEY", key)
    with FalServer(key) as server:
        yield server


def run(tmp_path, fal, prompts: list[str], budget: float, shard_size: int):
    """One run, its shards one after the other: the first shard's failures settle before the next is admitted."""
    rows = [{"id": f"r{i}", "prompt": p, "image_size": "square", "model": "schnell"} for i, p in enumerate(prompts)]
    catalog = write_catalog(tmp_path / "c.parquet", rows)
    runs = []
    _, _, manifest = run_pipeline(catalog, str(tmp_path / "out"), "fal", {**FAST, "base_url": fal.url},
                                  budget_usd=budget, shard_size=shard_size, threads=1, on_run=runs.append)
    return runs[0].budget, {row["prompt"]: row for row in manifest}


def test_a_billed_failure_counts_against_the_budget_and_the_cap_stops_the_rest(tmp_path, fal):
    """The double makes each `wrong-size` image at half size: fal made and charged it, fluxcat refuses it."""
    prompts = [f"fault:wrong-size a mug, angle {i}" for i in range(3)] + [f"a mug, angle {i}" for i in range(3)]
    budget, rows = run(tmp_path, fal, prompts, budget=4 * PRICE, shard_size=3)
    created = sum(fal.creates.values())
    assert created == 4 and created * PRICE <= 4 * PRICE + 1e-9, dict(fal.creates)  # paid for 4, then stopped
    assert budget.spent_usd == pytest.approx(created * PRICE) and budget.reserved_usd == pytest.approx(0)
    assert [row["status"] for row in rows.values()] == ["failed"] * 3 + ["generated"] + ["skipped"] * 2
    assert all("--budget-usd" in row["reason"] for row in rows.values() if row["status"] == "skipped")
    billed = [row for row in rows.values() if row["status"] == "failed"]
    assert all("256x256 image for a 512x512" in row["reason"] for row in billed)
    assert [row["cost_usd"] for row in billed] == [pytest.approx(PRICE)] * 3  # each row says what it cost
    assert sum(row["cost_usd"] or 0 for row in rows.values()) == pytest.approx(budget.spent_usd)


def test_a_failure_nothing_was_charged_for_costs_nothing(tmp_path, fal):
    """Refused at submit (no job created) and a job fal says ended in an error: $0, the budget goes to the rest."""
    refused, errored = "fault:not-retryable-always a lamp", "fault:completed-error a rug"
    good = [f"a lamp on a desk, angle {i}" for i in range(3)]
    budget, rows = run(tmp_path, fal, [refused, errored, *good], budget=3 * PRICE, shard_size=2)
    assert fal.creates[refused] == 0 and fal.creates[errored] == 1
    assert [rows[p]["status"] for p in (refused, errored)] == ["failed", "failed"]
    assert rows[refused]["cost_usd"] == 0 and rows[errored]["cost_usd"] == 0
    assert [rows[p]["status"] for p in good] == ["generated"] * 3  # the failures' reservations came back
    assert budget.spent_usd == pytest.approx(3 * PRICE) and budget.reserved_usd == pytest.approx(0)


def test_the_router_counts_what_a_provider_it_tried_was_charged(tmp_path, monkeypatch):
    """fal makes the image at the wrong size (charged; its job stays open, so Replicate creates nothing for it)."""
    keys = {env: secret_key() for env in ("FAL_KEY", "REPLICATE_API_TOKEN")}
    for env, value in keys.items():
        monkeypatch.setenv(env, value)
    rows = [{"id": "r0", "prompt": "fault:wrong-size a vase", "image_size": "square", "model": "schnell"}]
    catalog, runs = write_catalog(tmp_path / "c.parquet", rows), []
    with FalServer(keys["FAL_KEY"]) as fal, ReplicateServer(keys["REPLICATE_API_TOKEN"]) as replicate:
        options = {"providers": "fal,replicate", "weight_price": 1, **FAST, "fal_base_url": fal.url,
                   "replicate_base_url": replicate.url}
        _, _, manifest = run_pipeline(catalog, str(tmp_path / "out"), "router", options, budget_usd=1.0,
                                      threads=1, on_run=runs.append)
    assert fal.creates["fault:wrong-size a vase"] == 1 and sum(replicate.creates.values()) == 0
    assert manifest[0]["status"] == "failed" and manifest[0]["cost_usd"] == pytest.approx(PRICE)
    assert runs[0].budget.spent_usd == pytest.approx(PRICE)


def test_the_router_does_not_fall_back_past_what_the_image_reserved(tmp_path, monkeypatch):
    """Segmind ($0.003) makes the image at the wrong size and is paid; Replicate ($0.020) would bring the image to
    $0.023, past the $0.020 reserved for it (its dearest provider), so the router stops there: spend never passes
    the reservation, and so never the cap."""
    keys = {env: secret_key() for env in ("SEGMIND_API_KEY", "REPLICATE_API_TOKEN")}
    for env, value in keys.items():
        monkeypatch.setenv(env, value)
    prompt = "fault:wrong-size a vase"
    rows = [{"id": "r0", "prompt": prompt, "image_size": "square", "model": "schnell"}]
    catalog, runs = write_catalog(tmp_path / "c.parquet", rows), []
    with SegmindServer(keys["SEGMIND_API_KEY"]) as segmind, ReplicateServer(keys["REPLICATE_API_TOKEN"]) as replicate:
        options = {"providers": "segmind,replicate", "weight_price": 1, **FAST, "segmind_base_url": segmind.url,
                   "replicate_base_url": replicate.url}
        _, _, manifest = run_pipeline(catalog, str(tmp_path / "out"), "router", options, budget_usd=0.020,
                                      threads=1, on_run=runs.append)
    assert segmind.creates[prompt] == 1 and sum(replicate.creates.values()) == 0
    assert manifest[0]["status"] == "failed" and "a rerun makes it" in manifest[0]["reason"]
    assert runs[0].budget.spent_usd == pytest.approx(0.003) and runs[0].budget.reserved_usd == pytest.approx(0)
