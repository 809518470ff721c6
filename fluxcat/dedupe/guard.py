"""The attribute guard: two prompts merge only if every difference is formatting, stop or framing words, synonyms,
inflection or order; it reduces each prompt to a canonical key of phrases, so equal keys are the whole test."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fluxcat.dedupe.normalise import normalise_plain
from fluxcat.quoted import find_quotes, split_quoted

WORDS_FILE = "attributes.json"  # also read by QA (fluxcat/qa, its colour words)
# Clause breaks: , ; : newlines and sentence full stops (not decimal points).
_CLAUSE_BREAK = re.compile(r"[,;:\n]|(?<!\d)\.|\.(?!\d)")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
_VOWEL = re.compile(r"[aeiouy]")
_QTY_SHOWN = re.compile(r"^([\d.e+-]+)(.*)$")
_PLURAL = "+pl"  # marks an inflected plural, so "a candle" and "candles" stay apart
_LIST_KEYS = ("stop_words", "synonyms", "framing_heads", "framing_links", "generic_framing", "collectives",
              "prepositions", "not_inflected")


@dataclass(frozen=True)
class Lexicon:
    """The guard's word lists (fluxcat/data/attributes.json, plus a catalog's own file), lemmatised on load."""

    stop_words: frozenset[str]
    phrases: dict[tuple[str, ...], str]  # synonym or preposition phrase (lemmas) -> canonical token
    longest_phrase: int
    prepositions: frozenset[str]
    framing_heads: frozenset[str]
    framing_links: frozenset[str]
    generic_framing: frozenset[str]
    collectives: frozenset[str]
    numbers: dict[str, str]
    units: dict[str, tuple[str, float]]
    irregular: dict[str, str]
    not_inflected: frozenset[str]
    categories: dict[str, str]  # attribute lemma -> category, only used to name why a merge was refused
    phrase_starts: frozenset[str] = frozenset()  # first lemmas of multi-word phrases: only these look further
    clause_cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


@lru_cache(maxsize=8)
def load_lexicon(path: str | None = None) -> Lexicon:
    """The bundled word lists, extended by the file at `path` (same layout; its lists are added to the bundled ones)."""
    data = json.loads(resources.files("fluxcat.data").joinpath(WORDS_FILE).read_text())
    if path:
        data = _extend(data, json.loads(Path(path).read_text()), path)
    return _build(data, path or WORDS_FILE)


def _extend(base: dict, extra: dict, path: str) -> dict:
    unknown = sorted(set(extra) - set(base))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(unknown)}; a dedupe word file has {', '.join(sorted(base))}")
    merged = dict(base)
    for key, value in extra.items():
        if key in _LIST_KEYS:
            merged[key] = base[key] + value
        elif key == "attributes":
            merged[key] = {c: base[key].get(c, []) + value.get(c, []) for c in {*base[key], *value}}
        elif isinstance(value, dict):
            merged[key] = {**base[key], **value}
    return merged


def _build(data: dict, source: str) -> Lexicon:
    irregular = data["lemmas"]
    not_inflected = frozenset(data["not_inflected"])

    def lemmas(phrase: str) -> tuple[str, ...]:
        return tuple(_lemma(w, irregular, not_inflected)[0] for w in normalise_plain(phrase).split())

    categories: dict[str, str] = {}
    for category, words in data["attributes"].items():
        for word in words:
            categories.setdefault("_".join(lemmas(word)), category)  # a word in two categories is named by the first
    stop_words = frozenset(lemmas(w)[0] for w in data["stop_words"])
    clash = sorted(stop_words & categories.keys())
    if clash:
        raise ValueError(f"{source}: attribute words cannot be stop words: {', '.join(clash)}")
    phrases: dict[tuple[str, ...], str] = {}
    for group in data["synonyms"]:
        _check_synonym_group(group, [lemmas(p) for p in group], categories, source)
        canonical = "_".join(lemmas(group[0]))
        phrases.update({lemmas(p): canonical for p in group})
    prepositions = set()
    for phrase in data["prepositions"]:
        token = phrases.setdefault(lemmas(phrase), "_".join(lemmas(phrase)))
        prepositions.add(token)
    one = lambda words: frozenset(phrases.get(lemmas(w), "_".join(lemmas(w))) for w in words)
    return Lexicon(stop_words, phrases, max(map(len, phrases), default=1), frozenset(prepositions),
                   one(data["framing_heads"]), one(data["framing_links"]), one(data["generic_framing"]),
                   one(data["collectives"]), {w: str(n) for w, n in data["numbers"].items()},
                   {u: (base, float(f)) for u, (base, f) in data["units"].items()}, irregular, not_inflected,
                   categories, frozenset(p[0] for p in phrases if len(p) > 1))


def _check_synonym_group(group: list[str], lemmatised: list[tuple], categories: dict, source: str) -> None:
    seen: dict[str, tuple] = {}
    for phrase, tokens in zip(group, lemmatised):
        category = categories.get(tokens[0]) if len(tokens) == 1 else None
        if category and category in seen and seen[category][1] != tokens:
            raise ValueError(f"{source}: synonym group {group} joins two {category} words "
                             f"({seen[category][0]!r}, {phrase!r}); variants must stay apart")
        if category:
            seen[category] = (phrase, tokens)


def _lemma(word: str, irregular: dict, not_inflected: frozenset) -> tuple[str, bool]:
    """(lemma, is an inflected plural): rules for English suffixes, then a final 'e' dropped so pile/piled/piling meet."""
    if word in irregular:
        return irregular[word].rstrip("e") if len(irregular[word]) > 3 else irregular[word], word != irregular[word]
    if word in not_inflected or len(word) <= 3 or not word.isalpha():
        return word, False
    stem, plural = word, False
    if word.endswith("ies") and len(word) > 4:
        stem, plural = word[:-3] + "y", True
    elif word.endswith(("sses", "shes", "ches", "xes", "zes")):
        stem, plural = word[:-2], True
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        stem, plural = word[:-1], True
    elif word.endswith("ied") and len(word) > 4:
        stem = word[:-3] + "y"
    elif word.endswith("ed") and len(word) >= 5:
        stem = _undouble(word[:-2])
    elif word.endswith("ing") and len(word) >= 6 and _VOWEL.search(word[:-3]):
        stem = _undouble(word[:-3])
    if not _VOWEL.search(stem):
        return word, False
    return (stem[:-1] if stem.endswith("e") and len(stem) > 3 else stem), plural


def _undouble(stem: str) -> str:
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] in "bdgmnprt":
        return stem[:-1]
    return stem


@dataclass(frozen=True)
class PromptTokens:
    """A prompt as the guard sees it: its canonical key (a sorted multiset of phrases), and its content words."""

    key: tuple
    words: tuple[str, ...]  # canonical content words and prepositions in prompt order (for reasons, near misses)
    surface: tuple[str, ...]  # the normalised words that are not stop words (for reasons)
    shown: dict  # canonical token -> a word the prompt used for it

    @property
    def bag(self) -> tuple[str, ...]:
        return tuple(sorted(self.words))


def tokenise(prompt: str, lexicon: Lexicon | None = None) -> PromptTokens:
    """Clauses -> canonical tokens (numbers with units, lemmas, synonyms) -> phrases -> the key."""
    lexicon = lexicon or load_lexicon()
    clauses, shown, surface = [], {}, []
    for clause in _clauses(prompt):
        words, canonical, clause_shown = _clause(clause, lexicon)
        surface += words
        clauses.append(canonical)
        for token, text in clause_shown:
            shown.setdefault(token, text)
    phrases = _phrases(_join_lone_words(clauses, lexicon), lexicon)
    if any(token in lexicon.collectives for _, words, head in phrases for token in (*words, head)):
        phrases = [(prep, tuple(w for w in words if w != _PLURAL), head) for prep, words, head in phrases]
    key = tuple(sorted((prep, tuple(sorted(words)), head) for prep, words, head in phrases))
    content = tuple(t for clause in clauses for kind, t in clause if kind in ("word", "prep"))
    return PromptTokens(key, content, tuple(surface), shown)


CLAUSE_CACHE_SIZE = 20_000  # templated catalogs repeat most clauses ("on a white background"): each is read once


def _clause(text: str, lexicon: Lexicon) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(surface words that are not stop words, canonical (kind, token) pairs, (token, words) shown in reasons)."""
    cached = lexicon.clause_cache.get(text)
    if cached is None:
        if len(lexicon.clause_cache) >= CLAUSE_CACHE_SIZE:
            lexicon.clause_cache.clear()
        words = _raw_tokens(text)
        shown: dict = {}
        canonical = _canonical(_quantities(words, lexicon), lexicon, shown)
        cached = lexicon.clause_cache[text] = ([w for w in words if w not in lexicon.stop_words], canonical,
                                               list(shown.items()))
    return cached


def _clauses(prompt: str) -> list[str]:
    clauses, start = [], 0
    quoted = [(q.start, q.end) for q in find_quotes(prompt)]
    for match in _CLAUSE_BREAK.finditer(prompt):
        if any(a <= match.start() < b for a, b in quoted):
            continue
        clauses.append(prompt[start:match.start()])
        start = match.end()
    clauses.append(prompt[start:])
    return [c for c in clauses if c.strip()]


def _raw_tokens(clause: str) -> list[str]:
    out: list[str] = []
    for piece, quote in split_quoted(clause):
        # what the image spells out: verbatim, case kept
        out += ["quote:" + quote.text] if quote else normalise_plain(piece).split()
    return out


def _quantities(words: list[str], lexicon: Lexicon) -> list[str]:
    """Number words become digits; a number and its unit become one token in a base unit (750 ml == 0.75 l)."""
    out: list[str] = []
    for word in words:
        word = lexicon.numbers.get(word, word)
        unit = lexicon.units.get(word) or (lexicon.units.get(word[:-1]) if word.endswith("s") else None)
        if unit and out and _NUMBER.match(out[-1]):
            value = float(out[-1].replace(",", "")) * unit[1]
            out[-1] = f"qty:{value:.6g}{unit[0]}"
            continue
        out.append(word)
    return out


def _canonical(words: list[str], lexicon: Lexicon, shown: dict) -> list[tuple[str, str]]:
    """(kind, token) pairs: kind is word, prep, link ("of", "showing"), and or plural; stop words are gone."""
    lemmas = [(w, False) if w.startswith(("quote:", "qty:")) else _lemma(w, lexicon.irregular, lexicon.not_inflected)
              for w in words]
    out, i = [], 0
    while i < len(words):
        canonical, length = None, 1
        if lemmas[i][0] in lexicon.phrase_starts:
            for length in range(min(lexicon.longest_phrase, len(words) - i), 0, -1):
                canonical = lexicon.phrases.get(tuple(lemma for lemma, _ in lemmas[i:i + length]))
                if canonical is not None:
                    break
            length = max(length, 1)
        else:
            canonical = lexicon.phrases.get((lemmas[i][0],))
        phrase = (lemmas[i][0],)
        token = canonical or phrase[0]
        plural = canonical is None and lemmas[i][1]
        shown.setdefault(token, " ".join(words[i:i + length]))
        i += length
        if token == "and":
            out.append(("and", token))
        elif token in lexicon.framing_links:
            out.append(("link", token))
        elif token in lexicon.prepositions:
            out.append(("prep", token))
        elif token != "s" and token not in lexicon.stop_words:  # "s": the rest of a possessive ("men's")
            out.append(("word", token))
            if plural:
                out.append(("plural", _PLURAL))
    return out


def _join_lone_words(clauses: list[list], lexicon: Lexicon) -> list[list]:
    """"A simple, elegant ring": a first clause of one bare word describes the next clause's first phrase."""
    first = clauses[0] if clauses else []
    if len(clauses) > 1 and len(first) == 1 and first[0][0] == "word" and "_" not in first[0][1] \
            and clauses[1] and clauses[1][0][0] == "word" and first[0][1] not in lexicon.framing_heads \
            and _framing_end(clauses[1], lexicon) is None:
        return [first + clauses[1]] + clauses[2:]
    return clauses


def _phrases(clauses: list[list], lexicon: Lexicon) -> list[tuple[str, tuple, str]]:
    """(preposition, modifier words, last word) per phrase; a leading "close-up shot of" is a phrase of its own."""
    phrases: list[tuple[str, tuple, str]] = []
    for clause in clauses:
        clause = _detach_framing(clause, lexicon, phrases)
        if len(clause) == 1 and clause[0][1] in lexicon.collectives and phrases and not phrases[-1][0]:
            prep, words, head = phrases[-1]  # "leather boots, a pair" is "a pair of leather boots"
            phrases[-1] = (prep, words + (head,), clause[0][1])
            continue
        prep, words = "", []
        for kind, token in clause + [("prep", "")]:
            if kind == "prep":
                _add_phrase(phrases, prep, words, lexicon)
                prep, words = token, []
            else:
                words.append((kind, token))
    return phrases


def _detach_framing(clause: list, lexicon: Lexicon, phrases: list) -> list:
    """Split off a shot descriptor ("product photo of", "top view of", a clause "close-up shot"); a bare "photo of"
    adds nothing and is dropped."""
    end = _framing_end(clause, lexicon)
    if end is None:
        return clause
    head = [t for k, t in clause[:end] if k in ("word", "plural")]
    if not (set(head) <= lexicon.generic_framing):
        phrases.append(("framing", tuple(sorted(head)), ""))
    return clause[end + 1:]


def _framing_end(clause: list, lexicon: Lexicon) -> int | None:
    """Where a leading shot descriptor ends (at its "of"/"showing", or the clause's end), or None if there is none."""
    kinds = [k for k, _ in clause]
    end = kinds.index("link") if "link" in kinds else len(clause)
    head = [t for k, t in clause[:end] if k in ("word", "plural")]
    if not head or "prep" in kinds[:end] or head[-1] not in lexicon.framing_heads:
        return None
    return end


def _add_phrase(phrases: list, prep: str, words: list, lexicon: Lexicon) -> None:
    """Coordinated noun phrases ("a mug and a spoon") become phrases of their own; coordinated adjectives do not."""
    parts, part = [], []
    for kind, token in words:
        if kind == "and":
            parts.append(part)
            part = []
        else:
            part.append((kind, token))
    parts.append(part)
    if all(sum(k == "word" for k, _ in p) <= 1 for p in parts[:-1]):
        parts = [[w for p in parts for w in p]]
    for part in parts:
        tokens = _collective_last(part, lexicon)
        if not tokens:
            continue
        if prep in ("in", "into") and len(tokens) == 1 and tokens[0] in lexicon.collectives and phrases:
            last_prep, last_words, last_head = phrases[-1]  # "glasses in a row" is "a row of glasses"
            phrases[-1] = (last_prep, last_words + (last_head,), tokens[0])
            continue
        phrases.append((prep, tuple(tokens[:-1]), tokens[-1]))


def _collective_last(part: list, lexicon: Lexicon) -> list[str]:
    """"a set of knives" -> "knife set": a collective followed by "of" moves after what it collects."""
    tokens: list[str] = []
    collective = []
    for index, (kind, token) in enumerate(part):
        following = part[index + 1][0] if index + 1 < len(part) else None
        if kind == "word" and token in lexicon.collectives and following == "link":
            collective.append(token)
        elif kind in ("word", "plural"):
            tokens.append(token)
    words = [t for t in tokens if t != _PLURAL]
    if not words:
        return []
    return [t for t in tokens if t == _PLURAL] + words + collective if collective else \
        [t for t in tokens if t == _PLURAL] + words


@dataclass(frozen=True)
class Verdict:
    same: bool
    reason: str


def compare(a: PromptTokens, b: PromptTokens, lexicon: Lexicon | None = None) -> Verdict:
    """Same key: the same picture, with the reason naming what differed; otherwise the attribute that differs."""
    lexicon = lexicon or load_lexicon()
    if a.key == b.key:
        return Verdict(True, _acceptance(a, b))
    return Verdict(False, _refusal(a, b, lexicon))


def _acceptance(a: PromptTokens, b: PromptTokens) -> str:
    if a.surface == b.surface:
        return "differs only in stop words or formatting"
    if sorted(a.surface) == sorted(b.surface):
        return "same words in another order"
    only_a = sorted(set(a.surface) - set(b.surface))
    only_b = sorted(set(b.surface) - set(a.surface))
    return f"same picture: {' '.join(only_a) or '-'} ~ {' '.join(only_b) or '-'} (synonyms, inflection, framing or order)"


def _refusal(a: PromptTokens, b: PromptTokens, lexicon: Lexicon) -> str:
    count_a, count_b = Counter(a.words), Counter(b.words)
    only_a, only_b = sorted((count_a - count_b).elements()), sorted((count_b - count_a).elements())
    if not only_a and not only_b:
        return "same words, arranged differently (who does what, or which word describes which)"
    named = sorted({_category(w, lexicon) for w in only_a + only_b} - {None})
    what = ", ".join(named) if named else "content words"
    show = lambda words, p: " ".join(_show(p.shown.get(w, w)) for w in words) or "-"
    return f"differs in {what}: {show(only_a, a)} vs {show(only_b, b)}"


def _category(word: str, lexicon: Lexicon) -> str | None:
    if word.startswith("quote:"):
        return "quoted text"
    if word.startswith("qty:"):
        return "quantity with unit"
    if any(ch.isdigit() for ch in word):
        return "numbers"
    return lexicon.categories.get(word)


def _show(word: str) -> str:
    if word.startswith("qty:"):
        return _QTY_SHOWN.sub(r"\1 \2", word[4:])
    return f'"{word[6:]}"' if word.startswith("quote:") else word.replace(" s", "'s")
