"""The contract every backend passes, one suite for all (as fsspec's abstract tests and diffusers'
PipelineTesterMixin): subclass `BackendContract` (local) or `HostedContract` (billed, against loopback doubles the
official clients accept) in test_contract.py, name the backend, the rows it can make and the service it needs.
A new backend passes it or is not done.

Promises: the same request gives the same key and pixels; a rerun makes nothing, also after a crash before the
shard's part was written; QA's reseeding is reproducible and the kept image is found again by the next run; for
billed backends, a run killed with kill -9 mid-job pays for no image twice and its rerun keeps to its budget.
Backends that make images from product photos pass it again with `ReferenceRows` (Fill and Kontext rows), and keep
the product's own pixels in what they store."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from fluxcat.backends import get_backend
from fluxcat.ledger import CLOSED_DIR, OPEN_DIR
from fluxcat.pipeline import RunOptions
from tests.conftest import ROOT, write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST
from tests.pipeline import run_catalog

REFERENCES = ROOT / "datasets" / "references"
KILL_RUN = ("import json, sys; from tests.fluxcat.backends.hosted_helpers import run_pipeline; "
            "run_pipeline(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), shard_size=2, threads=3)")


@dataclass
class Service:
    """What a backend needs to run in a test: its options (base URLs of doubles) and the billed creates per prompt
    counted where they are paid for (at the doubles; nothing for local backends)."""

    options: dict = field(default_factory=dict)
    creates: Callable[[], dict[str, int]] = dict


@dataclass
class Made:
    """One run: its manifest rows by (id, image index) and how many requests reached the backend."""

    rows: dict
    asked: int
    summary: object


class BackendContract:
    name = ""  # the registry name
    size = {"width": 256, "height": 256}  # a size the backend makes
    options: dict = {}

    @contextlib.contextmanager
    def service(self, tmp_path: Path, monkeypatch, slow: bool = False) -> Iterator[Service]:
        yield Service(dict(self.options))

    def rows(self) -> list[dict]:
        return [{"id": f"c{i}", "prompt": f"a stoneware jug, glaze {i}", "model": "schnell", **self.size}
                for i in range(3)]

    def qa_row(self) -> dict:
        """A row whose images fail QA in a way a new seed may fix: no image shows the text it asks for."""
        return {"id": "qa", "prompt": "a plain paper bag", "model": "schnell", "text": "ZQXJ WVKP", **self.size}

    def kill_rows(self) -> list[dict]:
        """Six billed images for the kill -9 test, each its own prompt (the doubles count creates by prompt)."""
        return [{"id": f"k{i}", "prompt": f"a glass carafe, light {i}", "model": "schnell", **self.size}
                for i in range(6)]

    def run(self, service: Service, catalog: str, output: Path, qa: bool = False, budget: float | None = None,
            shard_size: int = 2) -> Made:
        backend = get_backend(self.name, {**(FAST if self.hosted else {}), **service.options})
        asked = []
        generate = backend.generate

        def counted(requests):
            asked.extend(requests)
            yield from generate(requests)

        backend.generate = counted  # what reached the backend, whatever it is
        options = RunOptions(catalog=catalog, output=str(output), backend=self.name, dedupe="off", shard_size=shard_size,
                             qa=qa, qa_retries=1, budget_usd=budget)
        _, summary, _ = run_catalog(options, backend=backend)
        rows = {(r["id"], r["image_index"]): r for r in _manifest(output)}
        return Made(rows, len(asked), summary)

    hosted = False

    # -- the contract

    def test_the_same_request_gives_the_same_key_and_pixels(self, tmp_path, monkeypatch):
        with self.service(tmp_path, monkeypatch) as service:
            catalog = write_catalog(tmp_path / "c.parquet", self.rows())
            first = self.run(service, catalog, tmp_path / "one")
            second = self.run(service, catalog, tmp_path / "two")
        assert {k: r["status"] for k, r in first.rows.items()} == {k: "generated" for k in first.rows}
        assert {k: r["key"] for k, r in first.rows.items()} == {k: r["key"] for k, r in second.rows.items()}
        for key, row in first.rows.items():
            _assert_same_pixels(row["image_uri"], second.rows[key]["image_uri"])

    def test_a_rerun_makes_nothing_even_after_a_crash_before_the_parts(self, tmp_path, monkeypatch):
        with self.service(tmp_path, monkeypatch) as service:
            catalog = write_catalog(tmp_path / "c.parquet", self.rows())
            first = self.run(service, catalog, tmp_path / "out")
            paid = dict(service.creates())
            again = self.run(service, catalog, tmp_path / "out")
            shutil.rmtree(tmp_path / "out" / "_work" / "parts")  # killed after the images, before the parts
            after_crash = self.run(service, catalog, tmp_path / "out")
            assert dict(service.creates()) == paid
        assert first.asked == len(first.rows) and again.asked == after_crash.asked == 0
        assert {r["status"] for r in again.rows.values()} == {r["status"] for r in after_crash.rows.values()} == {"existing"}
        assert {k: r["key"] for k, r in after_crash.rows.items()} == {k: r["key"] for k, r in first.rows.items()}

    def test_qa_reseeding_is_reproducible_and_the_kept_image_is_found_again(self, tmp_path, monkeypatch):
        with self.service(tmp_path, monkeypatch) as service:
            catalog = write_catalog(tmp_path / "c.parquet", [self.qa_row()])
            first = self.run(service, catalog, tmp_path / "one", qa=True)
            second = self.run(service, catalog, tmp_path / "two", qa=True)
            paid = dict(service.creates())
            shutil.rmtree(tmp_path / "one" / "_work" / "parts")
            rerun = self.run(service, catalog, tmp_path / "one", qa=True)
            assert dict(service.creates()) == paid
        [(key, row)] = first.rows.items()
        attempts = json.loads(row["qa_details"])["attempts"]
        assert row["qa_attempts"] == len(attempts) == 2 and first.asked == 2  # reseeded once (qa_retries=1)
        assert [a["seed"] for a in attempts] == [attempts[0]["seed"], attempts[0]["seed"] + 1]
        assert row["seed"] in (a["seed"] for a in attempts)
        twin = second.rows[key]
        assert (twin["key"], twin["seed"], twin["qa_status"]) == (row["key"], row["seed"], row["qa_status"])
        _assert_same_pixels(row["image_uri"], twin["image_uri"])
        assert rerun.asked == 0 and rerun.rows[key]["status"] == "existing" and rerun.rows[key]["key"] == row["key"]


class ReferenceRows:
    """The contract with rows made from product photos: `background` rows (FLUX.1 Fill) and an `edit` row (FLUX.1
    Kontext); QA's row an edit whose product is lost (a new seed may keep it); the kill test's images Fill's. Mix it in
    before BackendContract or HostedContract."""

    def rows(self) -> list[dict]:
        return [{"id": "c0", "prompt": "a candle on an oak shelf", "reference_image": str(REFERENCES / "candle-jar.png"),
                 **self.size},
                {"id": "c1", "prompt": "a sneaker on a city pavement",
                 "reference_image": str(REFERENCES / "sneaker-white.png"), **self.size},
                {"id": "c2", "prompt": "the same mug on a snowy windowsill", "reference_mode": "edit",
                 "reference_image": str(REFERENCES / "mug-offwhite.jpg"), **self.size}]

    def qa_row(self) -> dict:
        return {"id": "qa", "prompt": "the same candle jar in autumn colours", "reference_mode": "edit",
                "reference_image": str(REFERENCES / "candle-jar.png"), **self.size}

    def kill_rows(self) -> list[dict]:
        return [{"id": f"k{i}", "prompt": f"a candle on a marble counter, light {i}",
                 "reference_image": str(REFERENCES / "candle-jar.png"), **self.size} for i in range(6)]

    def test_the_backend_was_asked_for_fill_and_kontext_and_the_product_is_kept(self, tmp_path, monkeypatch):
        from fluxcat.reference import place, read_reference

        with self.service(tmp_path, monkeypatch) as service:
            made = self.run(service, write_catalog(tmp_path / "c.parquet", self.rows()), tmp_path / "out")
        assert {(r["model"], r["reference_mode"]) for r in made.rows.values()} == {("fill", "background"),
                                                                                   ("kontext", "edit")}
        for row in made.rows.values():
            assert row["status"] == "generated" and row["backend"] != "packshot", row["reason"]
            if row["reference_mode"] == "background":  # stored as PNG: the product's pixels exactly
                placement = place(read_reference(row["reference_image"]), (row["delivered_width"],
                                  row["delivered_height"]), box=tuple(row["product_box"]))
                stored = np.asarray(Image.open(row["image_uri"]).convert("RGB"))
                assert np.array_equal(stored[placement.mask], np.asarray(placement.layer)[..., :3][placement.mask])


class HostedContract(BackendContract):
    hosted = True
    size = {"image_size": "square"}
    queued = True  # a queue API: jobs in flight at a crash are collected by the rerun, never paid for again
    price = 0.003  # the highest price of one image here (USD); the options set it where the provider publishes none
    kill_options = {"concurrency": 3}  # three billed calls in flight when the run is killed

    def test_kill_9_mid_job_never_pays_twice_and_the_budget_holds(self, tmp_path, monkeypatch):
        catalog = write_catalog(tmp_path / "c.parquet", self.kill_rows())
        output = tmp_path / "out"
        with self.service(tmp_path, monkeypatch, slow=True) as service:
            options = {**FAST, **service.options, "max_wait": 30, "timeout": 30, **self.kill_options}
            child = subprocess.Popen([sys.executable, "-c", KILL_RUN, catalog, str(output), self.name,
                                      json.dumps(options)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            deadline = time.monotonic() + 60
            # billed and in flight: a queue job once its id is recorded (its intent, recorded before the create,
            # names no job yet), a one-call API's call once recorded
            while len([r for r in _records(output, OPEN_DIR) if r["job"] or not self.queued]) < 3 or \
                    sum(service.creates().values()) < 3:
                assert time.monotonic() < deadline and child.poll() is None, "the run never had billed work in flight"
                time.sleep(0.05)
            child.send_signal(signal.SIGKILL)
            child.wait()
            assert not list(output.glob("images/**/*.png"))  # killed before any image was stored
            in_flight = {record["key"] for record in _records(output, OPEN_DIR)}
            budget = 5 * self.price  # room for five of the six images
            # one shard: a shard collects what is paid for before it spends (across shards, order is the runner's)
            rerun = self.run(Service(options, service.creates), catalog, output, budget=budget, shard_size=6)
            creates = dict(service.creates())
        made = [row for row in rerun.rows.values() if row["status"] == "generated"]
        assert {row["key"] for row in made} >= in_flight  # what was paid for is collected first
        assert sum(row["cost_usd"] for row in rerun.rows.values()) <= budget + 1e-9
        assert {row["status"] for row in rerun.rows.values()} <= {"generated", "skipped"}
        assert _records(output, OPEN_DIR) == []  # every record closed, whoever served it
        if self.queued:
            assert max(creates.values()) == 1, creates  # no image paid for twice
        else:  # a one-call API's call cut by the kill has no job to collect: it is made again, and the ledger says so
            lost = {record["key"] for record in _records(output, CLOSED_DIR) if record["outcome"] == "lost"}
            paid_twice = {row["prompt"] for row in rerun.rows.values() if creates.get(row["prompt"], 0) > 1}
            assert lost == in_flight and max(creates.values()) <= 2, (lost, in_flight, creates)
            assert paid_twice <= {row["prompt"] for row in rerun.rows.values() if row["key"] in lost}


def _manifest(output: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(output / "manifest.parquet").to_pylist()


def _records(output: Path, folder: str) -> list[dict]:
    return [json.loads(path.read_text()) for path in (output / folder).glob("*.json")]


def _assert_same_pixels(one: str, two: str) -> None:
    """Equal pixels; batched float maths (the diffusers path) may move a pixel by a rounding step, never more."""
    first, second = (np.asarray(Image.open(io.BytesIO(Path(p).read_bytes())).convert("RGB"), dtype=int) for p in (one, two))
    assert first.shape == second.shape and np.abs(first - second).max() <= 2
