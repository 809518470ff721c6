"""Semantic dedupe: rows the guard reduces to the same key, whose embeddings are within the threshold, are merged."""

from __future__ import annotations

import hashlib
from typing import Iterable

from fluxcat.dedupe.common import DEFAULT_BATCH_SIZE, DEFAULT_THRESHOLD, DedupeResult
from fluxcat.dedupe.audit import AUDIT_SCAN_ROWS, near_misses
from fluxcat.dedupe.encoders import Embedder
from fluxcat.dedupe.exact import DedupeEntry, Match
from fluxcat.dedupe.guard import Lexicon, compare, load_lexicon, tokenise
from fluxcat.dedupe.normalise import normalise_prompt
from fluxcat.dedupe.search import EXACT_LIMIT, UnionFind, iter_similar_pairs


def semantic_duplicates(entries: Iterable[DedupeEntry], store=None, threshold: float = DEFAULT_THRESHOLD,
                        model: str | None = None, backend: str = "torch", batch_size: int = DEFAULT_BATCH_SIZE,
                        lexicon: str | None = None, exact_limit: int = EXACT_LIMIT, embedder: Embedder | None = None,
                        audit: int = 0) -> DedupeResult:
    """Rows with the same generation parameters and the same guard key (same picture, other words) whose prompts
    embed within `threshold` cosine of each other; each maps to the first row of its group in catalog order.
    Only rows sharing a key are embedded: the guard would refuse every other pair, so none is ever formed.
    `audit` > 0 also returns that many of the closest pairs kept apart, each with the guard's reason. Options are
    checked by `fluxcat.dedupe.dedupe` (the settings schema), not here."""
    entries = sorted(entries, key=lambda e: e.row_number)
    words = load_lexicon(lexicon)
    embedder = embedder or Embedder(model, backend, batch_size)
    groups, scanned = _key_groups(entries, words, AUDIT_SCAN_ROWS if audit else 0)
    matches = _merge_groups(entries, groups, words, embedder, store, threshold, exact_limit)
    kept = near_misses(entries, scanned, matches, words, embedder, store, audit) if audit else []
    return DedupeResult(matches, kept)


def _key_groups(entries: list[DedupeEntry], words: Lexicon, keep: int) -> tuple[list[list[int]], list]:
    """Positions (catalog order) of rows sharing parameters and guard key, with a 16-byte digest per distinct key;
    and the tokens of the first `keep` rows, for the audit."""
    first: dict[bytes, int] = {}
    shared: dict[bytes, list[int]] = {}
    scanned = []
    for position, entry in enumerate(entries):
        tokens = tokenise(entry.prompt, words)
        key = tokens.key
        if position < keep:
            scanned.append(tokens)
        digest = hashlib.blake2b(f"{entry.params}\0{key!r}".encode(), digest_size=16).digest()
        earlier = first.setdefault(digest, position)
        if earlier != position:
            shared.setdefault(digest, [earlier]).append(position)
    return list(shared.values()), scanned


def _merge_groups(entries, groups, words, embedder, store, threshold, exact_limit) -> dict[int, Match]:
    members = sorted(p for group in groups for p in group)
    if not members:
        return {}
    vectors = embedder.embed([normalise_prompt(entries[p].prompt) for p in members], store)
    index = {p: i for i, p in enumerate(members)}
    matches: dict[int, Match] = {}
    for group in groups:
        local = vectors[[index[p] for p in group]]
        union = UnionFind(len(group))  # group is in catalog order, so roots are first rows
        for rows, cols, _ in iter_similar_pairs(local, threshold, exact_limit):
            for a, b in zip(rows.tolist(), cols.tolist()):
                union.union(a, b)
        for i, position in enumerate(group):
            root = union.find(i)
            if root != i:
                similarity = float(local[i] @ local[root])
                matches[entries[position].row_number] = _match(entries[group[root]], entries[position], similarity,
                                                               threshold, words)
    return matches


def _match(first: DedupeEntry, entry: DedupeEntry, similarity: float, threshold: float, words: Lexicon) -> Match:
    verdict = compare(tokenise(entry.prompt, words), tokenise(first.prompt, words), words)
    reason = f"similar prompt (cosine {similarity:.3f}, threshold {threshold:g}); {verdict.reason}"
    return Match(entry.row_number, first.row_number, round(similarity, 6), reason,
                 prompt=entry.prompt, canonical_prompt=first.prompt)
