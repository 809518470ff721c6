"""The CLI and a Python caller get the flow's return value even when Prefect hands back the server's copy of the final
state: what happens when the answer to the final state's proposal is lost and Prefect's client sends it again (on a
loaded machine, seen in CI as `MissingResult`)."""

from __future__ import annotations

import httpx
import pytest

from tasks.outcome import result_of
from tests.conftest import write_catalog

ROWS = [{"id": f"c{i}", "prompt": f"a linen napkin, {'BROKEN ' if i else ''}fold {i}", "width": 256, "height": 256}
        for i in range(3)]


@pytest.fixture
def final_answer_lost(monkeypatch):
    """The first answer to a final state's proposal is lost on the way back (the server has taken the state);
    Prefect's own retry then sends the same proposal again, and the server's duplicate-transition rule answers."""
    send, lost = httpx.Client.send, []

    def send_losing_the_final_answer(self, request, *args, **kwargs):
        response = send(self, request, *args, **kwargs)
        final = request.url.path.endswith("/set_state") and any(
            f'"type":"{kind}"'.encode() in request.content.replace(b" ", b"") for kind in ("COMPLETED", "FAILED"))
        if final and "/flow_runs/" in request.url.path and not lost:
            lost.append(request.url.path)
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    monkeypatch.setattr(httpx.Client, "send", send_losing_the_final_answer)
    return lost


def flow_run(tmp_path, name: str, return_state: bool = True, **parameters):
    from flows.catalog import generate_catalog

    catalog = write_catalog(tmp_path / f"{name}.parquet", ROWS)
    return lambda: generate_catalog(catalog=catalog, output=str(tmp_path / name), return_state=return_state,
                                    dedupe="off", images={"qa": False}, **parameters)


def servers_copy(state) -> bool:
    """The state the server answered with: it holds only the persisted result's reference, where the state the
    engine proposed (and kept, when its answer came back) holds the result record itself."""
    from prefect.results import ResultRecordMetadata

    return isinstance(state.data, ResultRecordMetadata)


def test_a_dry_run_whose_final_answer_was_lost_still_returns_its_plan(prefect_harness, tmp_path, final_answer_lost):
    start = flow_run(tmp_path, "dry", backend="fixed", scope={"dry_run": True})
    states = []
    result = result_of(lambda: states.append(start()) or states[-1])
    assert final_answer_lost, "the fault was never injected"
    assert states[0].is_completed() and servers_copy(states[0])  # the referee: Prefect's server answered
    assert result["dry_run"] and result["plan"]["images_to_generate"] == 3


def test_a_run_that_made_nothing_still_returns_its_counts_when_the_answer_was_lost(prefect_harness, tmp_path,
                                                                                 final_answer_lost):
    start = flow_run(tmp_path, "none", backend={"backend": "fixed", "backend_options": {"fail_prompts_containing": "linen"}})
    result = result_of(start)
    assert final_answer_lost and result["statuses"] == {"failed": 3}


def test_the_value_comes_from_the_state_when_prefect_kept_it(prefect_harness, tmp_path):
    start = flow_run(tmp_path, "kept", backend={"backend": "fixed", "backend_options": {"fail_prompts_containing": "BROKEN"}})
    states = []
    result = result_of(lambda: states.append(start()) or states[-1])
    assert not servers_copy(states[0]) and states[0].message == "made 1 of 3 images; 2 failed"
    assert result["statuses"] == {"generated": 1, "failed": 2}


def test_a_python_caller_of_the_flow_gets_its_value_when_the_answer_was_lost(prefect_harness, tmp_path,
                                                                               final_answer_lost):
    """The CI failure: a partial run (a Completed state with a message) called from Python, no `result_of` between."""
    start = flow_run(tmp_path, "python", return_state=False,
                     backend={"backend": "fixed", "backend_options": {"fail_prompts_containing": "BROKEN"}})
    result = start()
    assert final_answer_lost and result["statuses"] == {"generated": 1, "failed": 2}
    assert result["verdict"] == "made 1 of 3 images; 2 failed"


def test_only_the_flows_persist_a_result_no_task_does():
    """The flows persist their small return value; a task would inherit that and, with it, Prefect's default cache
    (a Retry from the UI keeps the flow run's id: a cached plan or summary would be an old one)."""
    import importlib
    import pkgutil

    import tasks
    from prefect import Task
    from prefect.cache_policies import NO_CACHE

    found = [obj for info in pkgutil.iter_modules(tasks.__path__)
             for obj in vars(importlib.import_module(f"tasks.{info.name}")).values() if isinstance(obj, Task)]
    assert len({t.name for t in found}) >= 6
    assert [t.name for t in found if t.persist_result is not False or t.cache_policy is not NO_CACHE] == []
