"""Semantic dedupe with the real all-MiniLM-L6-v2: labelled pairs, the attribute guard, the embedding cache, scale paths."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from fluxcat.attributes import compare, load_lexicon, tokenise
from fluxcat.dedupe import DedupeEntry, find_duplicates, normalise_prompt
from fluxcat.semantic import EmbeddingCache, Embedder, UnionFind, group_labels, similar_pairs
from fluxcat.store import Store
from tests.fluxcat.dedupe_pairs import PARAPHRASES, VARIANTS

PARAMS = "schnell|512x512|4|0|1"


@pytest.fixture(scope="session")
def embedder():
    """The bundled model, loaded once per test session (load_model is cached per process)."""
    model = Embedder()
    model.encode(["warm up"])
    return model


def _pair(a: str, b: str, params_b: str = PARAMS) -> list[DedupeEntry]:
    return [DedupeEntry(0, a, PARAMS), DedupeEntry(1, b, params_b)]


@pytest.mark.parametrize("category,first,second", VARIANTS, ids=[f"{c}:{a[:28]}" for c, a, _ in VARIANTS])
def test_product_variants_never_merge(embedder, category, first, second):
    # At a threshold this low the embedding lets everything through: the guard alone must keep variants apart.
    loose = find_duplicates(_pair(first, second), "semantic", threshold=0.5, embedder=embedder)
    assert loose == {}, f"{category} variant merged: {loose}"
    assert find_duplicates(_pair(first, second), "semantic", embedder=embedder) == {}


@pytest.mark.parametrize("category,first,second", PARAPHRASES, ids=[f"{c}:{a[:28]}" for c, a, _ in PARAPHRASES])
def test_paraphrases_merge_at_the_default_threshold(embedder, category, first, second):
    matches = find_duplicates(_pair(first, second), "semantic", embedder=embedder)
    assert set(matches) == {1}, f"{category} paraphrase not merged"
    match = matches[1]
    assert match.canonical == 0 and 0.95 <= match.similarity <= 1.0
    assert (match.prompt, match.canonical_prompt) == (second, first)
    assert "cosine" in match.reason


def test_embedding_similarity_alone_would_merge_variants(embedder):
    """Why the guard exists: MiniLM puts these variants above 0.95, as the issue reports."""
    pairs = [(a, b) for c, a, b in VARIANTS if c in ("view", "negation", "side", "unit", "finish")]
    vectors = embedder.embed([normalise_prompt(p) for pair in pairs for p in pair])
    similarities = np.sum(vectors[0::2] * vectors[1::2], axis=1)
    assert (similarities >= 0.95).sum() >= 5, similarities


def test_paraphrases_below_threshold_stay_apart(embedder):
    first, second = PARAPHRASES[0][1:]
    assert find_duplicates(_pair(first, second), "semantic", threshold=0.999, embedder=embedder) == {}


def test_rows_merge_only_within_identical_parameters(embedder):
    first, second = PARAPHRASES[1][1:]
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


def test_cache_second_run_embeds_nothing_and_new_rows_only(embedder, tmp_path):
    store = Store(str(tmp_path / "out"))
    prompts = [f"A ceramic mug number {i} on a wooden table" for i in range(200)]
    entries = [DedupeEntry(i, p, PARAMS) for i, p in enumerate(prompts)]
    counter = Embedder()  # same model (cached in-process), fresh count
    find_duplicates(entries, "semantic", store=store, embedder=counter)
    assert counter.encoded == 200
    assert store.list("_cache/embeddings") and all(p.endswith(".parquet") for p in store.list("_cache/embeddings"))

    rerun = Embedder()
    find_duplicates(entries, "semantic", store=store, embedder=rerun)
    assert rerun.encoded == 0

    grown = entries + [DedupeEntry(200 + i, f"A glass vase number {i} on a shelf", PARAMS) for i in range(2)]
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


def test_guard_names_the_attribute_that_differs():
    lexicon = load_lexicon()
    verdict = compare(tokenise("A glass teapot with tea"), tokenise("A glass teapot without tea"), lexicon)
    assert not verdict.same and "negation" in verdict.reason
    verdict = compare(tokenise('A mug reading "Hi"'), tokenise('A mug reading "HI"'), lexicon)
    assert not verdict.same and "quoted text" in verdict.reason


def test_lexicon_refuses_attribute_stop_words_and_joined_variants(tmp_path):
    data = json.loads((resources.files("fluxcat.data") / "attributes.json").read_text())
    bad = dict(data, stop_words=data["stop_words"] + ["without"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="cannot be stop words: without"):
        load_lexicon(str(path))
    joined = dict(data, synonyms=data["synonyms"] + [["red", "brown"]])
    path2 = tmp_path / "joined.json"
    path2.write_text(json.dumps(joined))
    with pytest.raises(ValueError, match="joins two colour words"):
        load_lexicon(str(path2))


def test_lexicon_file_grows_without_code(tmp_path, embedder):
    data = json.loads((resources.files("fluxcat.data") / "attributes.json").read_text())
    first, second = "A sofa in a loft, evening light", "A couch in a loft, evening light"
    assert find_duplicates(_pair(first, second), "semantic", threshold=0.8, embedder=embedder)
    data["synonyms"] = [g for g in data["synonyms"] if "sofa" not in g]
    path = tmp_path / "words.json"
    path.write_text(json.dumps(data))
    assert find_duplicates(_pair(first, second), "semantic", threshold=0.8, embedder=embedder, lexicon=str(path)) == {}


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
