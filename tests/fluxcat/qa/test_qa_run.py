"""Image QA end to end: the rendering backend draws each prompt's quoted text, right or misspelled, and the
real OCR (rapidocr) reads every stored image back; misspelled rows are reseeded, and every attempt is recorded."""

import io
import json

import pytest
from PIL import Image

from fluxcat.backends.text_render import chance
from fluxcat.manifest import read_manifest
from fluxcat.pipeline import RunOptions, check_options, open_run, plan
from fluxcat.plan import content_key
from fluxcat.qa.checks import similarity
from fluxcat.qa.ocr import TextReader
from fluxcat.store import Store, image_relpath
from tests.pipeline import run_catalog

LABELS = ["FRESH COFFEE", "NORTH TRAIL 42", "ORGANIC GREEN TEA", "SUMMER SALE"]
RATE = 0.5


def spelled_right(prompt: str, seed: int) -> bool:
    return chance(prompt, seed, "spelling") >= RATE


def seed_where(prompt: str, pattern: list[bool]) -> int:
    """The first seed whose run of consecutive seeds renders right/wrong as `pattern` says."""
    return next(s for s in range(10_000) if [spelled_right(prompt, s + i) for i in range(len(pattern))] == pattern)


def run(tmp_path, catalog_factory, rows, **options):
    run_options = RunOptions(catalog=catalog_factory(rows), output=str(tmp_path / "out"),
                             **{"backend": "text-render", "dedupe": "off", **options})
    run_catalog(run_options)
    store = Store(run_options.output)
    return store, {r["id"]: r for r in read_manifest(store).to_pylist()}


def stored_text(store, row) -> str:
    data = store.read_bytes(image_relpath(row["key"], "png"))
    return TextReader(engines=1)(Image.open(io.BytesIO(data)))


def text_catalog():
    """Per label: right first time, wrong then right, and wrong three times running."""
    rows = []
    for n, label in enumerate(LABELS):
        for case, pattern in (("right", [True]), ("fixed", [False, True]), ("wrong", [False, False, False])):
            prompt = f'product photo of a shopping bag printed with "{label}"'
            rows.append({"id": f"{case}-{n}", "prompt": prompt, "image_size": "square", "case": case,
                         "seed": seed_where(prompt, pattern)})
    return rows


def test_right_rows_pass_misspelled_rows_are_reseeded_and_every_attempt_is_recorded(tmp_path, catalog_factory):
    store, rows = run(tmp_path, catalog_factory, text_catalog(), backend_options={"misspell_rate": RATE})
    for row in rows.values():
        details = json.loads(row["qa_details"])
        attempts = details["attempts"]
        assert row["status"] == "generated" and len(attempts) == row["qa_attempts"]
        assert row["key"] == content_key("text-render/schnell", row["prompt"], 512, 512, 4, 0.0, attempts[0]["seed"], 0)
        assert [a["seed"] for a in attempts] == [attempts[0]["seed"] + i for i in range(len(attempts))]
        expected = details["checks"]["text"]["expected"]
        found = stored_text(store, row)  # the OCR reads the image that was actually stored
        if row["case"] == "right":
            assert (row["qa_status"], row["qa_attempts"]) == ("passed", 1)
            assert similarity(expected, found) >= 0.9
        elif row["case"] == "fixed":
            assert (row["qa_status"], row["qa_attempts"]) == ("retried", 2)
            assert not attempts[0]["passed"] and attempts[1]["passed"] and details["kept"] == 2
            assert row["seed"] == attempts[1]["seed"] and row["image_uri"].endswith(f"{row['key']}.png")
            assert similarity(expected, found) >= 0.9
        else:
            assert (row["qa_status"], row["qa_attempts"]) == ("flagged", 3)
            assert not any(a["passed"] for a in attempts) and "text reads" in details["reason"]
            assert similarity(expected, found) < 0.9
        assert row["qa_score"] == pytest.approx(details["checks"]["text"]["score"], abs=1e-4)


def test_a_kept_retry_is_stored_under_the_key_the_planner_computes_so_a_rerun_makes_nothing(tmp_path, catalog_factory):
    prompt = 'a tote bag with "FRESH COFFEE"'
    planned_seed = seed_where(prompt, [False, True])
    rows = [{"id": "a", "prompt": prompt, "image_size": "square", "seed": planned_seed}]
    store, out = run(tmp_path, catalog_factory, rows, backend_options={"misspell_rate": RATE})
    row = out["a"]
    assert (row["qa_status"], row["seed"]) == ("retried", planned_seed + 1)
    assert row["key"] == content_key("text-render/schnell", prompt, 512, 512, 4, 0.0, planned_seed, 0)
    assert store.list("images") == [image_relpath(row["key"], "png")]  # only the kept attempt is stored
    store.delete(store.list("_work/parts")[0])  # as if killed before the part was written
    _, again = run(tmp_path, catalog_factory, rows, backend_options={"misspell_rate": RATE})
    assert again["a"]["status"] == "existing" and again["a"]["key"] == row["key"]


def test_blank_images_are_reseeded_then_flagged(tmp_path, catalog_factory):
    rows = [{"id": f"b{i}", "prompt": f"studio photo of product {i}", "image_size": "square"} for i in range(8)]
    store, out = run(tmp_path, catalog_factory, rows, backend_options={"blank_rate": 0.5, "misspell_rate": 0})
    for row in out.values():
        attempts = json.loads(row["qa_details"])["attempts"]
        blank = [chance(row["prompt"], a["seed"], "blank") < 0.5 for a in attempts]
        assert [not a["passed"] for a in attempts] == blank  # the check saw exactly the blanked renders
        assert row["qa_status"] == {1: "passed", 2: "retried", 3: "retried" if not blank[-1] else "flagged"}[len(attempts)]
        for attempt, was_blank in zip(attempts, blank):
            if was_blank:
                assert attempt["checks"]["blank"]["problem"] == "uniform"
    assert {r["qa_status"] for r in out.values()} >= {"passed", "retried"}


def test_colour_is_checked_against_color_hex_or_the_named_colour_and_flagged_without_retry(tmp_path, catalog_factory):
    rows = [{"id": "navy", "prompt": "a navy rain jacket on a hanger", "image_size": "square"},
            {"id": "hex", "prompt": "a red ceramic mug", "color_hex": "#ff0000", "image_size": "square"},
            {"id": "hex-off", "prompt": "a red ceramic mug, studio", "color_hex": "#00ff00", "image_size": "square"},
            {"id": "two", "prompt": "a red and white striped mug", "image_size": "square"}]
    _, right = run(tmp_path / "right", catalog_factory, rows, backend_options={"misspell_rate": 0})
    assert right["navy"]["qa_status"] == "passed" and right["hex"]["qa_status"] == "passed"
    hex_off = json.loads(right["hex-off"]["qa_details"])
    assert right["hex-off"]["qa_status"] == "flagged" and right["hex-off"]["qa_attempts"] == 1
    assert hex_off["checks"]["colour"]["from"] == "color_hex" and hex_off["checks"]["colour"]["found"] == "#ff0000"
    assert "colour" not in json.loads(right["two"]["qa_details"])["checks"]
    assert "several colours" in json.loads(right["two"]["qa_details"])["notes"][0]
    _, wrong = run(tmp_path / "wrong", catalog_factory, rows[:1], backend_options={"misspell_rate": 0, "wrong_colour_rate": 1})
    details = json.loads(wrong["navy"]["qa_details"])
    assert wrong["navy"]["qa_status"] == "flagged" and wrong["navy"]["qa_attempts"] == 1
    assert details["checks"]["colour"]["delta_e"] > 20 and details["checks"]["colour"]["found"] == "#000000"


def test_qa_off_checks_nothing_and_says_so(tmp_path, catalog_factory):
    prompt = 'a mug with "FRESH COFFEE"'
    _, rows = run(tmp_path, catalog_factory, [{"id": "a", "prompt": prompt, "image_size": "square",
                                               "seed": seed_where(prompt, [False])}],
                  backend_options={"misspell_rate": RATE}, qa=False)
    assert rows["a"]["qa_status"] == "skipped" and rows["a"]["qa_attempts"] is None and rows["a"]["qa_details"] is None


def test_a_bad_qa_retries_value_fails_before_any_work(tmp_path, catalog_factory):
    with pytest.raises(ValueError, match="qa_retries"):
        check_options(RunOptions(catalog=catalog_factory([{"prompt": "x"}]), output=str(tmp_path / "o"),
                                 backend="fixed", qa_retries=-1))


def test_a_duplicate_of_a_reseeded_row_points_at_the_kept_image(tmp_path, catalog_factory):
    prompt = 'a tote bag with "FRESH COFFEE"'
    seed = seed_where(prompt, [False, True])
    rows = [{"id": "a", "prompt": prompt, "image_size": "square", "seed": seed},
            {"id": "b", "prompt": prompt + ".", "image_size": "square", "seed": seed}]
    store, out = run(tmp_path, catalog_factory, rows, backend_options={"misspell_rate": RATE}, dedupe="exact")
    assert out["a"]["qa_status"] == "retried" and out["b"]["status"] == "duplicate"
    assert (out["b"]["key"], out["b"]["image_uri"]) == (out["a"]["key"], out["a"]["image_uri"])
    assert store.exists(image_relpath(out["b"]["key"], "png"))


def test_refresh_of_an_unchanged_catalog_keeps_reseeded_rows_without_regenerating(tmp_path, catalog_factory):
    from fluxcat.refresh import finish_refresh, prepare_refresh

    rows = text_catalog()[:3]
    catalog = catalog_factory(rows)
    store, before = run(tmp_path, lambda _: catalog, rows, backend_options={"misspell_rate": RATE})
    options = RunOptions(catalog=catalog, output=store.url, backend="text-render", dedupe="off",
                         backend_options={"misspell_rate": RATE})
    with open_run(options) as context:
        plan_shards = [s.name for s in plan(context).shards]
    work = prepare_refresh(store, plan_shards, "png")
    assert work.counts["unchanged"] == 3 and work.work_shards == []
    finish_refresh(store, work.token, plan_shards, work.work_shards)
    after = {r["id"]: r for r in read_manifest(store).to_pylist()}
    for row_id, row in before.items():
        assert {k: after[row_id][k] for k in ("key", "seed", "image_uri", "qa_status", "qa_details")} == \
               {k: row[k] for k in ("key", "seed", "image_uri", "qa_status", "qa_details")}


def test_a_retry_the_backend_returns_nothing_for_keeps_the_first_attempt(tmp_path, catalog_factory):
    from fluxcat.backends.text_render import TextRenderBackend

    class FirstOnly(TextRenderBackend):
        def __init__(self):
            super().__init__(misspell_rate=1.0)
            self.asked = []

        def generate(self, requests):
            self.asked += requests
            yield from super().generate([r for r in requests if len(self.asked) <= 1])

    prompt = 'a mug with "FRESH COFFEE"'
    options = RunOptions(catalog=catalog_factory([{"id": "a", "prompt": prompt, "image_size": "square", "seed": 5}]),
                         output=str(tmp_path / "out"), backend="text-render", dedupe="off", qa_retries=2)
    backend = FirstOnly()
    run_catalog(options, backend=backend)
    row = read_manifest(Store(options.output)).to_pylist()[0]
    details = json.loads(row["qa_details"])
    assert row["status"] == "generated" and row["qa_status"] == "flagged" and row["seed"] == 5
    assert [a.get("error") for a in details["attempts"]] == [None] + ["backend returned no result for this image"] * 2
    assert [r.seed for r in backend.asked] == [5, 6, 7]


def test_the_run_summary_lists_flagged_rows_first_and_counts_qa_statuses(tmp_path, catalog_factory):
    from fluxcat.manifest import merge_parts
    from fluxcat.layout import PARTS_DIR

    store, rows = run(tmp_path, catalog_factory, text_catalog()[:3], backend_options={"misspell_rate": RATE})
    shards = [name.rsplit("/", 1)[-1].removesuffix(".parquet") for name in store.fs.ls(store.path(PARTS_DIR))]
    table = merge_parts(store, shards).table()
    assert table[0]["by"] == "QA flagged" and table[0]["value"].startswith("wrong-0: text reads")
    assert [t for t in table if t["by"] == "QA flagged"] == table[:1]
    assert {t["value"]: t["images"] for t in table if t["by"] == "qa"} == {"passed": 1, "retried": 1, "flagged": 1}
