"""Dedupe modes, normalisation and the plan it feeds (sample catalog: variants kept apart, real duplicates merged)."""

from __future__ import annotations

import json

import pytest

from fluxcat.dedupe import DedupeEntry, exact_duplicates, find_duplicates, normalise_prompt
from tests.conftest import SAMPLE_CATALOG

# Formatting-only variants that exact dedupe already catches (case, spaces, punctuation, hyphens, spellings, units).
FORMATTING = [
    ("A red leather wallet on a white background, product photo",
     "a red  leather wallet on a white background - product photo."),
    ("A large wool throw blanket in oatmeal colour, cosy living room",
     "A large wool throw blanket in oatmeal color, cozy living room"),
    ("A 27-inch computer monitor", "A 27 inch computer monitor"),
    ("A stainless steel water bottle, 750ml", "A stainless steel water bottle, 750 ml"),
    ("A t-shirt on a hanger", "A T Shirt on a hanger"),
]
MOVED_CLAUSE = ("A red leather wallet on a white background, product photo",
                "Product photo of a red leather wallet on a white background")

PARAMS = "schnell|512x512|4|0|1"


@pytest.mark.parametrize("first,second", FORMATTING)
def test_formatting_variants_normalise_alike(first, second):
    assert normalise_prompt(first) == normalise_prompt(second)


def test_quoted_text_is_kept_verbatim():
    assert normalise_prompt('A mug reading "Good Morning"') != normalise_prompt('A mug reading "GOOD MORNING"')
    assert '"Fig & Cedar"' in normalise_prompt('A candle, label reading "Fig & Cedar"')


def test_numbers_keep_their_punctuation():
    assert normalise_prompt("5.5 kg, 1,000 pieces") == "5.5 kg 1,000 pieces"
    assert normalise_prompt("55 kg") != normalise_prompt("5.5 kg")


def test_modes_off_exact_semantic():
    first, second = MOVED_CLAUSE  # same picture, different text
    entries = [DedupeEntry(0, first, PARAMS), DedupeEntry(1, first.upper(), PARAMS), DedupeEntry(2, second, PARAMS)]
    assert find_duplicates(entries, "off") == {}
    assert {r: m.canonical for r, m in find_duplicates(entries, "exact").items()} == {1: 0}
    semantic = find_duplicates(entries, "semantic")
    assert {r: m.canonical for r, m in semantic.items()} == {1: 0, 2: 0}
    assert semantic[1].similarity == 1.0 and semantic[2].similarity < 1.0


def test_exact_groups_only_within_identical_parameters():
    entries = [DedupeEntry(0, "a red wallet", PARAMS), DedupeEntry(1, "A red wallet.", "dev|512x512|28|3.5|1")]
    assert exact_duplicates(entries) == {}


def test_bad_configuration_fails_with_the_fix():
    with pytest.raises(ValueError, match="dedupe: Input should be 'off', 'exact' or 'semantic'"):
        find_duplicates([], "fuzzy")
    with pytest.raises(ValueError, match="unknown dedupe option"):
        find_duplicates([], "exact", treshold=0.9)
    with pytest.raises(ValueError, match=r"dedupe_threshold: Input should be less than or equal to 1"):
        find_duplicates([], "semantic", threshold=1.5)


@pytest.mark.parametrize("threshold", ["0.95", "0.5", None])
def test_plan_on_sample_catalog_merges_no_variant(tmp_path, capsys, threshold):
    from fluxcat_cli.main import main

    flag = ["--dedupe-threshold", threshold] if threshold else []
    assert main(["plan", str(SAMPLE_CATALOG), "--output", str(tmp_path / "out"), "--backend", "tiny", "--json"] + flag) == 0
    plan = json.loads(capsys.readouterr().out)
    pairs = {(d["row_number"], d["canonical"]) for d in plan["duplicates"]}
    # Rows 0/2: punctuation and spacing; 19/20 (SKU-1020/1021): British/American spelling; 35/36: identical.
    assert pairs == {(2, 0), (20, 19), (36, 35)}
    spelling = next(d for d in plan["duplicates"] if d["row_number"] == 20)
    assert "colour" in spelling["canonical_prompt"] and "color" in spelling["prompt"]
    assert plan["statuses"]["duplicate"] == 3


def test_plan_table_lists_both_prompts_and_threshold_flag(tmp_path, capsys):
    from fluxcat_cli.main import main

    assert main(["plan", str(SAMPLE_CATALOG), "--output", str(tmp_path / "out"), "--backend", "tiny",
                 "--dedupe-threshold", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "duplicate groups" in out and "kept" in out and "oatmeal color" in out and "oatmeal colour" in out
    assert main(["plan", str(SAMPLE_CATALOG), "--dedupe-threshold", "2"]) == 2


def test_plan_shards_carry_canonical_id_uri_and_similarity(tmp_path, catalog_factory):
    import pyarrow as pa

    from fluxcat.layout import PLAN_DIR
    from fluxcat.shards import PlanSettings, plan_catalog
    from fluxcat.store import Store

    first, second = MOVED_CLAUSE
    catalog = catalog_factory([
        {"id": "A", "prompt": first}, {"id": "B", "prompt": "A brown leather wallet on a white background, product photo"},
        {"id": "C", "prompt": second}, {"id": "D", "prompt": first.lower()},
        {"id": "E", "prompt": second, "num_images": 2},  # other parameters: never merged with A
    ])
    store = Store(str(tmp_path / "out"))
    settings = PlanSettings(model_id=lambda model: f"test/{model}", dedupe="semantic")
    report = plan_catalog(catalog, store, settings)
    rows = pa.concat_tables(store.iter_tables(PLAN_DIR)).to_pylist()
    by_id = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    assert [r["status"] for r in by_id["B"]] == ["planned"] and by_id["E"][0]["status"] == "planned"
    for duplicate in ("C", "D"):
        (row,) = by_id[duplicate]
        assert row["status"] == "duplicate" and row["duplicate_of"] == "A"
        assert row["image_uri"] == by_id["A"][0]["image_uri"] and row["est_cost_usd"] == 0.0
    assert 0.8 <= by_id["C"][0]["similarity"] < 1.0 and by_id["D"][0]["similarity"] == 1.0
    assert {(m.row_number, m.canonical) for m in report.duplicates} == {(2, 0), (3, 0)}


def test_plan_shows_the_audit_trail(tmp_path, capsys):
    """`fluxcat plan` lists the closest pairs kept apart with the guard's reason, in the table and in --json."""
    from fluxcat_cli.main import main

    assert main(["plan", str(SAMPLE_CATALOG), "--output", str(tmp_path / "out"), "--backend", "tiny", "--json"]) == 0
    kept = json.loads(capsys.readouterr().out)["kept_apart"]
    assert kept and all(k["reason"].startswith("differs in") for k in kept)
    assert any("view: front vs back" in k["reason"] for k in kept)
    assert main(["plan", str(SAMPLE_CATALOG), "--output", str(tmp_path / "out"), "--backend", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "Closest pairs kept apart" in out and "front vs back" in out


def test_every_dedupe_setting_reaches_plan_from_the_cli(tmp_path, capsys, catalog_factory):
    """Word file, audit size, batch size and backend are CLI flags generated from the schema; --json explains
    every merge (the rule that matched) and every near miss (the attribute that differs)."""
    from fluxcat_cli.main import main

    words = tmp_path / "brand_words.json"
    words.write_text(json.dumps({"synonyms": [["tote", "shopper bag"]], "attributes": {"colour": ["sage"]}}))
    catalog = catalog_factory([{"id": "A", "prompt": "A canvas tote on a hook, product photo"},
                               {"id": "B", "prompt": "A canvas shopper bag on a hook, product photo"},
                               {"id": "C", "prompt": "A sage canvas tote on a hook, product photo"},
                               {"id": "D", "prompt": "A red canvas tote on a hook, product photo"}])
    flags = ["--dedupe-lexicon", str(words), "--dedupe-audit", "1", "--embedding-batch-size", "2",
             "--embedding-backend", "torch", "--dedupe-threshold", "0.5"]
    assert main(["plan", catalog, "--backend", "tiny", "--json", *flags]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(d["row_number"], d["canonical"]) for d in plan["duplicates"]] == [(1, 0)]
    assert "shopper bag = tote (synonym list)" in plan["duplicates"][0]["reason"]
    (near,) = plan["kept_apart"]
    assert near["reason"] == "differs in colour: sage vs red"
    assert main(["plan", catalog, "--dedupe-lexicon", str(tmp_path / "missing.json")]) == 2
    assert "dedupe_lexicon" in capsys.readouterr().err


def test_dedupe_options_are_checked_by_the_schema_alone(tmp_path):
    from fluxcat.settings import Dedupe

    assert Dedupe.from_options("semantic", {"threshold": 0.8, "model": None}).dedupe_options["threshold"] == 0.8
    for options, message in (({"batch_size": 0}, "embedding_batch_size"), ({"backend": "cuda"}, "embedding_backend"),
                             ({"audit": -1}, "dedupe_audit"), ({"lexicon": str(tmp_path / "no.json")}, "dedupe_lexicon")):
        with pytest.raises(ValueError, match=message):
            find_duplicates([], "semantic", **options)
    path = tmp_path / "words.json"
    path.write_text(json.dumps({"synonyms": [["red", "brown"]]}))
    with pytest.raises(ValueError, match="joins two colour words"):
        Dedupe(dedupe_lexicon=str(path))


def test_audit_markdown_lists_merges_and_near_misses():
    from fluxcat.dedupe import Match
    from fluxcat.dedupe.audit import KeptApart, audit_markdown

    merged = [Match(2, 0, 0.91, "similar prompt; same picture: sneakers ~ trainers", "white sneakers", "white trainers")]
    kept = [KeptApart(3, 4, 0.97, "differs in colour: red vs brown", "a red | wallet", "a brown wallet")]
    text = audit_markdown(merged, kept)
    assert "1 rows merged, 1 closest pairs kept apart" in text
    assert "| 2 | 0 | 0.910 | white sneakers | white trainers |" in text
    assert "a red \\| wallet" in text and "differs in colour: red vs brown" in text
