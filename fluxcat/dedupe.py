"""Prompt deduplication: normalised-text (exact) matching within identical generation parameters."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

DEDUPE_MODES = ("off", "exact", "semantic")

_QUOTED = re.compile(r'"[^"]*"|“[^”]*”')
_HYPHEN_BETWEEN_LETTERS = re.compile(r"(?<=[^\W\d_])[-_/](?=[^\W\d_])")
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
        parts.append(_normalise_plain(text[last:match.start()]))
        parts.append(match.group(0).replace("“", '"').replace("”", '"'))
        last = match.end()
    parts.append(_normalise_plain(text[last:]))
    return _SPACES.sub(" ", " ".join(parts)).strip()


def _normalise_plain(text: str) -> str:
    text = _HYPHEN_BETWEEN_LETTERS.sub(" ", text.lower())
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
    """A row that duplicates an earlier (canonical) row."""

    row_number: int
    canonical: int
    similarity: float
    reason: str


def find_duplicates(entries: Iterable[DedupeEntry], mode: str = "exact", store=None, **options) -> dict[int, Match]:
    """Map each duplicate row's number to its canonical (first in catalog order) row.
    `store` (the run's output Store, may be None) is where semantic dedupe keeps its embedding cache."""
    if mode not in DEDUPE_MODES:
        raise ValueError(f"unknown dedupe mode {mode!r}: choose one of {', '.join(DEDUPE_MODES)}")
    if mode == "off":
        return {}
    entries = list(entries)
    matches = exact_duplicates(entries)
    if mode == "semantic":
        from fluxcat.semantic import semantic_duplicates  # heavy: sentence-transformers

        matches.update(semantic_duplicates([e for e in entries if e.row_number not in matches], store=store, **options))
    return matches


def exact_duplicates(entries: Iterable[DedupeEntry]) -> dict[int, Match]:
    """Rows whose normalised prompt and parameters equal an earlier row's."""
    first: dict[tuple[str, str], int] = {}
    matches: dict[int, Match] = {}
    for entry in entries:
        key = (entry.params, normalise_prompt(entry.prompt))
        canonical = first.setdefault(key, entry.row_number)
        if canonical != entry.row_number:
            matches[entry.row_number] = Match(entry.row_number, canonical, 1.0, "same normalised prompt")
    return matches
