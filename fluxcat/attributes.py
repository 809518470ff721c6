"""Attribute guard: similar prompts merge only when every token that differs is a stop word, a synonym or formatting."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fluxcat.dedupe import normalise_plain

LEXICON_FILE = "attributes.json"
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”')
# Clause breaks: , ; : newlines and sentence full stops (not decimal points).
_CLAUSE_BREAK = re.compile(r"[,;:\n]|(?<!\d)\.|\.(?!\d)")


@dataclass(frozen=True)
class Lexicon:
    """The guard's word lists (fluxcat/data/attributes.json), checked for contradictions on load."""

    stop_words: frozenset[str]
    phrases: dict[tuple[str, ...], str]  # synonym phrase (as tokens) -> canonical token
    longest_phrase: int
    categories: dict[str, str]  # attribute word -> category, only used to name why a merge was refused


@lru_cache(maxsize=8)
def load_lexicon(path: str | None = None) -> Lexicon:
    """Load the guard's word lists; `path` replaces the bundled file (same JSON layout)."""
    text = Path(path).read_text() if path else resources.files("fluxcat.data").joinpath(LEXICON_FILE).read_text()
    data = json.loads(text)
    categories = {word: category for category, words in data["attributes"].items() for word in words}
    stop_words = frozenset(data["stop_words"])
    clash = sorted(stop_words & categories.keys())
    if clash:
        raise ValueError(f"{path or LEXICON_FILE}: attribute words cannot be stop words: {', '.join(clash)}")
    phrases: dict[tuple[str, ...], str] = {}
    for group in data["synonyms"]:
        _check_synonym_group(group, categories, path)
        canonical = "_".join(group[0].split())
        for phrase in group:
            phrases[tuple(phrase.split())] = canonical
    return Lexicon(stop_words, phrases, max(map(len, phrases), default=1), categories)


def _check_synonym_group(group: list[str], categories: dict[str, str], path: str | None) -> None:
    seen: dict[str, str] = {}
    for phrase in group:
        category = categories.get(phrase)
        if category and category in seen and category not in ("unit", "quantity"):
            raise ValueError(f"{path or LEXICON_FILE}: synonym group {group} joins two {category} words "
                             f"({seen[category]!r}, {phrase!r}); variants must stay apart")
        seen.setdefault(category or "", phrase)


@dataclass(frozen=True)
class PromptTokens:
    """A prompt as the guard compares it: canonical content tokens in order, with the clause of each."""

    tokens: tuple[str, ...]
    clauses: tuple[int, ...]

    @property
    def bag(self) -> tuple[str, ...]:
        """Order-free key: two prompts the guard can accept always have the same bag."""
        return tuple(sorted(self.tokens))


def tokenise(prompt: str, lexicon: Lexicon | None = None) -> PromptTokens:
    """Split a raw prompt into clauses and canonical tokens: formatting gone, synonyms folded, stop words dropped."""
    lexicon = lexicon or load_lexicon()
    tokens: list[str] = []
    clauses: list[int] = []
    for clause_number, clause in enumerate(_clauses(prompt)):
        for token in _canonical(_raw_tokens(clause), lexicon):
            tokens.append(token)
            clauses.append(clause_number)
    return PromptTokens(tuple(tokens), tuple(clauses))


def _clauses(prompt: str) -> list[str]:
    clauses, start = [], 0
    quoted = [m.span() for m in _QUOTED.finditer(prompt)]
    for match in _CLAUSE_BREAK.finditer(prompt):
        if any(a <= match.start() < b for a, b in quoted):
            continue
        clauses.append(prompt[start:match.start()])
        start = match.end()
    clauses.append(prompt[start:])
    return [c for c in clauses if c.strip()]


def _raw_tokens(clause: str) -> list[str]:
    out, last = [], 0
    for match in _QUOTED.finditer(clause):
        out += normalise_plain(clause[last:match.start()]).split()
        out.append("quote:" + match.group(0)[1:-1])  # what the image spells out: verbatim, case kept
        last = match.end()
    out += normalise_plain(clause[last:]).split()
    return out


def _canonical(words: list[str], lexicon: Lexicon) -> list[str]:
    out, i = [], 0
    while i < len(words):
        for length in range(min(lexicon.longest_phrase, len(words) - i), 0, -1):
            canonical = lexicon.phrases.get(tuple(words[i:i + length]))
            if canonical is not None:
                out.append(canonical)
                i += length
                break
        else:
            word = words[i]
            i += 1
            if word != "s" and word not in lexicon.stop_words:  # "s": the rest of a possessive ("men's")
                out.append(word)
    return out


@dataclass(frozen=True)
class Verdict:
    same: bool
    reason: str


def compare(a: PromptTokens, b: PromptTokens, lexicon: Lexicon | None = None) -> Verdict:
    """Align the two token sequences; accept only if nothing is left over but whole clauses that moved."""
    if a.tokens == b.tokens:
        return Verdict(True, "differs only in stop words, synonyms or formatting")
    if a.bag != b.bag:
        return Verdict(False, _refusal(a, b, lexicon or load_lexicon()))
    matcher = difflib.SequenceMatcher(None, a.tokens, b.tokens, autojunk=False)
    removed = [(i1, i2) for tag, i1, i2, _, _ in matcher.get_opcodes() if tag in ("replace", "delete")]
    added = [(j1, j2) for tag, _, _, j1, j2 in matcher.get_opcodes() if tag in ("replace", "insert")]
    lexicon = lexicon or load_lexicon()
    for i1, i2 in removed:
        block = a.tokens[i1:i2]
        match = next(((j1, j2) for j1, j2 in added if b.tokens[j1:j2] == block), None)
        if match is None or not _may_move(a, (i1, i2), b, match, lexicon):
            return Verdict(False, f"word order differs within a clause ({' '.join(map(_show, block))} moved)")
        added.remove(match)
    if added:
        return Verdict(False, "word order differs within a clause")
    return Verdict(True, "same words; only whole clauses moved, plus stop words, synonyms or formatting")


def _may_move(a: PromptTokens, span_a: tuple[int, int], b: PromptTokens, span_b: tuple[int, int], lexicon: Lexicon) -> bool:
    """A block may move if it is a whole clause on one side ("..., product photo" -> "Product photo of ...").
    A block holding an attribute must be a whole clause on both sides: "a mug with a blue lid" is not
    "a mug with a lid, blue", though a plain clause reordering ("..., left view, white background") is fine."""
    whole_a, whole_b = _whole_clauses(a, *span_a), _whole_clauses(b, *span_b)
    if any(_category(token, lexicon) for token in a.tokens[span_a[0]:span_a[1]]):
        return whole_a and whole_b
    return whole_a or whole_b


def _whole_clauses(p: PromptTokens, start: int, end: int) -> bool:
    inside = set(p.clauses[start:end])
    return all((start <= i < end) == (c in inside) for i, c in enumerate(p.clauses))


def _refusal(a: PromptTokens, b: PromptTokens, lexicon: Lexicon) -> str:
    only_a = sorted(set(a.tokens) - set(b.tokens))
    only_b = sorted(set(b.tokens) - set(a.tokens))
    if not only_a and not only_b:
        return "same words, different counts"
    words = only_a + only_b
    named = sorted({_category(w, lexicon) for w in words} - {None})
    what = ", ".join(named) if named else "content words"
    return f"differs in {what}: {' '.join(_show(w) for w in only_a) or '-'} vs {' '.join(_show(w) for w in only_b) or '-'}"


def _category(word: str, lexicon: Lexicon) -> str | None:
    if word.startswith("quote:"):
        return "quoted text"
    if any(ch.isdigit() for ch in word):
        return "numbers"
    return lexicon.categories.get(word)


def _show(word: str) -> str:
    return f'"{word[6:]}"' if word.startswith("quote:") else word
