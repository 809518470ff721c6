"""Prompt safety before anything is sent to a hosted provider: blocked terms and PII patterns, as data."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

# Phrases no provider should be asked to draw (the guide's blocked_terms); matched as whole words,
# case-insensitively. Extend per run with the backend option blocked_terms="term one,term two".
BLOCKED_TERMS: tuple[str, ...] = (
    "child pornography", "child porn", "csam", "underage nude", "underage sex", "nude child", "naked child",
    "loli hentai", "shotacon", "lolicon", "revenge porn", "non-consensual", "nonconsensual porn",
    "deepfake nude", "deepfake porn", "bestiality", "snuff film", "beheading video",
)

# The guide's contains_pii patterns, named so a rejection says what was found (never the value itself).
PII_PATTERNS: dict[str, str] = {
    "social security number": r"\b\d{3}-\d{2}-\d{4}\b",
    "email address": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
    "credit card number": r"\b(?:\d{4}[ -]?){3}\d{4}\b",
    "phone number": r"(?<![\w-])(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}\b",
}


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True)
class SafetyFilter:
    """Rejects prompts that contain a blocked term or personal information; no model download."""

    blocked_terms: tuple[str, ...] = BLOCKED_TERMS
    pii_patterns: tuple[tuple[str, re.Pattern], ...] = tuple((n, re.compile(p)) for n, p in PII_PATTERNS.items())

    @classmethod
    def from_option(cls, extra_terms: str | Iterable[str] | None) -> "SafetyFilter":
        """The default filter plus extra terms (a comma-separated string or a list)."""
        if isinstance(extra_terms, str):
            extra_terms = extra_terms.split(",")
        extra = tuple(t.strip() for t in (extra_terms or ()) if t and t.strip())
        return cls(blocked_terms=BLOCKED_TERMS + extra)

    def __post_init__(self):
        words = sorted({_normalise(t) for t in self.blocked_terms}, key=len, reverse=True)
        alternation = "|".join(re.escape(w) for w in words)
        object.__setattr__(self, "_blocked", re.compile(rf"(?<!\w)(?:{alternation})(?!\w)") if words else None)

    def check(self, prompt: str | None) -> str | None:
        """A rejection reason, or None when the prompt may be sent."""
        if not prompt:
            return None
        match = self._blocked.search(_normalise(prompt)) if self._blocked is not None else None
        if match:
            return f"prompt safety: contains blocked term {match.group(0)!r}"
        for name, pattern in self.pii_patterns:
            if pattern.search(prompt):
                return f"prompt safety: contains personal information ({name}); remove it before sending to a hosted provider"
        return None

    def check_row(self, planned) -> str | None:
        """A planning row check (PlannedRow -> reason | None)."""
        return self.check(planned.prompt)
