"""Semantic dedupe: rows the guard reduces to the same key, whose embeddings are within the threshold, are merged."""

from __future__ import annotations

import hashlib
from typing import Iterable

from fluxcat.dedupe.common import DEFAULT_BATCH_SIZE, DEFAULT_THRESHOLD, DedupeResult
from fluxcat.dedupe.audit import AUDIT_SCAN_ROWS, KeptApart, near_misses
from fluxcat.dedupe.encoders import Embedder
from fluxcat.dedupe.exact import DedupeEntry, Match
from fluxcat.dedupe.guard import Lexicon, compare, load_lexicon, tokenise
from fluxcat.dedupe.normalise import normalise_prompt
from fluxcat.dedupe.search import EXACT_LIMIT, UnionFind, iter_similar_pairs


def semantic_duplicates(entries: Iterable[DedupeEntry], store=None, threshold: float = DEFAULT_THRESHOLD,
                        model: str | None = None, backend: str = "torch", batch_size: int = DEFAULT_BATCH_SIZE,
                        lexicon: str | None = None, exact_limit: int = EXACT_LIMIT, embedder: Embedder | None = None,
                        audit: int = 0) -> DedupeResult:
    """Rows with the same generation parameters whose prompts embed within `threshold` cosine of each other and
    that the guard explains as the same picture; each maps to the first row of its group in catalog order.
    Only rows sharing a block (parameters and every attribute word, number and quoted text: what any merge needs)
    are embedded; the guard never sees a pair the embeddings did not nominate. `audit` > 0 also returns that many
    of the closest pairs kept apart, each with the guard's reason. Options are checked by `fluxcat.dedupe.dedupe`
    (the settings schema), not here."""
    entries = sorted(entries, key=lambda e: e.row_number)
    words = load_lexicon(lexicon)
    embedder = embedder or Embedder(model, backend, batch_size)
    blocks, scanned = _blocks(entries, words, AUDIT_SCAN_ROWS if audit else 0)
    refused: list[KeptApart] = []
    matches = _merge_blocks(entries, blocks, words, embedder, store, threshold, exact_limit, refused)
    kept = near_misses(entries, scanned, matches, words, embedder, store, audit, threshold) if audit else []
    return DedupeResult(matches, (refused + kept)[:audit] if audit else [])


def _blocks(entries: list[DedupeEntry], words: Lexicon, keep: int) -> tuple[list[list[int]], list]:
    """Positions (catalog order) of rows sharing parameters and guard block, with a 16-byte digest per distinct
    block; and the tokens of the first `keep` rows, for the audit."""
    first: dict[bytes, int] = {}
    shared: dict[bytes, list[int]] = {}
    scanned = []
    for position, entry in enumerate(entries):
        tokens = tokenise(entry.prompt, words)
        if position < keep:
            scanned.append(tokens)
        digest = hashlib.blake2b(f"{entry.params}\0{tokens.block!r}".encode(), digest_size=16).digest()
        earlier = first.setdefault(digest, position)
        if earlier != position:
            shared.setdefault(digest, [earlier]).append(position)
    return list(shared.values()), scanned


MAX_CANDIDATES = 8  # per row: the most similar rows of its block with another key that the guard is asked about


def _merge_blocks(entries, blocks, words, embedder, store, threshold, exact_limit,
                  refused: list) -> dict[int, Match]:
    members = sorted(p for block in blocks for p in block)
    if not members:
        return {}
    vectors = embedder.embed([normalise_prompt(entries[p].prompt) for p in members], store)
    index = {p: i for i, p in enumerate(members)}
    matches: dict[int, Match] = {}
    for block in blocks:
        local = vectors[[index[p] for p in block]]
        tokens = [tokenise(entries[p].prompt, words) for p in block]
        conflicts: list[tuple[int, int, int, int]] = []
        union = _grouped(local, tokens, threshold, exact_limit, words, conflicts)
        for row, first, held, other in conflicts:
            refused.append(KeptApart(
                entries[block[row]].row_number, entries[block[first]].row_number,
                round(float(local[row] @ local[first]), 6),
                f"the guard explains it by row {entries[block[first]].row_number}, but that row's group holds row "
                f"{entries[block[held]].row_number}, which it keeps apart from row {entries[block[other]].row_number}: "
                f"{compare(tokens[max(held, other)], tokens[min(held, other)], words).reason}",
                entries[block[row]].prompt, entries[block[first]].prompt))
        for i, position in enumerate(block):
            root = union.find(i)
            if root != i:
                similarity = float(local[i] @ local[root])
                matches[entries[position].row_number] = _match(entries[block[root]], entries[position], tokens[root],
                                                               tokens[i], similarity, threshold, words)
    return matches


def _grouped(local, tokens: list, threshold: float, exact_limit: int, words: Lexicon,
             conflicts: list | None = None) -> UnionFind:
    """Rows of one block (catalog order) grouped: nominated pairs with the same key join at once; a nominated pair
    with other keys joins when the guard explains every reading held by one group by every reading held by the
    other (the first row of each key, and of each derived adjective read another way), so no chain of merges ever
    joins two rows the guard would keep apart through a third: "a red-hooded jacket" (the key of "a red jacket with
    a hood") also reads as "a jacket with a red hood", but a group never holds both."""
    union = UnionFind(len(tokens))  # the block is in catalog order, so roots are first rows
    candidates: dict[int, list[tuple[float, int]]] = {}
    for rows, cols, sims in iter_similar_pairs(local, threshold, exact_limit):
        for a, b, similarity in zip(rows.tolist(), cols.tolist(), sims.tolist()):
            if tokens[a].key == tokens[b].key:
                union.union(a, b)
                continue
            found = candidates.setdefault(b, [])
            found.append((-similarity, a))
            if len(found) > 2 * MAX_CANDIDATES:
                found.sort()
                del found[MAX_CANDIDATES:]
    keys: dict[int, list[int]] = {}  # group's first row -> the first row of each reading it holds
    seen, reported = set(), set()
    for row in range(len(tokens)) if candidates else ():
        first = union.find(row)
        reading = (first, tokens[row].key, _derived_readings(tokens[row]))
        if reading not in seen:
            seen.add(reading)
            keys.setdefault(first, []).append(row)
    for b in sorted(candidates):
        for _, a in sorted(candidates[b])[:MAX_CANDIDATES]:
            first_a, first_b = union.find(a), union.find(b)
            if first_a == first_b:
                continue
            held_a, held_b = keys.get(first_a, [first_a]), keys.get(first_b, [first_b])
            apart = next(((x, y) for x in held_a for y in held_b
                          if not compare(tokens[max(x, y)], tokens[min(x, y)], words).same), None)
            if apart is None:
                union.union(first_a, first_b)
                first, other = sorted((first_a, first_b))
                keys[first] = held_a + held_b if first == first_a else held_b + held_a
                keys.pop(other, None)
            elif conflicts is not None and apart != (first_a, first_b) and (b, first_a) not in reported:
                reported.add((b, first_a))  # explained by the group's first row, but not by all the group holds
                conflicts.append((b, first_a, *apart))
    return union


def _derived_readings(tokens) -> tuple:
    """What a row's derived adjectives and hyphen-joined prepositions may also say ("red-hooded": a red hood or a
    red jacket with a hood): rows of one key that differ here are read differently against a third."""
    joined = tokens.scene.joined
    return tuple(sorted((p.role, p.values, p.derived, tuple(w.value for w in p.joined))
                        for p in tokens.scene.phrases if p.derived or p.joined)), \
        tuple(sorted(p.key() for p in joined.phrases)) if joined else ()


def _match(first: DedupeEntry, entry: DedupeEntry, first_tokens, tokens, similarity: float, threshold: float,
           words: Lexicon) -> Match:
    verdict = compare(tokens, first_tokens, words)
    reason = f"similar prompt (cosine {similarity:.3f}, threshold {threshold:g}); {verdict.reason}"
    return Match(entry.row_number, first.row_number, round(similarity, 6), reason,
                 prompt=entry.prompt, canonical_prompt=first.prompt)
