"""Only the project's own expected errors end a run in one line: a plain ValueError from a bug keeps its traceback, in
the run's logs and out of the CLI."""

from __future__ import annotations

import pytest

from fluxcat.backends.base import BackendConfigError
from fluxcat.errors import UserError, configuration_checks
from fluxcat_cli.main import _error_status, main
from tests.conftest import prefect_post, write_catalog

ROWS = [{"id": f"b{i}", "prompt": f"a brass bell, photo {i}", "width": 64, "height": 64} for i in range(2)]
BUG = "too many values to unpack (expected 2)"  # what a slip in planning code raises


@pytest.fixture
def planning_bug(monkeypatch):
    """Planning hits a bug: a plain ValueError, raised where the plan-catalog task does its work."""
    import tasks.planning

    def plan_with_a_bug(run):
        first, second = (1, 2, 3)  # noqa: F841  (the bug itself)

    monkeypatch.setattr(tasks.planning, "plan", plan_with_a_bug)


def run(tmp_path, name: str, catalog: str | None = None):
    from flows.catalog import generate_catalog

    catalog = catalog or write_catalog(tmp_path / f"{name}.parquet", ROWS)
    return generate_catalog(catalog=catalog, output=str(tmp_path / name), return_state=True, dedupe="off",
                            images={"qa": False}, backend="fixed")


def run_logs(state) -> str:
    """The run's logs as the UI shows them, read back through Prefect's API once the last ones are sent."""
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    logs = prefect_post("/logs/filter", {"logs": {"flow_run_id": {"any_": [str(state.state_details.flow_run_id)]}},
                                         "limit": 200})
    return "\n".join(entry["message"] for entry in logs)


def test_a_bug_keeps_its_traceback_in_the_run_logs(prefect_harness, tmp_path, planning_bug):
    state = run(tmp_path, "bug")
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert type(error) is ValueError and str(error) == BUG
    logs = run_logs(state)
    assert "Traceback (most recent call last)" in logs and f"ValueError: {BUG}" in logs
    assert "plan_with_a_bug" in logs  # the frame where it happened


def test_an_expected_error_is_one_line_with_no_traceback(prefect_harness, tmp_path):
    """The referee for the test above: the same run, ended by a missing catalog, logs no traceback."""
    state = run(tmp_path, "missing", catalog=str(tmp_path / "no-such.parquet"))
    assert state.is_failed() and state.message.startswith("catalog not found:")
    logs = run_logs(state)
    assert "catalog not found" in logs and "Traceback" not in logs


def test_the_cli_raises_a_bug_and_says_an_expected_error_in_one_line(prefect_harness, tmp_path, planning_bug, capsys):
    catalog = write_catalog(tmp_path / "cli.parquet", ROWS)
    with pytest.raises(ValueError, match="too many values to unpack"):
        main(["run", catalog, "-o", str(tmp_path / "cli-out"), "--backend", "fixed", "--dedupe", "off"])
    assert main(["run", catalog, "-o", str(tmp_path / "cli-out"), "--backend", "fixed", "--shard-size", "0"]) == 2
    assert "fluxcat: error: shard_size: Input should be greater than or equal to 1" in capsys.readouterr().err


def test_the_cli_maps_only_the_projects_expected_errors():
    assert _error_status(UserError("bad setting")) == 2 and _error_status(BackendConfigError("no key")) == 2
    assert _error_status(ValueError(BUG)) is None and _error_status(FileNotFoundError("x")) is None
    with pytest.raises(UserError, match="^shard_size must be at least 1$"):
        with configuration_checks():  # before any work, a ValueError says what is wrong with the input
            raise ValueError("shard_size must be at least 1")
