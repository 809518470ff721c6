"""The temporary server's start-up limit: read as Prefect reads its own setting, a bad value refused in one line."""

import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fluxcat_cli.prefect_api import STARTUP_SETTING
from tests.conftest import ROOT


def fluxcat_with(setting: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, STARTUP_SETTING: setting}
    env.pop("PREFECT_API_URL", None)  # the temporary server, whose limit this is
    return subprocess.run([sys.executable, "-m", "fluxcat_cli.main", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("setting", ["0.5", "0", "-3", "soon"])
def test_a_start_up_limit_prefect_would_refuse_is_one_line_before_any_work(tmp_path, setting):
    pq.write_table(pa.table({"prompt": ["a red mug"]}), tmp_path / "good.parquet")
    result = fluxcat_with(setting, "run", str(tmp_path / "good.parquet"), "--output", str(tmp_path / "out"),
                          "--backend", "fixed")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"fluxcat: error: {STARTUP_SETTING} must be a positive whole number of seconds, got {setting!r}"]
    assert not (tmp_path / "out").exists()


def test_a_whole_number_prefect_accepts_is_the_limit(tmp_path):
    """'120.0' is a whole number to Prefect's int setting too: the run goes ahead, and Prefect reads it silently."""
    pq.write_table(pa.table({"prompt": ["a red mug"]}), tmp_path / "good.parquet")
    result = fluxcat_with("120.0", "run", str(tmp_path / "good.parquet"), "--output", str(tmp_path / "out"),
                          "--backend", "fixed")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and pq.read_table(tmp_path / "out" / "manifest.parquet").num_rows == 1
