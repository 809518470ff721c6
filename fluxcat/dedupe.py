"""Prompt deduplication: normalised-text (exact) and semantic matching, only within identical generation parameters."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

DEDUPE_MODES = ("off", "exact", "semantic")

_QUOTED = re.compile(r'"[^"]*"|“[^”]*”')
_HYPHEN_BETWEEN_LETTERS = re.compile(r"(?<=[^\W\d_])[-_/](?=[^\W\d_])")
# "27-inch", "27 inch" and "27inch" are one spelling; so are "750ml" and "750 ml".
_NUMBER_UNIT = re.compile(r"(?<=\d)-?(?=[^\W\d_])|(?<=[^\W\d_])-(?=\d)")
_AMPERSAND = re.compile(r"\s*&\s*")
_LONE_DASH = re.compile(r"(?<!\S)[-–—]+(?!\S)")
# Punctuation is dropped unless it sits between two digits ("5.5", "1,000", "3/4" keep theirs).
_PUNCT = re.compile(r"(?<!\d)[.,;:!?()\[\]{}'](?!\d)|(?<=\d)[.,;:!?()\[\]{}'](?!\d)|(?<!\d)[.,;:!?()\[\]{}'](?=\d)")
_SPACES = re.compile(r"\s+")

# British -> American spellings: cheap wins for exact matching. Data, not branches.
SPELLINGS = {
    "colour": "color", "colours": "colors", "coloured": "colored", "grey": "gray",
    "jewellery": "jewelry", "aluminium": "aluminum", "centre": "center", "favourite": "favorite",
    "organise": "organize", "organiser": "organizer", "personalised": "personalized",
    "metre": "meter", "metres": "meters", "litre": "liter", "litres": "liters",
    "theatre": "theater", "fibre": "fiber", "mould": "mold", "pyjamas": "pajamas",
    "moustache": "mustache", "tyre": "tire", "tyres": "tires", "cosy": "cozy", "mum": "mom",
}


def normalise_prompt(prompt: str) -> str:
    """Normalise a prompt for exact matching; quoted text (what the image spells out) is kept verbatim."""
    text = unicodedata.normalize("NFKC", prompt)
    parts, last = [], 0
    for match in _QUOTED.finditer(text):
        parts.append(normalise_plain(text[last:match.start()]))
        parts.append(match.group(0).replace("“", '"').replace("”", '"'))
        last = match.end()
    parts.append(normalise_plain(text[last:]))
    return _SPACES.sub(" ", " ".join(parts)).strip()


def normalise_plain(text: str) -> str:
    """Normalise text outside quotes: case, punctuation, hyphens, number-unit joins, British spellings."""
    text = _HYPHEN_BETWEEN_LETTERS.sub(" ", text.lower())
    text = _NUMBER_UNIT.sub(" ", _AMPERSAND.sub(" and ", _LONE_DASH.sub(" ", text)))
    text = _PUNCT.sub(" ", text)
    return " ".join(SPELLINGS.get(word, word) for word in text.split())


@dataclass(frozen=True)
class DedupeEntry:
    """One plannable row as dedupe sees it: its position, its text and its generation parameters."""

    row_number: int
    prompt: str
    params: str  # rows are only ever merged within identical generation parameters


@dataclass(frozen=True)
class Match:
    """A row that duplicates an earlier (canonical) row; both prompts ride along so a plan can be checked by eye."""

    row_number: int
    canonical: int
    similarity: float
    reason: str
    prompt: str = ""
    canonical_prompt: str = ""


# Options semantic dedupe takes (see fluxcat.semantic.semantic_duplicates); anything else is a configuration error.
SEMANTIC_OPTIONS = ("threshold", "model", "backend", "batch_size", "lexicon", "exact_limit", "embedder")


def find_duplicates(entries: Iterable[DedupeEntry], mode: str = "exact", store=None, **options) -> dict[int, Match]:
    """Map each duplicate row's number to its canonical (first in catalog order) row.
    `store` (the run's output Store, may be None) is where semantic dedupe keeps its embedding cache."""
    check_dedupe_options(mode, options)
    if mode == "off":
        return {}
    entries = sorted(entries, key=lambda e: e.row_number)
    matches = exact_duplicates(entries)
    if mode == "semantic":
        from fluxcat.semantic import semantic_duplicates  # heavy: sentence-transformers

        options = {k: v for k, v in options.items() if v is not None}
        similar = semantic_duplicates([e for e in entries if e.row_number not in matches], store=store, **options)
        matches = _merge_groups(matches, similar)
    return matches


def check_dedupe_options(mode: str, options: dict) -> None:
    """Fail on a bad mode, option name or threshold before any work is done."""
    if mode not in DEDUPE_MODES:
        raise ValueError(f"unknown dedupe mode {mode!r}: choose one of {', '.join(DEDUPE_MODES)}")
    unknown = sorted(set(options) - set(SEMANTIC_OPTIONS))
    if unknown:
        raise ValueError(f"unknown dedupe option(s) {', '.join(unknown)}: choose from {', '.join(SEMANTIC_OPTIONS)}")
    threshold = options.get("threshold")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 < threshold <= 1.0):
        raise ValueError(f"dedupe threshold is a cosine similarity in (0, 1], e.g. 0.95; got {threshold!r}")


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


def exact_duplicates(entries: Iterable[DedupeEntry]) -> dict[int, Match]:
    """Rows whose normalised prompt and parameters equal an earlier row's."""
    first: dict[tuple[str, str], int] = {}
    prompts: dict[int, str] = {}
    matches: dict[int, Match] = {}
    for entry in entries:
        prompts.setdefault(entry.row_number, entry.prompt)
        key = (entry.params, normalise_prompt(entry.prompt))
        canonical = first.setdefault(key, entry.row_number)
        if canonical != entry.row_number:
            matches[entry.row_number] = Match(entry.row_number, canonical, 1.0, "same normalised prompt",
                                              entry.prompt, prompts[canonical])
    return matches
