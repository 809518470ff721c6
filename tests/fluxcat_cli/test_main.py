"""The fluxcat command: instant help, plan output, and a run that survives kill -9."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
from PIL import Image

from tests.conftest import ROOT, SAMPLE_CATALOG, write_catalog

FLUXCAT = [sys.executable, "-m", "fluxcat_cli.main"]


def run(args, **kwargs):
    return subprocess.run(FLUXCAT + args, cwd=ROOT, capture_output=True, text=True, timeout=600, **kwargs)


def test_help_imports_no_heavy_library():
    code = ("import sys, fluxcat_cli.main as m; m.build_parser().format_help(); "
            "print(sorted(k for k in ('torch', 'diffusers', 'prefect', 'sentence_transformers', 'pyarrow') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert "run" in run(["--help"]).stdout


def test_plan_json_on_the_sample_catalog():
    result = run(["plan", str(SAMPLE_CATALOG), "--json", "--dedupe", "exact", "--backend", "tiny"])
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    rows = pq.read_metadata(SAMPLE_CATALOG).num_rows
    assert plan["catalog_rows"] == rows
    assert sum(plan["statuses"].values()) >= rows  # one row per image
    assert plan["statuses"]["rejected"] >= 1 and plan["statuses"]["duplicate"] >= 1
    assert plan["images_to_generate"] == plan["statuses"]["planned"]
    # every rejected row, with its reason: the sample catalog's three bad rows
    rejected = {row["id"]: row["reason"] for row in plan["rejected"]}
    assert len(plan["rejected"]) == plan["statuses"]["rejected"] == 3
    assert rejected == {"SKU-1029": "prompt is blank: every row needs a text prompt",
                        "SKU-1030": rejected["SKU-1030"], "SKU-1031": "num_images 9 is out of range 1-4"}
    assert rejected["SKU-1030"].startswith("unknown image_size 'square_xl': choose one of square_hd")
    text = run(["plan", str(SAMPLE_CATALOG), "--dedupe", "exact", "--backend", "tiny"], env={**os.environ, "COLUMNS": "200"})
    assert "rejected rows" in text.stdout and all(reason[:40] in text.stdout for reason in rejected.values())


def test_plan_estimates_hosted_cost_without_a_key_and_run_needs_one_before_any_work(tmp_path):
    """A key is needed only to send: `plan -b fal` estimates the cost without FAL_KEY; `run -b fal` without it ends
    with one line before Prefect runs anything or the output is written."""
    no_key = {k: v for k, v in os.environ.items() if k != "FAL_KEY"}
    planned = run(["plan", str(SAMPLE_CATALOG), "--json", "--dedupe", "exact", "--backend", "fal"], env=no_key)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["estimated_cost_usd"] > 0
    output = tmp_path / "out"
    refused = run(["run", str(SAMPLE_CATALOG), "--output", str(output), "--dedupe", "exact", "--backend", "fal"], env=no_key)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr + refused.stdout
    assert refused.stderr.strip() == ("fluxcat: error: fal needs an API key: set the environment variable FAL_KEY, or pass "
                                      "--backend-option api_key_block=NAME naming a Prefect Secret block")
    assert not output.exists()


def test_the_readme_first_command_succeeds_beside_six_cpu_bound_processes(tmp_path):
    """The README's first `fluxcat run`, with six CPU-bound processes running beside it until its first shard starts
    (Prefect's start-up is what a busy machine broke: a 20 s limit, and a 40-line traceback)."""
    command = re.search(r"\.venv/bin/fluxcat (run [^\n]+)", (ROOT / "README.md").read_text()).group(1).split()
    command[command.index("--output") + 1] = str(tmp_path / "demo")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(6)]
    try:
        process = subprocess.Popen(FLUXCAT + command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = []
        for line in process.stdout:
            output.append(line)
            if " - plan: " in line:  # the flow has started and planned: its shards are being submitted
                stop(burners)
        process.wait(timeout=600)
    finally:
        stop(burners)
    text = "".join(output)
    assert process.returncode == 0, text[-3000:]
    rows = pq.read_metadata(SAMPLE_CATALOG).num_rows
    assert f" - plan: {rows} catalog rows" in text and "Traceback" not in text
    assert pq.read_table(tmp_path / "demo" / "manifest.parquet").num_rows >= rows


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_catalog_fails_before_any_work_with_the_fix(tmp_path):
    bad = tmp_path / "c.parquet"
    bad.write_text("not parquet")
    result = run(["run", str(bad), "--output", str(tmp_path / "out"), "--backend", "tiny"])
    assert result.returncode == 2 and "is not a Parquet file" in result.stderr
    assert not (tmp_path / "out" / "images").exists()


def test_kill_dash_nine_then_rerun_finishes_with_no_duplicates_or_partial_files(tmp_path):
    rows = [{"id": f"r{i}", "prompt": f"product photo number {i}", "width": 256, "height": 256} for i in range(16)]
    catalog = write_catalog(tmp_path / "catalog.parquet", rows)
    output = tmp_path / "out"
    args = ["run", catalog, "--output", str(output), "--backend", "tiny", "--shard-size", "2", "--dedupe", "off"]
    process = subprocess.Popen(FLUXCAT + args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    parts = output / "_work" / "parts"
    deadline = time.time() + 300
    while time.time() < deadline and not (parts.exists() and len(os.listdir(parts)) >= 2):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = len(os.listdir(parts))
    assert 2 <= finished_before < 8, "the run must be killed mid-way for this test to mean anything"
    assert not (output / "manifest.parquet").exists()

    result = run(args)
    assert result.returncode == 0, result.stderr
    manifest = pq.read_table(output / "manifest.parquet").to_pylist()
    assert sorted(r["id"] for r in manifest) == sorted(r["id"] for r in rows)
    statuses = [r["status"] for r in manifest]
    assert statuses.count("existing") >= 2 * finished_before and set(statuses) <= {"existing", "generated"}
    images = [os.path.join(d, f) for d, _, files in os.walk(output / "images") for f in files]
    finished = [p for p in images if ".tmp-" not in p]
    assert len(finished) == 16 == len({r["key"] for r in manifest})
    for path in finished:
        with Image.open(path) as image:
            image.load()  # a partial file would fail to decode
            assert image.size == (256, 256)
