"""The CLI gets the flow's return value even when Prefect hands back the server's copy of the final state, which has
no data: what happens when the answer to the final state's proposal is lost and Prefect's client sends it again."""

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


def flow_run(tmp_path, name: str, **parameters):
    from flows.catalog import generate_catalog

    catalog = write_catalog(tmp_path / f"{name}.parquet", ROWS)
    return lambda: generate_catalog(catalog=catalog, output=str(tmp_path / name), return_state=True, dedupe="off",
                                    images={"qa": False}, **parameters)


def test_a_dry_run_whose_final_answer_was_lost_still_returns_its_plan(prefect_harness, tmp_path, final_answer_lost):
    start = flow_run(tmp_path, "dry", backend="fixed", scope={"dry_run": True})
    states = []
    result = result_of(lambda: states.append(start()) or states[-1])
    assert final_answer_lost, "the fault was never injected"
    assert states[0].is_completed() and states[0].data is None  # the referee: Prefect's server answered with its copy
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
    assert states[0].data is not None and states[0].message == "made 1 of 3 images; 2 failed"
    assert result["statuses"] == {"generated": 1, "failed": 2}
