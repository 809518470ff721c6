"""A run's context in the Prefect layer: the flow's, closed when the flow ends; a worker process's own, closed when
it has served more runs than it keeps; and two runs in one process share nothing."""

from __future__ import annotations

import pytest

from fluxcat.pipeline import RunOptions, open_run
from tasks import runs


def options(tmp_path, run_id: str, **extra) -> RunOptions:
    return RunOptions(catalog="c.parquet", output=str(tmp_path / "out"), run_id=run_id, **{"backend": "fixed", **extra})


def closes(run) -> list:
    closed = []
    close = run.backend.close
    run.backend.close = lambda: (closed.append(run.run_id), close())
    return closed


def test_tasks_use_the_flows_context_and_the_flow_closes_it(tmp_path):
    with runs.run_context(options(tmp_path, "run-a")) as run:
        closed = closes(run)
        assert runs.run_for(options(tmp_path, "run-a")) is run
        with runs.run_context(options(tmp_path, "run-b")) as other:  # a second run in the same process
            assert runs.run_for(options(tmp_path, "run-b")) is other
            assert (other.backend, other.ledger, other.images, other.read_text) != (run.backend, run.ledger,
                                                                                     run.images, run.read_text)
    assert closed == ["run-a"] and "run-a" not in runs._runs and "run-b" not in runs._runs


def test_a_worker_process_builds_its_own_and_closes_the_least_recently_used(tmp_path):
    built = [runs.run_for(options(tmp_path, f"w{n}")) for n in range(runs.WORKER_RUNS)]
    closed = closes(built[0])
    assert runs.run_for(options(tmp_path, "w0")) is built[0]  # the run's later shards reuse it
    runs.run_for(options(tmp_path, "w-new"))
    assert closed == [] and "w1" not in runs._runs  # w1 was least recently used
    for run_id in list(runs._runs):
        runs._runs.pop(run_id).close()


def test_two_runs_of_one_hosted_backend_share_no_breaker_cap_budget_or_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("FAL_KEY", "sk-test-0123456789abcdef")
    router = {"backend": "router", "budget_usd": 1.0,
              "backend_options": {"providers": "fal", "fal_base_url": "http://127.0.0.1:9"}}
    first, second = open_run(options(tmp_path, "h1", **router)), open_run(options(tmp_path, "h2", **router))
    one, two = first.backend.backends["fal"], second.backend.backends["fal"]
    one.circuit.trip()
    assert two.circuit.state == "closed" and one.gauge is not two.gauge and one.loop is not two.loop
    assert first.budget is not second.budget and one.ledger is first.ledger is not second.ledger
    first.close()
    second.close()


def test_a_flows_run_needs_a_run_id(tmp_path):
    with pytest.raises(ValueError, match="run_id"):
        with runs.run_context(options(tmp_path, "")):
            pass
