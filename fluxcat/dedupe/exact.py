"""Exact dedupe: rows whose normalised prompt and generation parameters equal an earlier row's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from fluxcat.dedupe.normalise import normalise_prompt

EXACT_REASON = "same normalised prompt"


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


def exact_key(params: str, normalised_prompt: str) -> bytes:
    """The identity exact dedupe groups on: 16 bytes, so a million distinct prompts stay small in memory."""
    return hashlib.blake2b(f"{params}\0{normalised_prompt}".encode(), digest_size=16).digest()


class ExactDeduper:
    """Online exact dedupe in catalog order: the first row with a key is canonical; `seen` returns it for later rows."""

    def __init__(self):
        self.first: dict[bytes, object] = {}

    def seen(self, key: bytes, row):
        """The canonical row for `key` (None if `row` is the first with it, and so becomes canonical)."""
        canonical = self.first.setdefault(key, row)
        return None if canonical is row else canonical


def exact_duplicates(entries: Iterable[DedupeEntry]) -> dict[int, Match]:
    """Rows whose normalised prompt and parameters equal an earlier row's."""
    deduper = ExactDeduper()
    matches: dict[int, Match] = {}
    for entry in sorted(entries, key=lambda e: e.row_number):
        canonical = deduper.seen(exact_key(entry.params, normalise_prompt(entry.prompt)), entry)
        if canonical is not None:
            matches[entry.row_number] = Match(entry.row_number, canonical.row_number, 1.0, EXACT_REASON,
                                              entry.prompt, canonical.prompt)
    return matches
