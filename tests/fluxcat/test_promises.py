"""The promises about money and images, each on a path a real run takes where it once broke: paid once across a
router and a crash, the budget held through a fallback, nothing remade after a refresh or a QA reseed, a group kept
one shot, `existing` only with the file, a damaged manifest rebuilt, a flat product not taken for a blank image, and
an encoded key scrubbed. Hosted paths run against the loopback doubles the official clients accept, with creates
counted at the doubles."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from fluxcat.backends.text_render import chance
from fluxcat.export import export
from fluxcat.pipeline import RunOptions
from fluxcat.qa import QaSettings
from fluxcat.qa.checks import blank_check
from tests.conftest import ROOT, write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, run_pipeline, scan_output_for, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, ReplicateServer
from tests.pipeline import refresh_catalog, run_catalog

CHILD = ("import json, sys; from tests.fluxcat.backends.hosted_helpers import run_pipeline; "
         "run_pipeline(sys.argv[1], sys.argv[2], 'router', json.loads(sys.argv[3]), shard_size=2, threads=3)")


def square_rows(prompts, **extra):
    return [{"id": f"r{i}", "prompt": p, "image_size": "square", "model": "schnell", **extra} for i, p in enumerate(prompts)]


def manifest_rows(output) -> dict:
    return {row["id"]: row for row in pq.read_table(Path(output) / "manifest.parquet").to_pylist()}


@pytest.fixture
def keys(monkeypatch):
    values = {env: secret_key() for env in ("FAL_KEY", "REPLICATE_API_TOKEN")}
    for env, value in values.items():
        monkeypatch.setenv(env, value)
    return values


def jobs_recorded(output: Path, job_ids) -> bool:
    """Every job id is written somewhere under the output's _work/ (wherever a run keeps its billed jobs)."""
    texts = [p.read_bytes() for p in (output / "_work").rglob("*.json")] if (output / "_work").exists() else []
    return all(any(job.encode() in text for text in texts) for job in job_ids)


def test_1_a_router_run_killed_mid_flight_collects_its_jobs_where_they_are_and_pays_for_none_twice(tmp_path, keys):
    """fal's circuit opens on 500s, the router falls back to Replicate, kill -9 with Replicate jobs in flight; the
    rerun, with fal healthy and ranked first again, collects those jobs at Replicate instead of paying fal."""
    catalog = write_catalog(tmp_path / "c.parquet", square_rows([f"a copper kettle, angle {i}" for i in range(6)]))
    output = tmp_path / "out"
    with FalServer(keys["FAL_KEY"], refuse_with=500) as fal, \
            ReplicateServer(keys["REPLICATE_API_TOKEN"], job_seconds=3.0) as replicate:
        options = {"providers": "fal,replicate", "weight_price": 0, **FAST, "fal_circuit_threshold": 1,
                   "fal_base_url": fal.url, "replicate_base_url": replicate.url, "replicate_concurrency": 3,
                   "max_wait": 30}
        child = subprocess.Popen([sys.executable, "-c", CHILD, catalog, str(output), json.dumps(options)], cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 60
        while not (len(replicate.jobs) >= 3 and jobs_recorded(output, list(replicate.jobs))):
            assert time.monotonic() < deadline and child.poll() is None, "the run never had Replicate jobs in flight"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        in_flight = {job["prompt"] for job in replicate.jobs.values()}
        assert not list(output.glob("images/**/*.png"))  # killed before any image was stored
        fal.refuse_with = None  # fal is healthy again: the router ranks it first
        _, _, manifest = run_pipeline(catalog, str(output), "router", options, shard_size=2, threads=3)
    assert [row["status"] for row in manifest] == ["generated"] * 6
    paid = {prompt: fal.creates[prompt] + replicate.creates[prompt] for prompt in (r["prompt"] for r in manifest)}
    assert set(paid.values()) == {1}, paid  # no image paid for twice, at any provider
    assert {row["prompt"] for row in manifest if row["backend"] == "replicate"} >= in_flight  # collected where they were
    open_records = list((output / "_work" / "ledger" / "open").glob("*.json"))
    assert open_records == []  # every record closed, whoever served it


def test_2_the_budget_holds_when_the_router_falls_back_to_a_dearer_provider(tmp_path, keys):
    """fal ($0.003 a 512x512 image) ranks first but its circuit is open; Replicate ($0.02) serves: the cap holds."""
    budget = 0.05
    catalog = write_catalog(tmp_path / "c.parquet", square_rows([f"a linen napkin, fold {i}" for i in range(8)]))
    with FalServer(keys["FAL_KEY"], refuse_with=500) as fal, ReplicateServer(keys["REPLICATE_API_TOKEN"]) as replicate:
        options = {"providers": "fal,replicate", **FAST, "fal_circuit_threshold": 1, "fal_base_url": fal.url,
                   "replicate_base_url": replicate.url}
        _, summary, manifest = run_pipeline(catalog, str(tmp_path / "out"), "router", options, budget_usd=budget,
                                            shard_size=2, threads=4)
    made = [row for row in manifest if row["status"] == "generated"]
    assert made and {row["backend"] for row in made} == {"replicate"}
    charged_at_the_doubles = 0.003 * sum(n for p, n in fal.creates.items() if p != "refused") + \
        0.02 * sum(replicate.creates.values())
    assert charged_at_the_doubles <= budget + 1e-9, (dict(fal.creates), dict(replicate.creates))
    assert sum(row["cost_usd"] or 0 for row in manifest) <= budget + 1e-9
    assert {row["status"] for row in manifest} == {"generated", "skipped"}


def blank_first(prompt: str, rate: float = 0.5) -> int:
    """A seed whose render is blank while the next one is not."""
    return next(s for s in range(10_000) if chance(prompt, s, "blank") < rate <= chance(prompt, s + 1, "blank"))


def test_3_a_run_after_a_refresh_makes_nothing_even_for_rows_qa_reseeded(tmp_path, catalog_factory):
    prompts = [f"studio photo of a ceramic bowl, glaze {i}" for i in range(6)]
    rows = [{"id": f"b{i}", "prompt": p, "image_size": "square", "seed": blank_first(p) if i % 2 == 0 else None}
            for i, p in enumerate(prompts)]
    output = str(tmp_path / "out")

    def options(catalog):
        return RunOptions(catalog=catalog, output=output, backend="text-render", dedupe="off", shard_size=4,
                          backend_options={"blank_rate": 0.5, "misspell_rate": 0})

    run_catalog(options(catalog_factory(rows)))
    reseeded = [r for r in manifest_rows(output).values() if r["qa_status"] == "retried"]
    assert len(reseeded) >= 3
    edited = [{**row, "prompt": row["prompt"] + ", matte"} if row["id"] in ("b1", "b3") else row for row in rows]
    catalog = catalog_factory(edited)
    work, summary = refresh_catalog(options(catalog))
    assert summary.counts["changed"] == 2 and summary.counts["unchanged"] == 4
    _, rerun, _ = run_catalog(options(catalog))
    assert rerun.statuses.get("generated", 0) == 0, rerun.statuses  # nothing made twice: no seed, no key drifted
    assert rerun.statuses["existing"] == 6


def test_4_qa_keeps_a_groups_shared_seed_and_flags_the_row_instead(tmp_path, catalog_factory):
    variants = ["a red canvas tote bag, studio photo", "a green canvas tote bag, studio photo",
                "a blue canvas tote bag, studio photo"]
    from fluxcat.plan import group_seed

    group = next(f"TOTE-{n}" for n in range(10_000)
                 if [chance(v, group_seed(f"TOTE-{n}"), "blank") < 0.5 for v in variants] == [True, False, False])
    rows = [{"id": f"v{i}", "prompt": v, "image_size": "square", "group": group} for i, v in enumerate(variants)]
    options = RunOptions(catalog=catalog_factory(rows), output=str(tmp_path / "out"), backend="text-render",
                         dedupe="off", backend_options={"blank_rate": 0.5, "misspell_rate": 0})
    run_catalog(options)
    out = manifest_rows(options.output)
    assert {row["seed"] for row in out.values()} == {group_seed(group)}  # still one shot
    assert out["v0"]["qa_status"] == "flagged" and out["v0"]["qa_attempts"] == 1
    assert group in json.loads(out["v0"]["qa_details"])["reason"]


def fixed_options(catalog, output, **extra):
    return RunOptions(catalog=catalog, output=str(output), backend="fixed", dedupe="off", shard_size=8, **extra)


def test_5_existing_means_the_file_is_there_and_missing_images_are_remade_and_counted(tmp_path, catalog_factory):
    catalog = catalog_factory([{"id": f"s{i}", "prompt": f"a wool scarf, pattern {i}", "width": 256, "height": 256}
                               for i in range(16)])
    output = tmp_path / "out"
    run_catalog(fixed_options(catalog, output))
    deleted = [row for row in manifest_rows(output).values()][::4]
    for row in deleted:
        os.remove(row["image_uri"])
    _, summary, _ = run_catalog(fixed_options(catalog, output))
    assert summary.statuses == {"generated": 4, "existing": 12}
    assert getattr(summary, "remade", None) == 4
    assert all(os.path.exists(row["image_uri"]) for row in manifest_rows(output).values())


def test_5_export_reports_missing_images_and_exports_the_rest(tmp_path, catalog_factory):
    catalog = catalog_factory([{"id": f"s{i}", "prompt": f"a wool scarf, pattern {i}", "width": 256, "height": 256}
                               for i in range(6)])
    output = tmp_path / "out"
    run_catalog(fixed_options(catalog, output))
    gone = list(manifest_rows(output).values())[:2]
    for row in gone:
        os.remove(row["image_uri"])
    report = export(str(output), "hf", str(tmp_path / "hf"))
    assert report.exported == 4 and report.without_image == {"missing": 2}
    assert sorted(report.missing) == sorted(row["image_uri"] for row in gone)
    assert len(list((tmp_path / "hf" / "images").iterdir())) == 4


def test_6_refresh_rebuilds_a_damaged_manifest_from_its_history(tmp_path, catalog_factory):
    catalog = catalog_factory([{"id": f"m{i}", "prompt": f"a brass lamp, finish {i}", "width": 256, "height": 256}
                               for i in range(5)])
    output = tmp_path / "out"
    run_catalog(fixed_options(catalog, output))
    manifest = output / "manifest.parquet"
    manifest.write_bytes(manifest.read_bytes()[: manifest.stat().st_size // 2])  # truncated
    work, summary = refresh_catalog(fixed_options(catalog, output))
    assert summary.counts["unchanged"] == 5 and work.work_shards == []
    assert sorted(manifest_rows(output)) == [f"m{i}" for i in range(5)]


def test_7_a_flat_saturated_product_on_cream_is_not_a_blank_image():
    """A mustard-yellow pillow drawn as a bright yellow block on cream: nearly one grey level, two colours."""
    cream, yellow = (245, 238, 215), (255, 246, 120)
    image = Image.new("RGB", (512, 512), cream)
    ImageDraw.Draw(image).rectangle((96, 128, 416, 400), fill=yellow)
    assert abs(sum(w * c for w, c in zip((0.299, 0.587, 0.114), cream))
               - sum(w * c for w, c in zip((0.299, 0.587, 0.114), yellow))) < 4  # same grey, to a grey-level check
    check = blank_check(image, QaSettings())
    assert check.passed, check.detail
    assert not blank_check(Image.new("RGB", (512, 512), yellow), QaSettings()).passed  # a flat yellow still is


def test_8_a_key_echoed_base64_or_url_encoded_in_its_auth_header_is_scrubbed(tmp_path, monkeypatch):
    key = secret_key()
    monkeypatch.setenv("FAL_KEY", key)
    catalog = write_catalog(tmp_path / "c.parquet", square_rows(["fault:400-echo-b64 a paper crane"]))
    with FalServer(key) as fal:
        _, _, manifest = run_pipeline(catalog, str(tmp_path / "out"), "fal", {"base_url": fal.url, **FAST})
    assert manifest[0]["status"] == "failed" and "***" in manifest[0]["reason"]
    for form in (base64.b64encode(f"Key {key}".encode()).decode(), urllib.parse.quote(f"Key {key}"), key):
        assert scan_output_for(tmp_path / "out", form) == [], form


def test_9_a_disk_that_fills_mid_run_stops_the_paying_and_the_rerun_collects_what_was_recorded(tmp_path, keys,
                                                                                                 monkeypatch):
    """The output fills up after 3 images are stored (every later write fails with ENOSPC, at the store's one write
    seam). A billed job's intent is recorded before its create, so nothing more is paid once the disk is full; only a
    create already under way when it filled can lose its job id. Main before this: 44 creates for 24 images."""
    import errno

    from fluxcat.store import OutputNotWritable, Store

    catalog = write_catalog(tmp_path / "c.parquet", square_rows([f"a copper kettle, angle {i}" for i in range(24)]))
    output, concurrency, threads = tmp_path / "out", 2, 2
    stored, write_temp = [], Store.write_temp

    def filling_write_temp(store, data):
        if len(stored) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_temp(store, data)

    def counting_write_bytes(store, relpath, data, write_bytes=Store.write_bytes):
        write_bytes(store, relpath, data)
        if relpath.startswith("images/"):
            stored.append(relpath)

    with FalServer(keys["FAL_KEY"], job_seconds=0.2) as fal:
        options = {**FAST, "base_url": fal.url, "max_wait": 30, "concurrency": concurrency}
        with monkeypatch.context() as full:
            full.setattr(Store, "write_temp", filling_write_temp)
            full.setattr(Store, "write_bytes", counting_write_bytes)
            with pytest.raises(OutputNotWritable, match="no space left on the device"):
                run_pipeline(catalog, str(output), "fal", options, shard_size=12, threads=threads)
        in_flight = concurrency * threads  # creates that can be under way when the disk fills
        assert sum(fal.creates.values()) <= len(stored) + in_flight, dict(fal.creates)
        _, _, manifest = run_pipeline(catalog, str(output), "fal", options, shard_size=12, threads=threads)
    assert {row["status"] for row in manifest} <= {"generated", "existing"} and len(manifest) == 24
    paid_twice = [prompt for prompt, creates in fal.creates.items() if creates > 1]
    assert len(fal.creates) == 24 and len(paid_twice) <= in_flight, dict(fal.creates)
    assert list((output / "_work" / "ledger" / "open").glob("*.json")) == []
