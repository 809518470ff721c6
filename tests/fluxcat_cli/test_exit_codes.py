"""The exit code of `fluxcat run` and `refresh` from the run's outcome per image."""

from fluxcat_cli.main import _exit_code


def test_exit_code_is_one_when_images_failed_or_nothing_asked_for_was_made():
    assert _exit_code({"generated": 3}) == 0
    assert _exit_code({"existing": 5}) == 0  # nothing to make: a rerun of a finished run
    assert _exit_code({}) == 0  # an empty catalog
    assert _exit_code({"generated": 2, "failed": 1}) == 1
    assert _exit_code({"failed": 3}) == 1
    assert _exit_code({"skipped": 4, "existing": 1}) == 1  # everything asked for was over budget: nothing made
    assert _exit_code({"generated": 1, "skipped": 4}) == 0  # a budget cut short: said in the summary
