"""The RunContext each process uses for a run: the flow opens one for the whole run and closes it at the end; a
task running in a cluster's worker process builds one for that process (kept for the run's later shards there)."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

from fluxcat.ledger import run_verdict
from fluxcat.pipeline import RunContext, RunOptions, open_run

WORKER_RUNS = 4  # idle runs a worker process keeps contexts for; beyond, the least recently used idle one is closed


@dataclass(eq=False)
class _Held:
    """A run's context in this process and how many tasks are using it now (never closed while one is)."""

    run: RunContext
    users: int = 0


_runs: "OrderedDict[str, _Held]" = OrderedDict()  # run id -> context, in this process, least recently used first
_flow_runs: set[str] = set()  # the ones a flow in this process opened (and will close)
_lock = threading.Lock()


@contextlib.contextmanager
def run_context(options: RunOptions) -> Iterator[RunContext]:
    """The flow's context for one run (its `run_id`): tasks in this process use it; closed when the block ends."""
    if not options.run_id:
        raise ValueError("a flow's RunOptions need a run_id, so that its tasks find the run's context")
    run = open_run(options)
    with _lock:
        _runs[options.run_id] = _Held(run)
        _flow_runs.add(options.run_id)
    try:
        yield run
    finally:
        with _lock:
            _runs.pop(options.run_id, None)
            _flow_runs.discard(options.run_id)
        run.close()


@contextlib.contextmanager
def run_for(options: RunOptions) -> Iterator[RunContext]:
    """The context of the run these options belong to, in this process, for one task's use (`with run_for(o) as
    run:`): the flow's, or (a cluster worker process) one built here on the run's first task and kept for its later
    ones. A worker keeps the WORKER_RUNS most recently used idle runs and closes any other once no task uses it."""
    with _lock:
        held = _runs.get(options.run_id)
        if held is None:
            held = _runs[options.run_id] = _Held(open_run(options))
        _runs.move_to_end(options.run_id)
        held.users += 1
    try:
        yield held.run
    finally:
        with _lock:
            held.users -= 1
            if _runs.get(options.run_id) is held:
                _runs.move_to_end(options.run_id)
            stale = _evict()
        _close(stale)


def _evict() -> list[RunContext]:
    """Take out the least recently used idle worker runs beyond WORKER_RUNS; call with the lock held."""
    idle = [run_id for run_id, held in _runs.items() if run_id not in _flow_runs and not held.users]
    return [_runs.pop(run_id).run for run_id in idle[:max(0, len(idle) - WORKER_RUNS)]]


def _close(stale: list[RunContext]) -> None:
    for run in stale:  # outside the lock: closing a hosted backend waits for its loop thread
        run.close()


def final_state(result: dict, made: dict):
    """The flow's return: its result, as a Failed state when the run made none of the images it was asked to make,
    a Completed one saying what was not made when it made only some (`made`: this run's outcome per image)."""
    from prefect import get_run_logger
    from prefect.states import Completed, Failed

    from tasks.outcome import NothingMade

    verdict = run_verdict(made)
    result = {**result, "verdict": verdict.message()}
    get_run_logger().info("verdict: %s", verdict.message())
    if not verdict.ok:
        return Failed(message=verdict.message(), data=NothingMade(verdict.message(), result))
    return Completed(message=verdict.message(), data=result) if verdict.partial else result
