"""How a run ends in Prefect: a final state that tells the truth about the images, and expected errors as one line."""

from __future__ import annotations

import functools
import logging
from typing import Callable

from prefect.states import Failed, State

from fluxcat import events
from fluxcat.backends.base import BackendConfigError
from fluxcat.errors import UserError
from fluxcat.gpus import DeviceSpecError
from fluxcat.lease import LeaseHeld, LeaseLost

# The project's own expected errors (bad input or configuration, a held output): the message says what to fix; a
# traceback would only bury it. Anything else, a ValueError from a bug included, keeps its traceback. A missing input
# file is one of these: the catalog's (CatalogError), a channels file's (UserError), weights' (BackendConfigError).
EXPECTED_ERRORS = (UserError, BackendConfigError, DeviceSpecError, LeaseHeld, LeaseLost)


class NothingMade(Exception):
    """The run made none of the images it was asked to make: the Failed state's data (an exception, so that Prefect's
    engine and a Python caller raise it, not a TypeError); `result` holds its counts, manifest and summary."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result

    def __reduce__(self):
        return type(self), (str(self), self.result)


def fails_quietly(fn: Callable) -> Callable:
    """For a task: an expected error ends it Failed with its message, without a traceback in the run's logs (the
    flow re-raises the same error, and `ends_cleanly` ends the run with it)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EXPECTED_ERRORS as error:
            return Failed(message=str(error), data=error)
    return wrapper


def raise_if_failed(result):
    """A task's return value; where a `fails_quietly` task returned a Failed state (Prefect hands that state back to
    the caller as the value), its error is raised here, in the flow, for `ends_cleanly` to end the run with."""
    if isinstance(result, State) and result.is_failed():
        error = result.result(raise_on_failure=False)  # the engine keeps the error in a result record
        raise error if isinstance(error, BaseException) else RuntimeError(result.message)
    return result


def ends_cleanly(body: Callable, *args) -> State | dict:
    """For a flow: run its body; an expected error ends the run Failed with the error's one-line message."""
    _quiet_expected_ends()
    try:
        ended = body(*args)
    except EXPECTED_ERRORS as error:
        ended = Failed(message=str(error), data=error)
    _announce(ended.data if isinstance(ended, State) else ended)
    return ended


def _announce(value) -> None:
    """The flow's return value, to a caller in this process (the CLI): the final state Prefect hands back may lack it.
    Prefect's client resends a state proposal whose answer it did not get (a loaded server); the server, which had
    taken the first, rejects the copy and answers with its own state, which holds no data (results are not persisted)."""
    from prefect.runtime import flow_run

    events.emit({"flow_result": value, "flow_run_id": str(flow_run.id)})


class _ExpectedEnd(logging.Filter):
    """Prefect's engine logs "Engine execution exited with unexpected exception" and a traceback for every run of a
    deployment that ends Failed. For a run that ended on an expected error, or made none of its images, the final
    state's line already says why: the traceback would only bury it."""

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.exceptions import FailedRun

        # FailedRun: what the engine raises for a Failed state whose data it does not hold (in a deployment's run it
        # held no NothingMade: seen against a real server); our flows return Failed states only for expected ends.
        return not (record.exc_info and isinstance(record.exc_info[1], (*EXPECTED_ERRORS, NothingMade, FailedRun)))


def _quiet_expected_ends() -> None:
    runs = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(each, _ExpectedEnd) for each in runs.filters):
        runs.addFilter(_ExpectedEnd())


def result_of(start_flow: Callable[[], State]):
    """The return value of the flow `start_flow` runs (with return_state=True) whatever its final state; an expected
    error is raised again, for the caller to say."""
    announced = {}
    unsubscribe = events.subscribe(lambda e: announced.update({e["flow_run_id"]: e["flow_result"]})
                                   if "flow_result" in e else None)
    try:
        state = start_flow()
    finally:
        unsubscribe()
    run_id = str(state.state_details.flow_run_id)
    if state.data is None and run_id in announced:  # the server's copy of the final state (see `_announce`)
        value = announced[run_id]
    else:
        value = state.result(raise_on_failure=False)
    if isinstance(value, NothingMade):
        return value.result
    if isinstance(value, BaseException):
        raise value
    return value
