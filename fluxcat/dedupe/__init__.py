"""Prompt deduplication: exact (normalised text) and semantic (embeddings nominate, the attribute guard decides),
only ever within identical generation parameters. Heavy parts (numpy, torch, the model) load on first semantic use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from fluxcat.dedupe.exact import EXACT_REASON, DedupeEntry, ExactDeduper, Match, exact_duplicates, exact_key
from fluxcat.dedupe.normalise import SPELLINGS, normalise_plain, normalise_prompt

DEDUPE_MODES = ("off", "exact", "semantic")
DEFAULT_THRESHOLD = 0.75  # measured: benchmarks/dedupe.py quality (the guard decides; this only nominates)
AUDIT_PAIRS = 20  # closest pairs kept apart that semantic dedupe reports

# Options semantic dedupe takes (see fluxcat.dedupe.semantic.semantic_duplicates); anything else is a configuration error.
SEMANTIC_OPTIONS = ("threshold", "model", "backend", "batch_size", "lexicon", "exact_limit", "embedder", "audit")

__all__ = ["DEDUPE_MODES", "DEFAULT_THRESHOLD", "SEMANTIC_OPTIONS", "SPELLINGS", "DedupeEntry", "DedupeResult",
           "EXACT_REASON", "ExactDeduper", "Match", "check_dedupe_options", "dedupe", "exact_duplicates", "exact_key",
           "find_duplicates", "normalise_plain", "normalise_prompt"]


@dataclass
class DedupeResult:
    """Duplicate rows mapped to their canonical row, and the audit's closest pairs kept apart (semantic only)."""

    matches: dict[int, Match]
    kept_apart: list = field(default_factory=list)  # fluxcat.dedupe.audit.KeptApart


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

    options = {"audit": AUDIT_PAIRS, **{k: v for k, v in options.items() if v is not None}}
    similar = semantic_duplicates([e for e in entries if e.row_number not in matches], store=store, **options)
    return DedupeResult(_merge_groups(matches, similar.matches), similar.kept_apart)


def check_dedupe_options(mode: str, options: dict) -> None:
    """Fail on a bad mode, option name or threshold before any work is done."""
    if mode not in DEDUPE_MODES:
        raise ValueError(f"unknown dedupe mode {mode!r}: choose one of {', '.join(DEDUPE_MODES)}")
    unknown = sorted(set(options) - set(SEMANTIC_OPTIONS))
    if unknown:
        raise ValueError(f"unknown dedupe option(s) {', '.join(unknown)}: choose from {', '.join(SEMANTIC_OPTIONS)}")
    threshold = options.get("threshold")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 < threshold <= 1.0):
        raise ValueError(f"dedupe threshold is a cosine similarity in (0, 1], e.g. {DEFAULT_THRESHOLD}; got {threshold!r}")
    if options.get("lexicon"):
        from fluxcat.dedupe.guard import load_lexicon

        load_lexicon(str(options["lexicon"]))  # a bad word file fails here, before any work


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
