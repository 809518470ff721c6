"""Prompt deduplication: exact (normalised text) and semantic (embeddings nominate, the attribute guard decides),
only ever within identical generation parameters. Heavy parts (numpy, torch, the model) load on first semantic use."""

from __future__ import annotations

from typing import Iterable

from fluxcat.dedupe.common import (AUDIT_PAIRS, DEDUPE_MODES, DEFAULT_BATCH_SIZE, DEFAULT_THRESHOLD,
                                   EMBEDDING_BACKENDS, DedupeResult)
from fluxcat.dedupe.exact import EXACT_REASON, DedupeEntry, ExactDeduper, Match, exact_duplicates, exact_key
from fluxcat.dedupe.normalise import SPELLINGS, normalise_plain, normalise_prompt

# Arguments for code, not settings: a ready Embedder (tests, benchmarks share one) and the pair search's switch-over.
PROGRAMMATIC_OPTIONS = ("embedder", "exact_limit")

__all__ = ["AUDIT_PAIRS", "DEDUPE_MODES", "DEFAULT_BATCH_SIZE", "DEFAULT_THRESHOLD", "EMBEDDING_BACKENDS", "SPELLINGS",
           "DedupeEntry", "DedupeResult", "EXACT_REASON", "ExactDeduper", "Match", "check_dedupe_options", "dedupe", "exact_duplicates", "exact_key",
           "find_duplicates", "normalise_plain", "normalise_prompt"]


def find_duplicates(entries: Iterable[DedupeEntry], mode: str = "exact", store=None, **options) -> dict[int, Match]:
    """Map each duplicate row's number to its canonical (first in catalog order) row.
    `store` (the run's output Store, may be None) is where semantic dedupe keeps its embedding cache."""
    return dedupe(entries, mode, store, **options).matches


def dedupe(entries: Iterable[DedupeEntry], mode: str = "exact", store=None, **options) -> DedupeResult:
    """find_duplicates, plus the audit trail semantic dedupe keeps (`audit` closest pairs kept apart, default 20)."""
    check_dedupe_options(mode, options)
    if mode == "off":
        return DedupeResult({})
    entries = sorted(entries, key=lambda e: e.row_number)
    matches = exact_duplicates(entries)
    if mode == "exact":
        return DedupeResult(matches)
    from fluxcat.dedupe.semantic import semantic_duplicates  # heavy: numpy, then sentence-transformers

    similar = semantic_duplicates([e for e in entries if e.row_number not in matches], store=store,
                                  **_semantic_options(options))
    return DedupeResult(_merge_groups(matches, similar.matches), similar.kept_apart)


def check_dedupe_options(mode: str, options: dict) -> None:
    """Fail on a bad mode, option name or value before any work is done: DedupeSettings checks every option
    (fluxcat/dedupe/options.py, the settings schema's Dedupe group), so the flow, the CLI, the form and this call
    share one set of rules."""
    _semantic_options({"mode": mode, **options})


def _semantic_options(options: dict) -> dict:
    """The checked options with their defaults, as semantic_duplicates takes them."""
    from fluxcat.dedupe.options import DedupeSettings  # the one declaration; pydantic loads on first use

    options = dict(options)
    mode = options.pop("mode", "semantic")
    extra = {k: options.pop(k) for k in PROGRAMMATIC_OPTIONS if k in options}
    if "exact_limit" in extra and not (isinstance(extra["exact_limit"], int) and extra["exact_limit"] >= 0):
        raise ValueError(f"exact_limit is a row count >= 0, got {extra['exact_limit']!r}")
    return {**DedupeSettings.from_options(mode, options).dedupe_options, **extra}


def _merge_groups(exact: dict[int, Match], similar: dict[int, Match]) -> dict[int, Match]:
    """Union of both groupings: an exact group whose canonical joined a semantic group follows it to that group's
    canonical, the first row of the union in catalog order (exact canonicals are their groups' first rows)."""
    merged = dict(similar)
    for row, match in exact.items():
        onward = similar.get(match.canonical)
        if onward is None:
            merged[row] = match
            continue
        merged[row] = Match(row, onward.canonical, onward.similarity,
                            f"same normalised prompt as row {match.canonical}, which is a {onward.reason}",
                            match.prompt, onward.canonical_prompt)
    return merged
