"""--budget-usd holds across a cluster's worker processes: the flow allots each shard a share of the run's budget,
takes back what a finished shard left, and the workers, together, spend no more than the cap."""

from __future__ import annotations

import pickle

import pytest
from prefect import flow, task

from flows.shards import _budgeted, allot
from fluxcat.manifest import read_manifest
from fluxcat.store import Store
from tasks.generation import BudgetShare
from tests.conftest import write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer

PRICE = 0.003  # fal's $0.012 per megapixel, for a 512x512 image
BUDGET = 0.0075  # two and a half images: a cap below the catalog's cost
ROWS = [{"id": f"r{n}", "prompt": f"a ceramic mug, glaze number {n}", "image_size": "square"} for n in range(6)]


def test_a_budget_that_covers_every_shard_scales_each_share_up_for_retries():
    available, needs, shares = 1.0, [0.006, 0.003, 0.009], []
    for i, need in enumerate(needs):
        shares.append(allot(available, need, sum(needs[i:]), len(needs) - i))
        available -= shares[-1]
    assert sum(shares) == pytest.approx(1.0) and all(share >= need for share, need in zip(shares, needs))
    assert shares[0] / needs[0] == pytest.approx(shares[2] / needs[2])


def test_a_budget_below_the_cost_funds_whole_shards_in_turn_never_more_than_is_left():
    available, needs, shares = BUDGET, [0.006, 0.006, 0.006], []
    for i, need in enumerate(needs):
        shares.append(allot(available, need, sum(needs[i:]), len(needs) - i))
        available -= shares[-1]
    # in proportion each would get $0.0025, less than one image: none would be made
    assert shares == pytest.approx([0.006, 0.0015, 0.0]) and sum(shares) <= BUDGET


def test_without_prices_the_shards_running_at_once_share_equally():
    assert allot(1.0, 0.0, 0.0, 4) == 0.25 and allot(1.0, 0.0, 0.0, 1) == 1.0
    assert allot(1.0, 0.0, 0.5, 2) == 0.0  # a free shard (white packshots) beside priced ones


def test_a_share_travels_without_its_spending_and_names_the_cap_when_it_is_spent():
    share = BudgetShare(0.004, BUDGET)
    assert share.budget().admit(PRICE) and not share.budget().admit(PRICE)
    reason = share.budget().skip_reason(PRICE)
    assert reason.startswith("budget: $0.0030 of this shard's $0.0040 share of --budget-usd $0.0075")
    assert reason.endswith("rerun with a larger --budget-usd to make it")
    arrived = pickle.loads(pickle.dumps(share))  # what a worker process receives: the share, not the flow's spending
    assert arrived.budget().limit_usd == 0.004 and arrived.budget().spent_usd == 0.0


@task(retries=1, retry_delay_seconds=0)
def spend_then_fail_once(budget: BudgetShare) -> list[float]:
    spending = budget.budget()
    if spending.spent_usd == 0.0:
        assert spending.admit(PRICE)
        spending.settle(PRICE, PRICE)
        raise RuntimeError("the worker lost its connection after paying for an image")
    return [spending.spent_usd, spending.limit_usd]


@flow
def retried_shard() -> list[float]:
    return spend_then_fail_once(pickle.loads(pickle.dumps(BudgetShare(0.004, BUDGET))))


def test_a_retried_shard_spends_only_what_its_earlier_attempt_left(prefect_harness):
    """Prefect resolves a task run's parameters once: the retry sees the share its first attempt spent."""
    assert retried_shard() == [PRICE, 0.004]


@task
def spend_what_fits(options, shard: str, label: str, budget: BudgetShare) -> dict:
    """A shard of two images at PRICE, one of which the provider refuses (nothing charged)."""
    spending = budget.budget()
    for charged in (PRICE, 0.0):
        if spending.admit(PRICE):
            spending.settle(PRICE, charged)
    return {"shard": shard, "share": budget.share_usd, "budget_spent_usd": spending.spent_usd}


def test_a_finished_shard_leaves_what_it_did_not_spend_to_the_next(prefect_harness, monkeypatch):
    from flows import shards as module
    from flows.runners import shard_runner
    from fluxcat.budget import Budget

    monkeypatch.setattr(module, "generate_shard_task", spend_what_fits)
    budget = Budget(BUDGET)

    @flow
    def one_at_a_time() -> list[dict]:
        with shard_runner("threads", "fal", workers=1) as submit:
            return list(_budgeted(submit, None, [{"name": n, "est_cost_usd": 2 * PRICE} for n in "abc"], budget))

    outcomes = one_at_a_time()
    # a: $0.006, spends $0.003; b: the $0.0045 left (without the return, $0.0015: nothing made)
    assert [o["share"] for o in outcomes] == pytest.approx([0.006, 0.0045, 0.0015])
    assert [o["budget_spent_usd"] for o in outcomes] == pytest.approx([PRICE, PRICE, 0.0])
    assert budget.spent_usd == pytest.approx(2 * PRICE) and budget.reserved_usd == pytest.approx(0.0)


@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_two_worker_processes_spend_one_budget_together(engine, prefect_harness, tmp_path, monkeypatch):
    """One shard per image, two worker processes: each process on its own budget made up to 2 images (4 in all,
    $0.012 on a $0.0075 cap); the shares hold the run to the cap, counted at the provider."""
    if engine == "ray":
        pytest.importorskip("prefect_ray")
    from flows.catalog import generate_catalog

    key = secret_key()
    monkeypatch.setenv("FAL_KEY", key)  # the local cluster's worker processes inherit it as they start
    output = str(tmp_path / "out")
    with FalServer(key) as fal:
        result = generate_catalog(catalog=write_catalog(tmp_path / "catalog.parquet", ROWS), output=output,
                                  images={"shard_size": 1, "qa": False},  # the double's flat images would be reseeded
                                  backend={"backend": "fal", "budget_usd": BUDGET,
                                           "backend_options": {"base_url": fal.url, **FAST}},
                                  execution={"task_runner": engine, "workers": 2})
        created = sum(count for prompt, count in fal.creates.items() if prompt != "refused")
    rows = read_manifest(Store(output)).to_pylist()
    generated = [r for r in rows if r["status"] == "generated"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert created * PRICE <= BUDGET + 1e-9 and created == len(generated) == 2
    assert sum(r["cost_usd"] or 0.0 for r in rows) <= BUDGET + 1e-9 and result["cost_usd"] <= BUDGET + 1e-9
    assert len(skipped) == len(ROWS) - 2 and all("--budget-usd" in r["reason"] for r in skipped)


def test_the_shards_in_flight_are_as_many_as_the_cluster_runs_at_once():
    from flows.runners import dask_slots, ray_slots
    from fluxcat import placement

    hosted = [{"nthreads": 4, "resources": {}}, {"nthreads": 4, "resources": {}}]
    gpus = [{"nthreads": 1, "resources": {"GPU": 1}}, {"nthreads": 2, "resources": {"GPU": 2}}, {"nthreads": 8}]
    assert dask_slots(hosted, {}) == 8 and dask_slots(gpus, {"GPU": 1}) == 3 and dask_slots([], {}) == 1
    assert ray_slots({"CPU": 2.0}, placement.ray_shard_options("fal", 0)) == 2 * placement.HOSTED_SHARDS_PER_CPU
    assert ray_slots({"CPU": 16.0, "GPU": 2.0}, placement.ray_shard_options("diffusers", 2)) == 2
