"""Prompt safety at planning, for every backend: blocked terms and personal information, matched through obfuscation."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Iterable

from fluxcat.lookalikes import is_ignorable, prototype


@lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(files("fluxcat.data").joinpath("safety.json").read_text(encoding="utf-8"))


BLOCKED_TERMS: tuple[str, ...] = tuple(_data()["blocked_terms"])
PRIVATE_DATA: dict[str, str] = dict(_data()["private_data"])
# What switches a filter's personal-information check off, as its rejections name it: where each filter is used.
RUN_SWITCH = "on a local backend the run setting private_data_check (CLI --private-data-check off) allows it"
SERVE_SWITCH = "on a local backend a server started with --private-data-check off allows it"
PROVIDER_SWITCH = "this backend sends prompts to a third party; its option prompt_safety=false would send it"


def matching_form(text: str) -> str:
    """The text as matching sees it (never shown, stored or deduped): compatibility-folded and casefolded; default-
    ignorable code points and combining marks removed; every decimal digit ASCII; dashes '-'; every other character
    replaced by its UTS #39 prototype (Cyrillic 'а' -> 'a'); whitespace runs one space."""
    out = []
    for char in unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold()):
        out.append(_match_char(char))
    folded = unicodedata.normalize("NFD", "".join(out).casefold())  # prototypes may be capitals or carry marks
    return " ".join("".join(c for c in folded if unicodedata.category(c) not in ("Mn", "Me")).split())


@lru_cache(maxsize=65536)
def _match_char(char: str) -> str:
    if is_ignorable(char) or unicodedata.category(char) in ("Mn", "Me"):
        return ""
    if char.isdecimal():  # before prototypes: Bengali and Arabic-Indic digits have letter or dot look-alikes
        return str(unicodedata.decimal(char))
    if char.isspace():
        return " "
    if unicodedata.category(char) == "Pd" or char == "\u2212":  # any dash, and the minus sign
        return "-"
    return prototype(char)


def luhn(digits: str) -> bool:
    """The card-number checksum: every second digit from the right doubled, the sum a multiple of 10."""
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        total += digit if position % 2 == 0 else (digit * 2 - 9 if digit > 4 else digit * 2)
    return total % 10 == 0


CHECKSUMS = {"luhn": lambda found: luhn(re.sub(r"\D", "", found))}


# A word of a term may be written as two words when each has at least this many letters: "deep fake" is "deepfake"
# and "loli con" "lolicon", while "C. Sam's" and "cs amp" (a letter or two split off "csam") stay names and words.
MIN_SPLIT_LETTERS = 3


def _term_pattern(term: str) -> str | None:
    """A term as a regex over the matching form: leetspeak for each letter; its words joined by any separators or
    none; inside a word, separators other than a space between any letters ("c.s.a.m", "cs-am"), a gap between
    every two letters ("c s a m"), or any separators splitting it once into two pieces of MIN_SPLIT_LETTERS letters
    or more ("deep fake"). A space that splits a shorter piece off a word is read as two words: "C. Sam's" is a
    name, not the term."""
    data = _data()
    separators, leet = data["separators"], data["leetspeak"]
    any_gap, joining_gap = "[" + re.escape(separators) + "]", "[" + re.escape(separators.replace(" ", "")) + "]*"
    words = _term_words(term, separators)
    if not words:
        return None

    def word_pattern(word: list[str]) -> str:
        letters = ["".join("[" + re.escape(c + leet.get(c, "")) + "]" for c in letter) for letter in word]
        if len(letters) == 1:
            return letters[0]
        forms = [joining_gap.join(letters), (any_gap + "+").join(letters)]
        forms += [joining_gap.join(letters[:cut]) + any_gap + "+" + joining_gap.join(letters[cut:])
                  for cut in range(MIN_SPLIT_LETTERS, len(letters) - MIN_SPLIT_LETTERS + 1)]
        return f"(?:{'|'.join(forms)})"

    return (any_gap + "*").join(word_pattern(word) for word in words)


def _term_words(term: str, separators: str) -> list[list[str]]:
    """The term's words, each a list of its letters in the matching form; one letter may stand for several ('m' is
    'rn' there), and those stay together."""
    words, word = [], []
    for char in unicodedata.normalize("NFKC", term):
        letter = matching_form(char)
        if char.isspace() or (letter and not letter.strip(separators)):
            if word:
                words.append(word)
            word = []
        elif letter:
            word.append(letter)
    return words + [word] if word else words


@dataclass(frozen=True)
class SafetyFilter:
    """Rejects prompts holding a blocked term (always) or personal information (when `private_data`); the lists are
    data (fluxcat/data/safety.json); every rejection names what it found, never the value."""

    blocked_terms: tuple[str, ...] = BLOCKED_TERMS
    private_data: bool = True
    private_data_switch: str = field(default=RUN_SWITCH, compare=False)  # named in its rejections
    _blocked: re.Pattern | None = field(init=False, repr=False, compare=False, default=None)
    _terms: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_option(cls, extra_terms: str | Iterable[str] | None, private_data: bool = True) -> "SafetyFilter":
        """The default filter plus extra terms (a comma-separated string or a list)."""
        if isinstance(extra_terms, str):
            extra_terms = extra_terms.split(",")
        extra = tuple(t.strip() for t in (extra_terms or ()) if t and t.strip())
        return cls(blocked_terms=BLOCKED_TERMS + extra, private_data=private_data)

    @classmethod
    def for_provider(cls, extra_terms: str | Iterable[str] | None, private_data: bool) -> "SafetyFilter | None":
        """What a hosted backend checks beyond planning's filter: its extra terms, and personal information before
        it reaches a third party (unless `prompt_safety=false`); None when there is nothing more to check."""
        extra = cls.from_option(extra_terms).blocked_terms[len(BLOCKED_TERMS):]
        return (cls(blocked_terms=extra, private_data=private_data, private_data_switch=PROVIDER_SWITCH)
                if extra or private_data else None)

    def __post_init__(self):
        patterns = {}
        for term in sorted(set(self.blocked_terms), key=len, reverse=True):
            pattern = _term_pattern(term)
            if pattern is not None:
                patterns.setdefault(f"t{len(patterns)}", (term, pattern))
        alternation = "|".join(f"(?P<{name}>{pattern})" for name, (_, pattern) in patterns.items())
        # A term's plural is the term ("deepfake nudes", "snuff films"); irregular plurals are listed as terms.
        compiled = re.compile(rf"(?<![^\W_])(?:{alternation})(?:e?s)?(?![^\W_])") if patterns else None
        object.__setattr__(self, "_blocked", compiled)
        object.__setattr__(self, "_terms", {name: term for name, (term, _) in patterns.items()})

    def check(self, prompt: str | None) -> str | None:
        """A rejection reason, or None when the prompt may be drawn."""
        if not prompt:
            return None
        text = matching_form(prompt)
        match = self._blocked.search(text) if self._blocked is not None else None
        if match:
            return f"prompt safety: contains blocked term {self._terms[match.lastgroup]!r}"
        if self.private_data:
            found = _private_data(text)
            if found:
                return (f"prompt safety: contains personal information ({found}); remove it from the prompt "
                        f"({self.private_data_switch})")
        return None

    def check_row(self, planned) -> str | None:
        """A planning row check (PlannedRow -> reason | None)."""
        return self.check(planned.prompt)


@lru_cache(maxsize=1)
def _private_patterns() -> tuple[tuple[str, re.Pattern, object], ...]:
    checksums = _data().get("checksums", {})
    return tuple((name, re.compile(pattern), CHECKSUMS[checksums[name]] if name in checksums else None)
                 for name, pattern in PRIVATE_DATA.items())


def _private_data(text: str) -> str | None:
    for name, pattern, checksum in _private_patterns():
        for match in pattern.finditer(text):
            if checksum is None or checksum(match.group(0)):
                return name
    return None


DEFAULT_FILTER = SafetyFilter()
