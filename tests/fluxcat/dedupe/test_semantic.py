"""Semantic dedupe with the real all-MiniLM-L6-v2: labelled pairs, the attribute guard, the embedding cache, scale paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fluxcat.dedupe import DEFAULT_THRESHOLD, DedupeEntry, dedupe, find_duplicates, normalise_prompt
from fluxcat.dedupe.encoders import EmbeddingCache, Embedder
from fluxcat.dedupe.guard import load_lexicon
from fluxcat.dedupe.search import UnionFind, group_labels, similar_pairs
from fluxcat.store import Store
from tests.fluxcat.dedupe.pairs import REWORDINGS, VARIANTS

PARAMS = "schnell|512x512|4|0|1"


def _pair(a: str, b: str, params_b: str = PARAMS) -> list[DedupeEntry]:
    return [DedupeEntry(0, a, PARAMS), DedupeEntry(1, b, params_b)]


@pytest.mark.parametrize("category,first,second", VARIANTS, ids=[f"{c}:{a[:28]}" for c, a, _ in VARIANTS])
def test_product_variants_never_merge(embedder, category, first, second):
    # At a threshold this low the embedding lets everything through: the guard alone must keep variants apart.
    loose = find_duplicates(_pair(first, second), "semantic", threshold=0.3, embedder=embedder)
    assert loose == {}, f"{category} variant merged: {loose}"


def test_rewordings_merge_at_the_default_settings(embedder):
    """The issue's bar: at least 90% of the labelled rewordings merged (all of them are listed when one is not)."""
    missed = [(c, a, b) for c, a, b in REWORDINGS if set(find_duplicates(_pair(a, b), "semantic", embedder=embedder)) != {1}]
    assert len(REWORDINGS) >= 100
    assert len(missed) <= 0.1 * len(REWORDINGS), missed


def test_a_merge_carries_both_prompts_similarity_and_reason(embedder):
    first, second = "A pair of white trainers on a wooden floor", "A pair of white sneakers on a wooden floor"
    match = find_duplicates(_pair(first, second), "semantic", embedder=embedder)[1]
    assert match.canonical == 0 and DEFAULT_THRESHOLD <= match.similarity < 1.0
    assert (match.prompt, match.canonical_prompt) == (second, first)
    assert "cosine" in match.reason and "sneakers = trainers (" in match.reason and "synonym list" in match.reason


def test_embedding_similarity_alone_would_merge_variants(embedder):
    """Why the guard exists: MiniLM puts many variants above 0.95, as the issue reports."""
    vectors = embedder.embed([normalise_prompt(p) for _, a, b in VARIANTS for p in (a, b)])
    similarities = np.sum(vectors[0::2] * vectors[1::2], axis=1)
    assert (similarities >= 0.95).sum() >= 10, similarities


def test_an_ambiguous_prompt_never_chains_two_readings_into_one_group(embedder):
    # "red-hooded" reads as a red jacket with a hood (hyphen as a compound) and as a jacket with a red hood; the
    # guard explains each reading against the first row, never the two against each other: one joins, not both.
    rows = ["A red-hooded jacket on a white background", "A red jacket with a hood on a white background",
            "A jacket with a red hood on a white background"]
    entries = [DedupeEntry(i, prompt, PARAMS) for i, prompt in enumerate(rows)]
    result = dedupe(entries, "semantic", threshold=0.3, embedder=embedder, audit=5)
    matches = result.matches
    assert 1 in matches or 2 in matches, "the ambiguous first row explains neither reading"
    assert not (1 in matches and 2 in matches), f"two readings kept apart by the guard were grouped: {matches}"
    left = 2 if 1 in matches else 1  # the audit says why the other reading was kept apart
    why = [k.reason for k in result.kept_apart if {k.row_number, k.other} == {left, 0}]
    assert len(why) == 1 and "but that row's group holds row" in why[0], result.kept_apart


def test_rewordings_below_threshold_stay_apart(embedder):
    _, first, second = REWORDINGS[0]
    assert find_duplicates(_pair(first, second), "semantic", threshold=0.9999, embedder=embedder) == {}


def test_rows_merge_only_within_identical_parameters(embedder):
    _, first, second = REWORDINGS[1]
    assert find_duplicates(_pair(first, second, params_b="schnell|512x512|4|0|2"), "semantic", embedder=embedder) == {}
    assert find_duplicates(_pair(first, second, params_b="dev|512x512|28|3.5|1"), "semantic", embedder=embedder) == {}


def test_semantic_canonical_is_first_row_across_exact_and_semantic_groups(embedder):
    base = "A red leather wallet on a white background, product photo"
    entries = [
        DedupeEntry(3, "A brown leather wallet on a white background, product photo", PARAMS),  # a variant: stays
        DedupeEntry(5, "Product photo of a red leather wallet on a white background", PARAMS),  # semantic, first
        DedupeEntry(8, base, PARAMS),
        DedupeEntry(9, base.upper() + ".", PARAMS),  # exact duplicate of row 8
        DedupeEntry(12, "Product photo of a red leather wallet on the white background", PARAMS),  # "the": semantic
    ]
    matches = find_duplicates(entries, "semantic", embedder=embedder)
    assert {row: m.canonical for row, m in matches.items()} == {8: 5, 9: 5, 12: 5}
    assert "row 8" in matches[9].reason  # the exact duplicate says how it got there
    assert all(m.canonical_prompt == entries[1].prompt for m in matches.values())
    assert {row: m.canonical for row, m in find_duplicates(entries, "exact").items()} == {9: 8}


def test_audit_lists_the_closest_pairs_kept_apart_with_the_reason(embedder):
    entries = [DedupeEntry(0, "A red leather wallet on a white background", PARAMS),
               DedupeEntry(1, "A brown leather wallet on a white background", PARAMS),
               DedupeEntry(2, "A red leather wallet against a white background", PARAMS),
               DedupeEntry(3, "A ceramic lamp in a kitchen", PARAMS), DedupeEntry(4, "A ceramic lamp in a bedroom", PARAMS)]
    result = dedupe(entries, "semantic", embedder=embedder)
    assert {r: m.canonical for r, m in result.matches.items()} == {2: 0}
    kept = {(k.row_number, k.other): k for k in result.kept_apart}
    assert set(kept) == {(0, 1), (3, 4)}
    assert "colour" in kept[(0, 1)].reason and "red vs brown" in kept[(0, 1)].reason
    assert "kitchen vs bedroom" in kept[(3, 4)].reason
    assert kept[(0, 1)].similarity > 0.8 and kept[(0, 1)].prompt == entries[0].prompt


def test_cache_second_run_embeds_nothing_and_new_rows_only(embedder, tmp_path):
    store = Store(str(tmp_path / "out"))
    # Only rows the guard could merge are embedded: 100 pairs of rewordings (not exact duplicates of each other).
    prompts = [f"{article} ceramic mug number {i} on {article.lower()} wooden table" for i in range(100) for article in ("A", "The")]
    entries = [DedupeEntry(i, p, PARAMS) for i, p in enumerate(prompts)]
    counter = Embedder()  # same model (cached in-process), fresh count
    find_duplicates(entries, "semantic", store=store, embedder=counter)
    assert counter.encoded == 200
    assert store.list("_cache/embeddings") and all(p.endswith(".parquet") for p in store.list("_cache/embeddings"))

    rerun = Embedder()
    find_duplicates(entries, "semantic", store=store, embedder=rerun)
    assert rerun.encoded == 0

    grown = entries + [DedupeEntry(200 + i, f"{a} glass vase on a shelf", PARAMS) for i, a in enumerate(("A", "The"))]
    incremental = Embedder()
    find_duplicates(grown, "semantic", store=store, embedder=incremental)
    assert incremental.encoded == 2  # 1% new rows: only those are embedded


def test_cache_is_keyed_by_model_and_returns_the_stored_vectors(embedder, tmp_path):
    store = Store(str(tmp_path / "out"))
    texts = ["a red wallet", "a blue wallet"]
    fresh = embedder.embed(texts, store)
    other_model = Embedder(model="/nonexistent/model")
    assert EmbeddingCache(store, other_model.cache_key).lookup({"x"}) == {}
    assert EmbeddingCache(store, other_model.cache_key).prefix != EmbeddingCache(store, embedder.cache_key).prefix
    again = Embedder()
    np.testing.assert_array_equal(again.embed(texts, store), fresh)
    assert again.encoded == 0


def test_cache_compacts_many_parts(tmp_path):
    store = Store(str(tmp_path / "out"))
    cache = EmbeddingCache(store, "some-model")
    rng = np.random.default_rng(0)
    for part in range(20):
        cache.add([f"h{part}"], rng.standard_normal((1, 4)).astype(np.float32))
    assert len(cache.parts()) <= 17
    assert set(cache.lookup({f"h{i}" for i in range(20)})) == {f"h{i}" for i in range(20)}


def test_lexicon_refuses_attribute_stop_words_and_joined_variants(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"stop_words": ["without"]}))
    with pytest.raises(ValueError, match="cannot be stop words: without"):
        load_lexicon(str(path))
    path.write_text(json.dumps({"synonyms": [["red", "brown"]]}))
    with pytest.raises(ValueError, match="joins two colour words"):
        load_lexicon(str(path))
    path.write_text(json.dumps({"synonym": [["tote", "shopper"]]}))
    with pytest.raises(ValueError, match="unknown section"):
        find_duplicates([], "semantic", lexicon=str(path))


def test_a_catalogs_own_word_file_extends_the_bundled_one(tmp_path, embedder):
    first, second = "A canvas tote on a hook, product photo", "A canvas shopper bag on a hook, product photo"
    assert find_duplicates(_pair(first, second), "semantic", threshold=0.5, embedder=embedder) == {}
    path = tmp_path / "brand_words.json"
    path.write_text(json.dumps({"synonyms": [["tote", "shopper bag"]]}))
    merged = find_duplicates(_pair(first, second), "semantic", threshold=0.5, embedder=embedder, lexicon=str(path))
    assert set(merged) == {1}
    # the bundled lists still apply alongside the catalog's own
    third = "A canvas shopper bag against a hook, product photograph"
    assert set(find_duplicates(_pair(first, third), "semantic", threshold=0.5, embedder=embedder, lexicon=str(path))) == {1}


def _synthetic(n: int, duplicates: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((50, 64)).astype(np.float32)
    x = topics[rng.integers(0, 50, n)] + rng.standard_normal((n, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    src = rng.choice(n // 2, duplicates, replace=False)
    dst = rng.choice(np.arange(n // 2, n), duplicates, replace=False)
    x[dst] = x[src] + 0.15 * rng.standard_normal((duplicates, 64)).astype(np.float32) / 8
    x[dst] /= np.linalg.norm(x[dst], axis=1, keepdims=True)
    return x, src, dst


def test_blocked_products_find_exactly_the_pairs_above_threshold():
    x, _, _ = _synthetic(3000, 40)
    rows, cols, sims = similar_pairs(x, 0.95)
    full = x @ x.T
    i, j = np.nonzero(np.triu(full >= 0.95, k=1))
    assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(zip(i.tolist(), j.tolist()))
    np.testing.assert_allclose(sims, full[rows, cols], rtol=1e-5)


def test_index_path_finds_the_planted_duplicates_and_reports_no_false_pair():
    x, src, dst = _synthetic(12_000, 300)
    rows, cols, sims = similar_pairs(x, 0.95, exact_limit=1000)  # forces the IVF index
    found = set(zip(rows.tolist(), cols.tolist()))
    recall = np.mean([(int(a), int(b)) in found for a, b in zip(src, dst)])
    assert recall >= 0.97
    assert np.all(np.sum(x[rows] * x[cols], axis=1) >= 0.95 - 1e-6) and np.all(rows < cols)
    labels = group_labels(x, 0.95, exact_limit=1000)
    assert np.all(labels <= np.arange(len(x)))  # every group is named by its first row


def test_union_find_roots_are_first_rows():
    groups = UnionFind(6)
    for a, b in [(4, 5), (2, 5), (3, 1)]:
        groups.union(a, b)
    assert [groups.find(i) for i in range(6)] == [0, 1, 2, 1, 2, 2]


def test_onnx_backends_agree_with_torch(embedder, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    texts = [normalise_prompt(a) for _, a, _ in VARIANTS[:8]]
    reference = embedder.embed(texts)
    for backend, floor in (("onnx", 0.9999), ("onnx-int8", 0.99)):
        other = Embedder(backend=backend).embed(texts)
        assert np.sum(reference * other, axis=1).min() >= floor, backend
    store = Store(str(tmp_path / "out"))  # different numbers, different cache: never mixed with fp32 vectors
    assert EmbeddingCache(store, Embedder(backend="onnx-int8").cache_key).prefix != EmbeddingCache(store, embedder.cache_key).prefix


def test_templated_catalog_embeds_only_rows_that_share_a_guard_key(embedder):
    """Template siblings (other colour, other code) can never pass the guard, so they are never embedded or paired:
    the work and memory of semantic dedupe follow the rewordings, not the template's size."""
    from benchmarks.catalog_scale import templated_prompt

    entries = [DedupeEntry(i, templated_prompt(i), PARAMS) for i in range(1000)]
    counter = Embedder()
    matches = find_duplicates(entries, "semantic", embedder=counter, audit=0)
    assert {row: m.canonical for row, m in matches.items()} == {i: i - 1 for i in range(49, 1000, 50)}
    assert counter.encoded == 40  # the 20 reworded rows and the 20 rows they reword
