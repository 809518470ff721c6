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


PROVIDER = {FalServer: ("fal", "FAL_KEY"), ReplicateServer: ("replicate", "REPLICATE_API_TOKEN"),
            SegmindServer: ("segmind", "SEGMIND_API_KEY")}  # double -> (router provider, its key's variable)


def run_router(tmp_path, monkeypatch, first, second, prompt: str, budget: float):
    """One row through the router over two provider doubles (classes), cheapest first (`weight_price`); returns
    (the doubles, the manifest's row, the run's Budget)."""
    keys = {server: secret_key() for server in (first, second)}
    for server, key in keys.items():
        monkeypatch.setenv(PROVIDER[server][1], key)
    (a, _), (b, _) = PROVIDER[first], PROVIDER[second]
    rows = [{"id": "r0", "prompt": prompt, "image_size": "square", "model": "schnell"}]
    catalog, runs = write_catalog(tmp_path / "c.parquet", rows), []
    with first(keys[first]) as one, second(keys[second]) as two:
        options = {"providers": f"{a},{b}", "weight_price": 1, **FAST, f"{a}_base_url": one.url,
                   f"{b}_base_url": two.url}
        _, _, manifest = run_pipeline(catalog, str(tmp_path / "out"), "router", options, budget_usd=budget,
                                      threads=1, on_run=runs.append)
    return (one, two), manifest[0], runs[0].budget


def test_the_router_counts_what_a_provider_it_tried_was_charged(tmp_path, monkeypatch):
    """fal makes the image at the wrong size (charged; its job stays open, so Replicate creates nothing for it)."""
    prompt = "fault:wrong-size a vase"
    (fal, replicate), row, budget = run_router(tmp_path, monkeypatch, FalServer, ReplicateServer, prompt, 1.0)
    assert fal.creates[prompt] == 1 and sum(replicate.creates.values()) == 0
    assert row["status"] == "failed" and row["cost_usd"] == pytest.approx(PRICE)
    assert budget.spent_usd == pytest.approx(PRICE)


def test_the_router_does_not_fall_back_past_what_the_image_reserved(tmp_path, monkeypatch):
    """Segmind ($0.003) makes the image at the wrong size and is paid; Replicate ($0.020) would bring the image to
    $0.023, past the $0.020 reserved for it (its dearest provider), so the router stops there: spend never passes
    the reservation, and so never the cap."""
    prompt = "fault:wrong-size a vase"
    (segmind, replicate), row, budget = run_router(tmp_path, monkeypatch, SegmindServer, ReplicateServer, prompt,
                                                   0.020)
    assert segmind.creates[prompt] == 1 and sum(replicate.creates.values()) == 0
    assert row["status"] == "failed" and "a rerun makes it" in row["reason"]
    assert budget.spent_usd == pytest.approx(0.003) and budget.reserved_usd == pytest.approx(0)
