"""Exports, checked by the data libraries themselves: `datasets` loads the imagefolder, `webdataset` reads the shards."""

import glob
import io
import os

import pytest
from PIL import Image

from fluxcat.errors import UserError
from fluxcat.export import HF_METADATA, export
from fluxcat.manifest import read_manifest
from fluxcat.pipeline import RunOptions
from fluxcat.store import Store
from tests.fluxcat.test_store import _fill, _remount, tmpfs  # noqa: F401 (tmpfs: a fixture, used by name)
from tests.pipeline import run_catalog

ROWS = [{"id": f"sku-{i}", "prompt": f'a {colour} tote bag printed with "SHOP {i}"', "image_size": "square",
         "group": "tote", "price": 10.0 + i} for i, colour in enumerate(["red", "navy", "green", "yellow", "teal"])]
ROWS += [{"id": "again", "prompt": ROWS[0]["prompt"] + ".", "image_size": "square", "group": "tote", "price": 1.0},
         {"id": "bad", "prompt": "   ", "price": 2.0}]


@pytest.fixture(params=["local", "memory"])
def finished_run(request, tmp_path, catalog_factory):
    """A run of the rendering backend, to a folder or to fsspec's memory filesystem."""
    output = str(tmp_path / "out") if request.param == "local" else f"memory://export-{tmp_path.name}/out"
    options = RunOptions(catalog=catalog_factory(ROWS), output=output, backend="text-render", dedupe="exact",
                         backend_options={"misspell_rate": 0}, shard_size=3)
    run_catalog(options)
    manifest = read_manifest(Store(output)).to_pylist()
    return output, manifest


def with_image(manifest):
    return [r for r in manifest if r["status"] in ("generated", "existing", "duplicate")]


def test_hf_export_loads_with_datasets_imagefolder_with_every_manifest_column(finished_run, tmp_path):
    from datasets import load_dataset

    output, manifest = finished_run
    report = export(output, "hf", str(tmp_path / "hf"))
    loaded = load_dataset("imagefolder", data_dir=str(tmp_path / "hf"), split="train")
    expected = with_image(manifest)
    assert report.exported == len(loaded) == len(expected) == 6 and report.without_image == {"rejected": 1}
    assert set(manifest[0]) <= set(loaded.column_names) and "image" in loaded.column_names
    by_id = {r["id"]: r for r in expected}
    source = Store(output)
    for sample in loaded:
        row = by_id[sample["id"]]
        assert {k: sample[k] for k in ("status", "key", "seed", "group", "price", "qa_status")} == \
               {k: row[k] for k in ("status", "key", "seed", "group", "price", "qa_status")}
        stored = Image.open(io.BytesIO(source.read_bytes("images/" + row["image_uri"].rsplit("/images/", 1)[1])))
        assert sample["image"].convert("RGB").tobytes() == stored.convert("RGB").tobytes()
    assert by_id["again"]["status"] == "duplicate"


def test_webdataset_export_reads_back_with_webdataset(finished_run, tmp_path):
    import webdataset

    output, manifest = finished_run
    report = export(output, "webdataset", str(tmp_path / "wds"), samples_per_shard=4)
    shards = sorted(glob.glob(str(tmp_path / "wds" / "shard-*.tar")))
    assert len(shards) == len(report.files) == 2
    samples = list(webdataset.WebDataset(shards, shardshuffle=False).decode("pil"))
    assert len(samples) == report.exported == len(with_image(manifest))
    by_key = {f"{r['row_number']:08d}-{r['image_index'] or 0}": r for r in with_image(manifest)}
    for sample in samples:
        row = by_key[sample["__key__"]]
        assert sample["json"]["id"] == row["id"] and sample["json"]["qa_status"] == row["qa_status"]
        assert sample["png"].size == (row["width"], row["height"])


def test_export_without_a_manifest_or_with_a_bad_format_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="fluxcat run"):
        export(str(tmp_path / "nothing"), "hf")
    with pytest.raises(UserError, match="hf, webdataset"):
        export(str(tmp_path / "nothing"), "csv")


# A full and a read-only destination, on real filesystems: test_store.py's tmpfs mounted inside the test's folder.

@pytest.mark.parametrize("fmt, export_file", [("hf", HF_METADATA), ("webdataset", "shard-000000.tar")])
@pytest.mark.parametrize("disk_state, cause", [("full", "no space left on the device (errno 28)"),
                                               ("read-only", "the filesystem is read-only (errno 30)")])
def test_an_unwritable_destination_ends_with_one_line_and_no_half_written_file(tmp_path, tmpfs, catalog_factory,
                                                                              capsys, fmt, export_file, disk_state,
                                                                              cause):
    from fluxcat_cli.main import main

    output = str(tmp_path / "out")
    run_catalog(RunOptions(catalog=catalog_factory(ROWS), output=output, backend="fixed", dedupe="exact", qa=False))
    disk = tmpfs("disk", 1024)
    dest = disk / "export"
    dest.mkdir()
    if disk_state == "full":
        _fill(disk)
    else:
        _remount(disk, "ro")
    assert main(["export", output, "-f", fmt, "--dest", str(dest)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"fluxcat: error: cannot write {dest}/") and cause in line, line
    assert "Traceback" not in captured.err + captured.out
    assert not (dest / export_file).exists()  # never half-written: a loader would read a broken file
    if disk_state == "full":
        os.unlink(disk / "filler")
    else:
        _remount(disk, "rw")
    report = export(output, fmt, str(dest))
    assert report.exported == 6 and (dest / export_file).exists()
