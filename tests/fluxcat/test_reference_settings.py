"""The References settings group from the command line to the plan (default mode, channels, a user's channels file,
a segmenter), bad ones failing before any work with one line; and a reference that changes or vanishes between
planning and generation failing its row with the reason, the rest of the run going on."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from fluxcat.errors import UserError
from fluxcat.pipeline import RunOptions, check_options, finish, open_run, plan, run_one_shard
from tests.conftest import write_catalog
from tests.packshots import REFERENCES


@pytest.fixture
def catalog(tmp_path):
    shutil.copytree(REFERENCES, tmp_path / "references")
    return write_catalog(tmp_path / "catalog.parquet", [
        {"id": "a", "prompt": "a candle on an oak shelf", "reference_image": "references/candle-jar.png",
         "image_size": "square"},
        {"id": "b", "prompt": "a sneaker on a city pavement", "reference_image": "references/sneaker-white.png",
         "channels": "shopping-ads", "image_size": "square"},
        {"id": "c", "prompt": "a paper bag", "image_size": "square"},
    ])


def planned_rows(capsys, argv: list[str]) -> list[dict]:
    from fluxcat_cli.main import main

    assert main(["plan", *argv, "--backend", "fixed", "--dedupe", "off", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_flags_set_the_default_mode_and_channels_rows_keep_their_own(catalog, capsys, tmp_path):
    plain = planned_rows(capsys, [catalog, "--output", str(tmp_path / "o1")])
    assert plain["models"] == {"fill": 1, "packshot": 1, "schnell": 1} and plain["images_to_generate"] == 3
    white = planned_rows(capsys, [catalog, "--output", str(tmp_path / "o2"), "--reference-mode", "white",
                                  "--channels", "marketplace-main,social-feed-portrait"])
    # a and c take the two default channels; b keeps its own; every reference output is a white packshot
    assert white["images_to_generate"] == 5 and white["models"] == {"packshot": 3, "schnell": 2}
    assert white["sizes"] == {"1000x1000": 1, "800x800": 1, "1080x1350": 1, "1008x1008": 1, "912x1136": 1}


def test_a_users_channels_file_adds_a_channel(catalog, tmp_path):
    spec = {"channels": {"catalog-thumb": {
        "title": "Catalog thumbnail", "size": [600, 600], "aspect": "1:1", "background": "white", "fill": [0.7, 0.9],
        "format": "png", "max_bytes": 500000, "guideline": {"source": "our print catalog", "url": "https://example.org",
                                                             "rules": "600x600 on white"}}}}
    (tmp_path / "channels.json").write_text(json.dumps(spec))
    options = RunOptions(catalog=catalog, output=str(tmp_path / "out"), backend="fixed", dedupe="off",
                         channels=["catalog-thumb"], channels_file=str(tmp_path / "channels.json"))
    check_options(options)
    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
        for shard in shards:
            run_one_shard(run, shard)
    finish(options, shards, set())
    rows = {row["id"]: row for row in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert rows["a"]["channel"] == "catalog-thumb" and rows["a"]["image_format"] == "png"
    assert (rows["a"]["delivered_width"], rows["a"]["delivered_height"]) == (600, 600)
    assert rows["a"]["qa_status"] == "passed" and rows["b"]["channel"] == "shopping-ads"


@pytest.mark.parametrize("settings, message", [
    ({"channels": ["tiktok"]}, "channels: unknown channel 'tiktok'"),
    ({"channels_file": "/nowhere/channels.json"}, "channels_file /nowhere/channels.json cannot be read"),
    ({"reference_segmenter": "no_such_module:mask"}, "reference_segmenter 'no_such_module:mask' cannot be imported"),
    ({"reference_segmenter": "nocolon"}, "must be 'package.module:function'"),
])
def test_bad_reference_settings_fail_before_any_work(catalog, tmp_path, settings, message):
    options = RunOptions(catalog=catalog, output=str(tmp_path / "out"), backend="fixed", **settings)
    with pytest.raises(UserError, match=message):
        check_options(options)
    assert not (tmp_path / "out").exists()


def test_the_cli_says_a_bad_channel_in_one_line(catalog, tmp_path, capsys):
    from fluxcat_cli.main import main

    assert main(["run", catalog, "--output", str(tmp_path / "out"), "--backend", "fixed", "--channels", "tiktok"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "fluxcat: error: channels: unknown channel 'tiktok': choose from marketplace-main, marketplace-secondary, "
        "storefront-square, social-feed-portrait, shopping-ads (or add it to channels_file)"]


def test_a_reference_changed_or_gone_after_planning_fails_its_row_with_the_reason(catalog, tmp_path):
    options = RunOptions(catalog=catalog, output=str(tmp_path / "out"), backend="fixed", dedupe="off")
    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
    shutil.copy(REFERENCES / "mug-offwhite.jpg", tmp_path / "references" / "candle-jar.png")
    (tmp_path / "references" / "sneaker-white.png").unlink()
    with open_run(options) as run:  # a worker process's context: it reads the references anew
        for shard in shards:
            run_one_shard(run, shard)
    finish(options, shards, set())
    rows = {row["id"]: row for row in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert rows["a"]["status"] == "failed" and "changed after this run planned it" in rows["a"]["reason"]
    assert rows["b"]["status"] == "failed" and "not found" in rows["b"]["reason"]
    assert rows["c"]["status"] == "generated"


def test_a_catalog_given_by_a_relative_path_finds_its_references_when_planning_and_generating(catalog, tmp_path,
                                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # the catalog and the output as relative paths, as `fluxcat run` is often given
    relative = f"{tmp_path.name}/catalog.parquet"
    options = RunOptions(catalog=relative, output=f"{tmp_path.name}/out", backend="fixed", dedupe="off")
    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
        for shard in shards:
            run_one_shard(run, shard)
    finish(options, shards, set())
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert {row["status"] for row in rows} == {"generated"}, [row["reason"] for row in rows]
    assert {row["reference_image"] for row in rows if row["reference_image"]} == {
        str(tmp_path / "references" / "candle-jar.png"), str(tmp_path / "references" / "sneaker-white.png")}
