"""A run's context in the Prefect layer: the flow's, closed when the flow ends; a worker process's own, closed when
it has served more runs than it keeps; and two runs in one process share nothing."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

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


@pytest.fixture(autouse=True)
def no_worker_runs_left():
    yield
    with runs._lock:
        left = [runs._runs.pop(run_id).run for run_id in list(runs._runs) if run_id not in runs._flow_runs]
    for run in left:
        run.close()


def hosted(tmp_path, monkeypatch, run_id: str) -> RunOptions:
    """A fal run (at a closed port: nothing is sent): closing its context stops its backend's loop thread."""
    monkeypatch.setenv("FAL_KEY", "sk-test-0123456789abcdef")
    return options(tmp_path, run_id, backend="fal", backend_options={"base_url": "http://127.0.0.1:9"})


def loop_thread(run) -> threading.Thread:
    """The run's backend loop thread, started by running a coroutine on it (a closed context's loop is gone)."""
    assert run.backend.loop.submit(asyncio.sleep(0)).result(timeout=5) is None
    return run.backend.loop._thread


def use(options_: RunOptions) -> threading.Thread:
    """One short task of a run in a worker process: its context's loop thread, used and left running."""
    with runs.run_for(options_) as run:
        return loop_thread(run)


def test_tasks_use_the_flows_context_and_the_flow_closes_it(tmp_path):
    with runs.run_context(options(tmp_path, "run-a")) as run:
        closed = closes(run)
        with runs.run_for(options(tmp_path, "run-a")) as used:
            assert used is run
        with runs.run_context(options(tmp_path, "run-b")) as other:  # a second run in the same process
            with runs.run_for(options(tmp_path, "run-b")) as used:
                assert used is other
            assert (other.backend, other.ledger, other.images, other.read_text) != (run.backend, run.ledger,
                                                                                     run.images, run.read_text)
    assert closed == ["run-a"] and "run-a" not in runs._runs and "run-b" not in runs._runs


def test_a_worker_process_builds_its_own_and_closes_the_least_recently_used_idle_one(tmp_path, monkeypatch):
    threads = {f"w{n}": use(hosted(tmp_path, monkeypatch, f"w{n}")) for n in range(runs.WORKER_RUNS)}
    with runs.run_for(hosted(tmp_path, monkeypatch, "w0")) as again:  # the run's later shards reuse it
        assert loop_thread(again) is threads["w0"]
    use(hosted(tmp_path, monkeypatch, "w-new"))
    assert not threads["w1"].is_alive() and "w1" not in runs._runs  # w1 was least recently used
    assert all(threads[run_id].is_alive() for run_id in ("w0", "w2", "w3"))


def test_a_run_a_task_is_using_is_not_closed_however_many_runs_arrive(tmp_path, monkeypatch):
    entered, go, done = threading.Event(), threading.Event(), {}

    def long_task():  # a shard of run `busy` on another thread of the worker, still running as 5 more runs come
        with runs.run_for(hosted(tmp_path, monkeypatch, "busy")) as run:
            done["thread"] = loop_thread(run)
            entered.set()
            go.wait(timeout=30)
            run.ledger.open("k" * 16, 7, "fal", {"id": "job-1"}, 0.003)  # after the others came: still its own
            done["after"] = loop_thread(run)

    holder = threading.Thread(target=long_task)
    holder.start()
    assert entered.wait(timeout=30)
    others = [use(hosted(tmp_path, monkeypatch, f"r{n}")) for n in range(runs.WORKER_RUNS + 1)]
    assert done["thread"].is_alive() and "busy" in runs._runs  # least recently used of all, but in use
    assert not others[0].is_alive() and all(thread.is_alive() for thread in others[1:])  # the idle one beyond
    go.set()
    holder.join(timeout=30)
    assert done["after"] is done["thread"]  # the same context all along, never closed under the task
    with runs.run_for(hosted(tmp_path, monkeypatch, "busy")) as run:
        assert [record["job"]["id"] for record in run.ledger.open_records()] == ["job-1"]
    assert not others[1].is_alive() and done["thread"].is_alive()  # released, it is recent; r1 went instead


def test_a_run_beyond_the_bound_is_closed_when_its_last_task_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "WORKER_RUNS", 0)  # keep no idle run: close each as soon as nobody uses it
    opts, barrier, threads = hosted(tmp_path, monkeypatch, "shared"), threading.Barrier(4), []

    def task():  # four shards of one run on four threads at once: one context, built once
        with runs.run_for(opts) as run:
            threads.append(loop_thread(run))
            barrier.wait(timeout=30)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(task) for _ in range(4)]:
            future.result()
    assert len(set(threads)) == 1 and not threads[0].is_alive() and "shared" not in runs._runs
    with runs.run_for(opts) as first:
        with runs.run_for(opts) as second:
            assert second is first
        assert loop_thread(first).is_alive()  # the other task has ended; this one still holds it
        thread = first.backend.loop._thread
    assert not thread.is_alive()


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
