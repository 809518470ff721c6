"""A flow's final state comes from what the run made: Failed when it made none of the images it was asked to make,
Completed saying what was not made when it made only some, and the result is there either way."""

from __future__ import annotations

from tasks.outcome import NothingMade
from tests.conftest import write_catalog

ROWS = [{"id": f"p{i}", "prompt": f"a pewter cup, {'BROKEN ' if i < 2 else ''}style {i}", "width": 256, "height": 256}
        for i in range(3)]


def run(tmp_path, name: str, fail: str):
    from flows.catalog import generate_catalog

    catalog = write_catalog(tmp_path / f"{name}.parquet", ROWS)
    return generate_catalog(catalog=catalog, output=str(tmp_path / name), return_state=True,
                            dedupe="off", images={"qa": False},
                            backend={"backend": "fixed", "backend_options": {"fail_prompts_containing": fail}})


def test_a_run_that_made_nothing_fails_and_a_partial_one_says_so(prefect_harness, tmp_path):
    nothing = run(tmp_path, "nothing", "pewter")
    assert nothing.is_failed() and "made none of the 3 images" in nothing.message
    error = nothing.result(raise_on_failure=False)  # the Failed state's data: the error, carrying the run's result
    assert isinstance(error, NothingMade) and str(error) == nothing.message
    assert error.result["statuses"] == {"failed": 3} and error.result["verdict"] == nothing.message

    some = run(tmp_path, "some", "BROKEN")
    assert some.is_completed() and some.message == "made 1 of 3 images; 2 failed"
    assert some.result()["statuses"] == {"generated": 1, "failed": 2}

    again = run(tmp_path, "some", "nothing-fails-now")  # a rerun makes nothing: its failures are the earlier run's
    assert again.is_completed() and again.result()["statuses"] == {"existing": 1, "failed": 2}
    assert again.message is None or "nothing to make" in again.result()["verdict"]
