"""`fluxcat run` with QA through the Prefect flow, the contact sheet with flagged rows first, and `fluxcat export`."""

import re
import subprocess
import sys

import pyarrow.parquet as pq

from tests.conftest import ROOT, write_catalog
from tests.fluxcat.qa.test_qa_run import RATE, seed_where

PROMPT = 'a paper coffee cup printed with "{}"'


def fluxcat(*args):
    return subprocess.run([sys.executable, "-m", "fluxcat_cli.main", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_run_flags_misspelled_rows_first_in_the_contact_sheet_then_exports(tmp_path):
    rows = [{"id": case, "prompt": PROMPT.format(label), "image_size": "square",
             "seed": seed_where(PROMPT.format(label), pattern)}
            for case, label, pattern in (("right", "FRESH COFFEE", [True]), ("fixed", "DARK ROAST", [False, True]),
                                         ("wrong", "MORNING BLEND", [False, False, False]))]
    output = tmp_path / "out"
    result = fluxcat("run", write_catalog(tmp_path / "c.parquet", rows), "-o", str(output), "--backend", "text-render",
                     "--backend-option", f"misspell_rate={RATE}", "--dedupe", "exact")
    assert result.returncode == 0, result.stderr
    assert "QA: 1 flagged, 1 passed, 1 retried; flagged images come first" in result.stderr
    manifest = {r["id"]: r for r in pq.read_table(output / "manifest.parquet").to_pylist()}
    assert {i: (r["qa_status"], r["qa_attempts"]) for i, r in manifest.items()} == \
           {"right": ("passed", 1), "fixed": ("retried", 2), "wrong": ("flagged", 3)}
    sheet = (output / "index.html").read_text()
    ids = re.findall(r"<td>(right|fixed|wrong)</td>", sheet)
    assert ids == ["wrong", "right", "fixed"]  # flagged first, then catalog order
    assert "QA flagged 1 image: it comes first" in sheet and "text reads" in sheet
    for fmt in ("hf", "webdataset"):
        exported = fluxcat("export", str(output), "--format", fmt)
        assert exported.returncode == 0, exported.stderr
        assert "exported 3 images" in exported.stdout
    assert (output / "exports" / "hf" / "metadata.parquet").exists()
    assert (output / "exports" / "webdataset" / "shard-000000.tar").exists()


def test_bad_qa_options_fail_before_any_work(tmp_path):
    catalog = write_catalog(tmp_path / "c.parquet", [{"prompt": "a mug"}])
    result = fluxcat("run", catalog, "-o", str(tmp_path / "out"), "--backend", "fixed", "--qa-retries", "-1")
    assert result.returncode == 2 and "qa_retries" in result.stderr
    assert not (tmp_path / "out" / "manifest.parquet").exists()
