"""The attribute guard: two prompts merge only if every difference is formatting, spelling, inflection, a synonym,
a compound written apart, framing, or the same relation said another way; each prompt becomes a canonical key of
phrases (preposition, words in any order, head word), so equal keys are the whole test."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from fluxcat.dedupe.lexicon import DESCRIBING, WORDS_FILE, Lexicon, known, lemma, load_lexicon, part_of_speech, spelled
from fluxcat.dedupe.normalise import normalise_plain
from fluxcat.quoted import find_quotes, split_quoted

__all__ = ["WORDS_FILE", "Lexicon", "PromptTokens", "Verdict", "compare", "load_lexicon", "tokenise"]

# Clause breaks: , ; : newlines and sentence full stops (not decimal points).
_CLAUSE_BREAK = re.compile(r"[,;:\n]|(?<!\d)\.|\.(?!\d)")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
_QTY_SHOWN = re.compile(r"^([\d.e+-]+)(.*)$")
# "a child's raincoat", "the kids' mugs": the owner is what the thing is for. Marked before normalising drops the
# apostrophe; quotes are cut out first, so a quoted 'DON'T' is never read as one.
_POSSESSIVE = re.compile(r"(?<=[^\W\d_])['’]s\b|(?<=[^\W\d_]s)['’](?=\s|$)")
_POSSESSIVE_MARK = " zzpossessivezz "
_PLURAL = "+pl"  # marks an inflected plural, so "a candle" and "candles" stay apart
_SYNSET = re.compile(r"^.+\.n\.\d\d$")  # a WordNet synset's name ("sofa.n.01"), the token of a shared first sense
_FOR = "for"
# Rules a reason may name (see _acceptance): how a word was matched to the other prompt's.
SPELLING, LEMMA, SYNONYM, WORDNET, COMPOUND, DERIVED = ("spelling", "inflection", "synonym list", "WordNet synonym",
                                                        "compound", "derived adjective")


@dataclass(frozen=True)
class PromptTokens:
    """A prompt as the guard sees it: its canonical key (a sorted multiset of phrases), and its content words."""

    key: tuple
    words: tuple[str, ...]  # canonical content words and prepositions in prompt order (for reasons, near misses)
    surface: tuple[str, ...]  # the normalised words that are not stop words (for reasons)
    shown: dict  # canonical token -> a word the prompt used for it
    how: dict  # canonical token -> (words the prompt used, the rule that made them this token)
    rewrites: frozenset = frozenset()  # relations said another way ("X with Y" -> "Y on X"), for reasons

    @property
    def bag(self) -> tuple[str, ...]:
        return tuple(sorted(self.words))


def tokenise(prompt: str, lexicon: Lexicon | None = None) -> PromptTokens:
    """Clauses -> canonical tokens (numbers with units, lemmas, synonyms) -> phrases -> relations -> the key."""
    lexicon = lexicon or load_lexicon()
    clauses, shown, how, surface = [], {}, {}, []
    for clause in _clauses(prompt):
        words, canonical, clause_how = _clause(clause, lexicon)
        surface += words
        clauses.append(canonical)
        for token, text, rule in clause_how:
            shown.setdefault(token, text)
            how.setdefault(token, (text, rule))
    rewrites: set[str] = set()
    phrases = _phrases(_join_lone_words(clauses, lexicon), lexicon, rewrites)
    if any(token in lexicon.collectives for _, words, head in phrases for token in (*words, head)):
        phrases = [(prep, tuple(w for w in words if w != _PLURAL), head) for prep, words, head in phrases]
    key = tuple(sorted((prep, tuple(sorted(words)), head) for prep, words, head in phrases))
    content = tuple(t for clause in clauses for kind, t in clause if kind in ("word", "prep", "covered"))
    return PromptTokens(key, content, tuple(surface), shown, how, frozenset(rewrites))


CLAUSE_CACHE_SIZE = 20_000  # templated catalogs repeat most clauses ("on a white background"): each is read once


def _clause(text: str, lexicon: Lexicon) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(surface words that are not stop words, canonical (kind, token) pairs, (token, words, rule) for reasons)."""
    cached = lexicon.clause_cache.get(text)
    if cached is None:
        if len(lexicon.clause_cache) >= CLAUSE_CACHE_SIZE:
            lexicon.clause_cache.clear()
        words = _raw_tokens(text)
        how: dict = {}
        canonical = _canonical(_quantities(words, lexicon), lexicon, how)
        surface = [w for w in words if w not in lexicon.stop_words and w != _POSSESSIVE_MARK.strip()]
        cached = lexicon.clause_cache[text] = (surface, canonical, [(t, w, r) for t, (w, r) in how.items()])
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
        out += ["quote:" + quote.text] if quote else normalise_plain(_POSSESSIVE.sub(_POSSESSIVE_MARK, piece)).split()
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


def _lemmas(words: list[str], lexicon: Lexicon) -> list[tuple[str, bool, str]]:
    """(lemma, inflected plural, rule) per word: British spellings become American, then the lemma."""
    out = []
    for word in words:
        if word.startswith(("quote:", "qty:")) or word == _POSSESSIVE_MARK.strip():
            out.append((word, False, ""))
            continue
        american = spelled(word)
        base, plural = lemma(american, lexicon.irregular, lexicon.not_inflected)
        out.append((base, plural, SPELLING if american != word else LEMMA if base != word else ""))
    return out


def _canonical(words: list[str], lexicon: Lexicon, how: dict) -> list[tuple[str, str]]:
    """(kind, token) pairs: kind is word, prep, link ("of", "showing"), and, plural, poss (a possessive) or covered
    (what a derived adjective says a thing is covered in); stop words are gone."""
    words, lemmas = _split_unknown_compounds(words, _lemmas(words, lexicon), lexicon)
    out, i = [], 0
    while i < len(words):
        token, length, rule = _match(lemmas, i, lexicon)
        plural = length == 1 and lemmas[i][1]
        text = " ".join(words[i:i + length])
        i += length
        if token == _POSSESSIVE_MARK.strip():
            out.append(("poss", token))
            continue
        if token == "shape" and out and out[-1][0] == "word" and i < len(words):
            continue  # "heart-shaped pendant" is a "heart pendant"
        if token in lexicon.placement_verbs and i < len(words) and _match(lemmas, i, lexicon)[0] in lexicon.prepositions:
            continue  # "candles arranged on a tray" are "candles on a tray"
        if token == "up" and words[i - 2:i - 1] and lemmas[i - 2][0] != words[i - 2] and out:
            continue  # the particle of "piled up", "rolled up": the verb says it
        how.setdefault(token, (text, rule))
        if token == "and":
            out.append(("and", token))
        elif token in lexicon.framing_links:
            out.append(("link", token))
        elif token in lexicon.prepositions:
            out.append(("prep", token))
        elif token in lexicon.covered or length == 1 and _having(token, lexicon):
            kind, noun = ("covered", lexicon.covered[token]) if token in lexicon.covered else _having(token, lexicon)
            noun = _folded(lexicon.phrases.get((noun,), noun), 1, DERIVED, lexicon)[0]  # the noun's own token
            how.setdefault(noun, (text, DERIVED))
            out.append((kind, noun))
        elif token != "s" and token not in lexicon.stop_words:  # "s": a possessive the pattern did not see
            out.append(("word", token))
            if plural:
                out.append(("plural", _PLURAL))
    return out


@lru_cache(maxsize=50_000)
def _having_word(token: str) -> tuple[str, str] | None:
    """"sleeveless" -> ("without", "sleeve"), "hooded" -> ("with", "hood"): an adjective made of a noun and -less
    or -ed (LemmInflect knows the noun, and knows the -ed word only as an adjective, not a verb's form)."""
    if token.endswith("less") and len(token) > 6 and "NOUN" in part_of_speech(token[:-4]):
        return "without", token[:-4]
    if token.endswith("ed") and len(token) > 5 and part_of_speech(token) == {"ADJ"}:
        for stem in (token[:-2], token[:-1], token[:-3]):
            if "NOUN" in part_of_speech(stem) and "ADJ" not in part_of_speech(stem):
                return "with", stem
    return None


def _having(token: str, lexicon: Lexicon) -> tuple[str, str] | None:
    if token in lexicon.categories or token in lexicon.not_inflected or not token.isalpha():
        return None  # "stainless", "striped" are attributes of their own
    return _having_word(token)


def _split_unknown_compounds(words: list[str], lemmas: list, lexicon: Lexicon) -> tuple[list[str], list]:
    """A closed compound no dictionary knows ("tealight", "earbuds") is read as its two known words ("tea light"),
    so it meets the open spelling; known ones ("handbag") are joined from the open spelling instead (_match)."""
    if all(not base.isalpha() or base in lexicon.words or known(base) for base, _, _ in lemmas):
        return words, lemmas
    out_words, out_lemmas = [], []
    for word, (base, plural, rule) in zip(words, lemmas):
        parts = _two_words(base) if base.isalpha() and not known(base) and base not in lexicon.words else None
        if parts:
            out_words += [parts[0], parts[1] + ("s" if plural else "")]
            out_lemmas += [(parts[0], False, COMPOUND), (parts[1], plural, COMPOUND)]
        else:
            out_words.append(word)
            out_lemmas.append((base, plural, rule))
    return out_words, out_lemmas


@lru_cache(maxsize=50_000)
def _two_words(word: str) -> tuple[str, str] | None:
    for cut in range(3, len(word) - 2):
        if known(word[:cut]) and known(word[cut:]):
            return word[:cut], word[cut:]
    return None


def _match(lemmas: list[tuple[str, bool, str]], i: int, lexicon: Lexicon) -> tuple[str, int, str]:
    """(canonical token, words it spans, rule) at position i: a listed phrase (synonyms, short forms, prepositions),
    a WordNet phrase, a compound written apart, else one word; then WordNet's shared first sense, if any."""
    word, _, rule = lemmas[i]
    if word in lexicon.phrase_starts:
        for length in range(min(lexicon.longest_phrase, len(lemmas) - i), 1, -1):
            phrase = tuple(lemma for lemma, _, _ in lemmas[i:i + length])
            if phrase in lexicon.phrases:
                return _folded(lexicon.phrases[phrase], length, SYNONYM, lexicon)
            if phrase in lexicon.wordnet:
                return lexicon.wordnet[phrase], length, WORDNET
    if i + 1 < len(lemmas):
        joined = lexicon.compounds.get((word, lemmas[i + 1][0])) or _joined(word, lemmas[i + 1][0], lexicon)
        if joined:
            return _folded(joined, 2, COMPOUND, lexicon)
    listed = lexicon.phrases.get((word,), word)
    return _folded(listed, 1, SYNONYM if listed != word else rule, lexicon)


def _joined(first: str, second: str, lexicon: Lexicon) -> str | None:
    """"ear bud" is "earbud" where the lists name "earbud" (WordNet's closed compounds are in lexicon.compounds)."""
    word = first + second
    if len(first) > 2 and len(second) > 2 and first.isalpha() and second.isalpha() and word in lexicon.words \
            and not {first, second} & (lexicon.stop_words | lexicon.prepositions) \
            and lexicon.categories.get(first) not in DESCRIBING:
        return word
    return None


def _folded(token: str, length: int, rule: str, lexicon: Lexicon) -> tuple[str, int, str]:
    """The token's WordNet synset where other words share its first sense (never a preposition or stop word)."""
    if token in lexicon.prepositions or token in lexicon.stop_words or token in lexicon.framing_links:
        return token, length, rule
    synset = lexicon.wordnet.get(tuple(token.split("_")))
    if not synset:
        return token, length, rule
    return synset, length, f"{rule}, {WORDNET}" if rule in (COMPOUND, DERIVED, SYNONYM) else WORDNET


def _join_lone_words(clauses: list[list], lexicon: Lexicon) -> list[list]:
    """"A simple, elegant ring": a first clause of one bare word describes the next clause's first phrase."""
    first = clauses[0] if clauses else []
    if len(clauses) > 1 and len(first) == 1 and first[0][0] == "word" and "_" not in first[0][1] \
            and clauses[1] and clauses[1][0][0] == "word" and first[0][1] not in lexicon.framing_heads \
            and _framing_end(clauses[1], lexicon) is None and not _describing(clauses[1], lexicon):
        return [first + clauses[1]] + clauses[2:]
    return clauses


def _phrases(clauses: list[list], lexicon: Lexicon, rewrites: set) -> list[tuple[str, tuple, str]]:
    """(preposition, modifier words, last word) per phrase; a leading "close-up shot of" is a phrase of its own; a
    later clause of describing words alone ("..., black") describes the prompt's first thing."""
    phrases: list[tuple[str, tuple, str]] = []
    subject = None  # where the first clause's first thing ended up (a relation may have turned it around)
    for clause in clauses:
        clause = _detach_framing(clause, lexicon, phrases)
        if len(clause) == 1 and clause[0][1] in lexicon.collectives and phrases and not phrases[-1][0]:
            prep, words, head = phrases[-1]  # "leather boots, a pair" is "a pair of leather boots"
            phrases[-1] = (prep, words + (head,), clause[0][1])
            continue
        described = _leading_description(clause, lexicon) if subject is not None else 0
        if described:
            prep, words, head = phrases[subject]  # "Wireless headphones, black", "a print, navy and gold, in a frame"
            phrases[subject] = (prep, words + tuple(t for k, t in clause[:described] if k == "word"), head)
            rewrites.add("a describing word after a comma")
            clause = clause[described:]
            if not clause:
                continue
        start = len(phrases)
        prep, words = "", []
        for kind, token in clause + [("prep", "")]:
            if kind == "prep":
                _add_phrase(phrases, prep, words, lexicon)
                prep, words = token, []
            elif kind == "poss":
                rewrites.add("a possessive as a modifier")  # "a child's raincoat": a child raincoat
            else:
                words.append((kind, token))
        phrases[start:], turned = _relations(phrases[start:], lexicon, rewrites)
        if subject is None and len(phrases) > start:
            subject = start + turned
    return phrases


def _leading_description(clause: list, lexicon: Lexicon) -> int:
    """How many of a later clause's first tokens only describe (all of them, or all before its first preposition)."""
    kinds = [k for k, _ in clause]
    end = kinds.index("prep") if "prep" in kinds else len(clause)
    return end if end and _describing(clause[:end], lexicon) else 0


def _describing(clause: list, lexicon: Lexicon) -> bool:
    """A clause that only describes: attribute words or adjectives ("matte black", "navy and gold", "wireless,
    adjustable"); before a colour or material, any word ("mustard yellow", "brushed steel")."""
    words = [t for k, t in clause if k == "word"]
    if not words or not all(k in ("word", "and") for k, _ in clause):
        return False
    if lexicon.categories.get(words[-1]) in DESCRIBING:
        return True
    return all(_describes(w, lexicon) or _adjective(w) for w in words)


def _adjective(token: str) -> bool:
    parts = part_of_speech(token)
    return "ADJ" in parts or not parts and token.endswith(("able", "ible", "less", "proof"))


def _describes(token: str, lexicon: Lexicon) -> bool:
    return lexicon.categories.get(token) in DESCRIBING or token in lexicon.attribute_nouns


def _relations(phrases: list, lexicon: Lexicon, rewrites: set) -> tuple[list, int]:
    """One clause's phrases with relations in one direction, whatever the wording: "a board with sliced tomatoes"
    is "sliced tomatoes on a board" ("in" for a container: "a bowl with fruit" is "fruit in a bowl"); "a dress in
    red" and "a vase made of glass" are a "red dress" and a "glass vase"; "with a brass finish" describes.
    Also returns where the clause's first thing now is (1 once "X with Y" became "Y on X")."""
    out: list = []
    turned = 0  # things turned around so far; the container or surface they are in or on comes after them
    for prep, words, head in phrases:
        if prep in (_FOR, "without"):  # "for a child" or "for children", "without a lid" or "without lids": alike
            words = tuple(w for w in words if w != _PLURAL)
        if prep == _FOR and out:
            last_prep, last_words, last_head = out[-1]  # "a raincoat for a child" is a "child raincoat"
            out[-1] = (last_prep, last_words + words + (head,), last_head)
            rewrites.add("'for ...' as a modifier")
        elif out and prep in ("in", lexicon.made_of) and _describes(head, lexicon) or \
                out and prep == "with" and head in lexicon.attribute_nouns and any(_describes(w, lexicon) for w in words):
            last_prep, last_words, last_head = out[-1]
            out[-1] = (last_prep, last_words + tuple(w for w in (*words, head) if w != _PLURAL), last_head)
            rewrites.add(f"'{'made of' if prep == lexicon.made_of else prep} ...' as a describing word")
        elif prep == "with" and head in lexicon.furniture:
            out.append((prep, words, head))  # "a table with chairs" stand around it, not on it
        elif prep == "with" and turned and len(out) == turned + 1:
            out.insert(turned, ("", words, head))  # "a board with tomatoes and basil": the basil is on it too
            turned += 1
        elif prep == "with" and len(out) == 1 and out[0][0] == "":
            subject = out[0]
            out[0] = ("", words, head)
            out.append(("in" if subject[2] in lexicon.containers else "on", subject[1], subject[2]))
            rewrites.add("'X with Y' as 'Y on X'")
            turned = 1
        else:
            out.append((prep, words, head))
    return out, turned or _turn_around(out, lexicon, rewrites)


def _turn_around(out: list, lexicon: Lexicon, rewrites: set) -> int:
    """The clause's first "under"/"below"/"behind" phrase, or else its first "beside"/"near" one, relates to the
    clause's first thing: "a rug under a table" is "a table on a rug"; "a lamp beside a chair" is "a chair beside a
    lamp" (the pair in one fixed order). Returns where the first thing now is (0: where it was)."""
    if not out or out[0][0] != "":
        return 0
    at = next((n for n, p in enumerate(out) if p[0] in lexicon.inverse), None)
    if at is not None:
        prep, words, head = out[at]
        rewrites.add(f"'{prep.replace('_', ' ')}' turned around")
    else:
        at = next((n for n, p in enumerate(out) if p[0] in lexicon.symmetric), None)
        if at is None or (out[at][2], out[at][1]) >= (out[0][2], out[0][1]):
            return 0
        prep, words, head = out[at]
        rewrites.add(f"'{prep}' both ways")
    subject = out[0]
    out[0] = ("", words, head)
    out[at] = (lexicon.inverse.get(prep, prep), subject[1], subject[2])
    return at


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
    """Coordinated noun phrases ("a mug and a spoon") become phrases of their own; coordinated adjectives do not.
    What a derived adjective says a thing is covered in or has ("muddy", "hooded", "sleeveless") is a phrase too."""
    derived = [({"covered": lexicon.covered_in}.get(k, k), (), t) for k, t in words if k in ("covered", "with", "without")]
    words = [(k, t) for k, t in words if k not in ("covered", "with", "without")]
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
        if tokens.count(_PLURAL) > 1:  # one thing is plural or not, however many of its words say so
            tokens = [_PLURAL] + [t for t in tokens if t != _PLURAL]
        phrases.append((prep, tuple(tokens[:-1]), tokens[-1]))
    phrases += derived  # after the thing they describe: "a hooded jacket" is "a jacket with a hood"


def _collective_last(part: list, lexicon: Lexicon) -> list[str]:
    """"a set of knives" -> "knife set": a collective followed by "of" moves after what it collects; so does any
    other thing but a container ("the handle of a pan" -> "pan handle"; "a cup of tea" keeps its tea)."""
    links = [n for n, (kind, _) in enumerate(part) if kind == "link"]
    before = [token for kind, token in part[:links[0]] if kind == "word"] if links else []
    if before:
        head = before[-1]
        if head not in lexicon.collectives and head not in lexicon.containers and head not in lexicon.framing_heads:
            part = part[links[0] + 1:] + part[:links[0]]  # "the handle of a copper pan" -> "copper pan handle"
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
    """Which rule matched each word one prompt has and the other has not, and which relation was turned."""
    if a.surface == b.surface:
        return "differs only in stop words or formatting"
    notes = []
    for token in sorted(set(a.how) | set(b.how)):
        said_a, rule_a = a.how.get(token, ("", ""))
        said_b, rule_b = b.how.get(token, ("", ""))
        if said_a and said_b and said_a != said_b:
            notes.append(f"{said_a} = {said_b} ({_rule(token, rule_a, rule_b)})")
    notes += sorted(a.rewrites ^ b.rewrites)
    if notes:
        return "same picture: " + "; ".join(notes)
    if sorted(a.surface) == sorted(b.surface):
        return "same words in another order"
    only_a = sorted(set(a.surface) - set(b.surface))
    only_b = sorted(set(b.surface) - set(a.surface))
    return f"same picture: {' '.join(only_a) or '-'} ~ {' '.join(only_b) or '-'} (framing, placement or stop words, " \
           "or a compound written apart)"


def _rule(token: str, rule_a: str, rule_b: str) -> str:
    rules = sorted({part for rule in (rule_a, rule_b) for part in rule.split(", ")} - {""}) or [LEMMA]
    named = ", ".join(rules)
    return f"{named}: {token}" if any(WORDNET in rule for rule in rules) else named


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
    if any(ch.isdigit() for ch in word) and not _SYNSET.match(word):
        return "numbers"
    return lexicon.categories.get(word)


def _show(word: str) -> str:
    if word.startswith("qty:"):
        return _QTY_SHOWN.sub(r"\1 \2", word[4:])
    return f'"{word[6:]}"' if word.startswith("quote:") else word
