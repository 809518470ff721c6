"""Running shards: every row gets an outcome, finished work is never redone, crashes lose nothing finished."""

import io
import os

from PIL import Image

from fluxcat.backends.fixed import FixedBackend
from fluxcat.generate import ShardSettings, run_shard
from fluxcat.layout import PARTS_DIR
from fluxcat.manifest import merge_parts, read_manifest
from fluxcat.pipeline import RunOptions, open_run
from fluxcat.report import write_index
from fluxcat.shards import PlanSettings, plan_catalog
from fluxcat.store import Store, image_relpath
from tests.pipeline import run_catalog


class CountingBackend(FixedBackend):
    """The fixed backend, counting what it is asked to make."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.made: list[str] = []

    def generate(self, requests):
        self.made += [r.key for r in requests]
        yield from super().generate(requests)


def planned(tmp_path, catalog_factory, rows, backend, **overrides):
    store = Store(str(tmp_path / "out"))
    report = plan_catalog(catalog_factory(rows), store, PlanSettings(model_id=backend.model_id, **overrides))
    return store, [s.name for s in report.shards]


def run_all(store, shards, backend, **settings):
    """Every shard in one run around this backend instance; QA off unless asked."""
    options = RunOptions(catalog="unused", output=store.url)
    with open_run(options, backend=backend) as run:
        return [run_shard(run, shard, ShardSettings(**{"qa": None, **settings})) for shard in shards]


ROWS = [{"id": f"r{i}", "prompt": f"product {i}", "image_size": "square"} for i in range(6)]


def test_every_row_gets_an_outcome_and_failures_do_not_stop_others(tmp_path, catalog_factory):
    backend = CountingBackend(fail_prompts_containing="product 3")
    store, shards = planned(tmp_path, catalog_factory, ROWS + [{"id": "bad", "prompt": " "}], backend, shard_size=4)
    run_all(store, shards, backend)
    summary = merge_parts(store, shards)
    rows = {r["id"]: r for r in read_manifest(store).to_pylist()}
    assert summary.statuses == {"generated": 5, "failed": 1, "rejected": 1}
    assert rows["r3"]["status"] == "failed" and "told to fail" in rows["r3"]["reason"]
    assert rows["bad"]["status"] == "rejected"
    for row in rows.values():
        if row["status"] == "generated":
            data = store.read_bytes(image_relpath(row["key"], "png"))
            assert Image.open(io.BytesIO(data)).size == (512, 512)
            assert row["bytes"] == len(data) and len(row["sha256"]) == 64 and row["backend"] == "fixed"


def test_a_duplicate_of_a_failed_row_fails_with_it_and_is_made_by_a_retry(tmp_path, catalog_factory):
    rows = [{"id": "a", "prompt": "product 1", "image_size": "square"}, {"id": "b", "prompt": "Product 1.", "image_size": "square"}]
    failing = CountingBackend(fail_prompts_containing="product 1")
    store, shards = planned(tmp_path, catalog_factory, rows, failing)
    run_all(store, shards, failing)
    summary = merge_parts(store, shards)
    by_id = {r["id"]: r for r in read_manifest(store).to_pylist()}
    assert summary.statuses == {"failed": 2}
    assert by_id["b"]["reason"].startswith("same image as a, which was not made: fixed backend told to fail")
    healthy = CountingBackend()
    run_all(store, shards, healthy, retry_failed=True)
    merge_parts(store, shards)
    assert [r["status"] for r in read_manifest(store).to_pylist()] == ["generated", "duplicate"]


def test_rerun_regenerates_nothing(tmp_path, catalog_factory):
    backend = CountingBackend()
    store, shards = planned(tmp_path, catalog_factory, ROWS, backend, shard_size=4)
    run_all(store, shards, backend)
    assert len(backend.made) == 6
    outcomes = run_all(store, shards, backend)
    assert len(backend.made) == 6 and all(o.reused for o in outcomes)
    summary = merge_parts(store, shards, reused={o.shard for o in outcomes})
    assert summary.statuses == {"existing": 6}


def test_resume_after_a_crash_makes_only_what_is_missing(tmp_path, catalog_factory):
    backend = CountingBackend()
    store, shards = planned(tmp_path, catalog_factory, ROWS, backend, shard_size=6)
    run_all(store, shards, backend)
    table = read_part(store, shards[0])
    # Simulate a crash mid-shard: the part was never written and half the images never landed.
    store.delete(f"{PARTS_DIR}/{shards[0]}.parquet")
    lost = [r["key"] for r in table.to_pylist()][:3]
    for key in lost:
        store.delete(image_relpath(key, "png"))
    backend.made.clear()
    run_all(store, shards, backend)
    assert sorted(backend.made) == sorted(lost)
    statuses = read_part(store, shards[0]).column("status").to_pylist()
    assert sorted(statuses) == ["existing"] * 3 + ["generated"] * 3
    assert len(store.list("images")) == 6


def test_retry_failed_reattempts_only_failed_rows(tmp_path, catalog_factory):
    failing = CountingBackend(fail_prompts_containing="product 2")
    store, shards = planned(tmp_path, catalog_factory, ROWS, failing, shard_size=6)
    run_all(store, shards, failing)
    healthy = CountingBackend()
    run_all(store, shards, healthy)  # a plain rerun keeps the failure
    assert healthy.made == []
    run_all(store, shards, healthy, retry_failed=True)
    assert len(healthy.made) == 1
    assert read_part(store, shards[0]).column("status").to_pylist().count("generated") == 1


def test_ids_cannot_write_outside_the_output_root(tmp_path, catalog_factory):
    evil = ["../../escape", "/etc/passwd", "..\\..\\win", "a/../../b", "<script>alert(1)</script>"]
    rows = [{"id": evil_id, "prompt": f"mug {i}"} for i, evil_id in enumerate(evil)]
    options = RunOptions(catalog=catalog_factory(rows), output=str(tmp_path / "root" / "out"), backend="fixed")
    run_catalog(options)
    written = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files if d != str(tmp_path)]
    assert written and all(path.startswith(str(tmp_path / "root" / "out" / "")) for path in written)
    assert sorted(os.listdir(tmp_path)) == ["catalog-0.parquet", "root"]
    manifest = read_manifest(Store(options.output))
    assert sorted(manifest.column("id").to_pylist()) == sorted(evil)
    html = open(tmp_path / "root" / "out" / "index.html").read()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_index_escapes_prompts_and_shows_reasons(tmp_path, catalog_factory):
    backend = CountingBackend()
    rows = [{"id": "x", "prompt": 'a <b>bold</b> "mug" & co'}, {"id": "y", "prompt": ""},
            {"id": "z", "prompt": "a cup", "width": 650, "height": 300}]
    store, shards = planned(tmp_path, catalog_factory, rows, backend)
    run_all(store, shards, backend)
    summary = merge_parts(store, shards)
    write_index(store, summary)
    html = store.read_bytes("index.html").decode()
    assert "a &lt;b&gt;bold&lt;/b&gt; &quot;mug&quot; &amp; co" in html and "<b>bold" not in html
    assert "prompt is empty" in html
    assert "corrected: size 650x300 -&gt; 656x304" in html
    key = read_manifest(store).to_pylist()[0]["key"]
    assert f'src="images/{key[:2]}/{key}.png"' in html  # relative: works from disk or a bucket


def test_formats(tmp_path, catalog_factory):
    for image_format, pil_format in (("webp", "WEBP"), ("jpeg", "JPEG")):
        backend = CountingBackend()
        store, shards = planned(tmp_path / image_format, catalog_factory, ROWS[:1], backend, image_format=image_format)
        run_all(store, shards, backend, image_format=image_format)
        row = read_part(store, shards[0]).to_pylist()[0]
        assert row["image_uri"].endswith(".jpg" if image_format == "jpeg" else ".webp")
        assert Image.open(io.BytesIO(store.read_bytes(image_relpath(row["key"], image_format)))).format == pil_format


def read_part(store, shard):
    return store.read_table(f"{PARTS_DIR}/{shard}.parquet")
