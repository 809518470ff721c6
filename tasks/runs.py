"""The RunContext each process uses for a run: the flow opens one for the whole run and closes it at the end; a
task running in a cluster's worker process builds one for that process (kept for the run's later shards there)."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Iterator

from fluxcat.ledger import run_verdict
from fluxcat.pipeline import RunContext, RunOptions, open_run

WORKER_RUNS = 4  # runs a worker process keeps contexts for; the least recently used one beyond is closed

_runs: "OrderedDict[str, RunContext]" = OrderedDict()  # run id -> context, in this process
_flow_runs: set[str] = set()  # the ones a flow in this process opened (and will close)
_lock = threading.Lock()


@contextlib.contextmanager
def run_context(options: RunOptions) -> Iterator[RunContext]:
    """The flow's context for one run (its `run_id`): tasks in this process use it; closed when the block ends."""
    if not options.run_id:
        raise ValueError("a flow's RunOptions need a run_id, so that its tasks find the run's context")
    run = open_run(options)
    with _lock:
        _runs[options.run_id] = run
        _flow_runs.add(options.run_id)
    try:
        yield run
    finally:
        with _lock:
            _runs.pop(options.run_id, None)
            _flow_runs.discard(options.run_id)
        run.close()


def run_for(options: RunOptions) -> RunContext:
    """The context of the run these options belong to, in this process: the flow's, or (a cluster worker process)
    one built here on the run's first task."""
    with _lock:
        run = _runs.get(options.run_id)
        if run is not None:
            _runs.move_to_end(options.run_id)
            return run
        run = _runs[options.run_id] = open_run(options)
        workers = [run_id for run_id in _runs if run_id not in _flow_runs]
        stale = [_runs.pop(run_id) for run_id in workers[:max(0, len(workers) - WORKER_RUNS)]]
    for old in stale:
        old.close()
    return run


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
