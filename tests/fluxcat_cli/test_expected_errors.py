"""Expected errors from every entry point (run, plan, refresh): one clear message, no traceback; a hostile catalog
runs end to end through `fluxcat run`."""

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT
from tests.hostile_catalog import check_manifest, write_hostile_catalog

FLUXCAT = [sys.executable, "-m", "fluxcat_cli.main"]
COMMON = ["--backend", "fixed", "--dedupe", "exact"]


def fluxcat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(FLUXCAT + list(args), cwd=ROOT, capture_output=True, text=True, timeout=600)


def _parquet_bytes(tmp_path) -> bytes:
    pq.write_table(pa.table({"prompt": [f"prompt number {i} " * 4 for i in range(2000)]}), tmp_path / "good.parquet",
                   compression="none", row_group_size=500)
    return (tmp_path / "good.parquet").read_bytes()


def bad_catalogs(tmp_path) -> dict[str, tuple[str, str]]:
    """name -> (catalog path, what the message must say)."""
    data = _parquet_bytes(tmp_path)
    pages = bytearray(data)
    pages[30_000:60_000] = bytes((b * 7 + 13) % 256 for b in pages[30_000:60_000])
    files = {
        "not-parquet": (b"prompt\na red mug\n", "is not a Parquet file"),
        "bad-footer": (data[:-8] + (10**9).to_bytes(4, "little") + b"PAR1", "is a corrupted Parquet file"),
        "bad-pages": (bytes(pages), "is a corrupted Parquet file: rows from"),
    }
    out = {}
    for name, (content, message) in files.items():
        (tmp_path / f"{name}.parquet").write_bytes(content)
        out[name] = (str(tmp_path / f"{name}.parquet"), message)
    pq.write_table(pa.table({"text": ["a red mug"]}), tmp_path / "no-prompt.parquet")
    out["no-prompt"] = (str(tmp_path / "no-prompt.parquet"), "has no 'prompt' column")
    return out


def assert_one_clear_message(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("fluxcat: error: ") and message in errors[0], result.stderr


@pytest.mark.parametrize("command", ["run", "plan", "refresh"])
def test_bad_catalogs_give_one_message_and_no_traceback(tmp_path, command):
    for name, (catalog, message) in bad_catalogs(tmp_path).items():
        output = tmp_path / f"out-{name}"
        assert_one_clear_message(fluxcat(command, catalog, "--output", str(output), *COMMON), message)
        assert not (output / "images").exists() and not (output / "manifest.parquet").exists()


@pytest.mark.parametrize("command", ["run", "plan", "refresh"])
def test_bad_configuration_gives_one_message_and_no_traceback(tmp_path, command):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"prompt": ["a red mug"]}), good)
    for args, message in ((["--shard-size", "0"], "shard_size: Input should be greater than or equal to 1"),
                          (["--backend-option", "nonsense"], "argument --backend-option: takes KEY=VALUE"),
                          (["--backend", "no-such-backend"], "no-such-backend")):
        result = fluxcat(command, str(good), "--output", str(tmp_path / "out"), *COMMON, *args)
        assert_one_clear_message(result, message)


def test_the_hostile_catalog_runs_to_the_end_through_fluxcat_run(tmp_path):
    catalog = write_hostile_catalog(tmp_path / "hostile.parquet")
    result = fluxcat("run", catalog, "--output", str(tmp_path / "out"), *COMMON, "--shard-size", "8")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    check_manifest(pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist())


def test_an_empty_catalog_ends_with_an_empty_manifest_and_says_so(tmp_path):
    pq.write_table(pa.table({"prompt": pa.array([], pa.string())}), tmp_path / "empty.parquet")
    result = fluxcat("run", str(tmp_path / "empty.parquet"), "--output", str(tmp_path / "out"), *COMMON)
    assert result.returncode == 0, result.stderr
    assert "the catalog has no rows" in result.stderr
    assert pq.read_table(tmp_path / "out" / "manifest.parquet").num_rows == 0
