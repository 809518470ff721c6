"""A prompt as the guard reads it: clauses of canonical words (numbers with units, spellings, lemmas, synonyms,
compounds), chunked into phrases: a thing (modifiers, head) and the relation that brings it in ("" for a thing the
prompt shows, "on", "with", "hang from", "wear by", "framing"). Order-free: the scene is a multiset of phrases."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from fluxcat.dedupe.lexicon import (DESCRIBING, Lexicon, full_of, having_word, known, lemma, lemma_of_verb,
                                    part_of_speech, spelled)
from fluxcat.dedupe.normalise import normalise_plain
from fluxcat.quoted import find_quotes, split_quoted

# Clause breaks: , ; : newlines, a dash between spaces, sentence full stops (not decimal points, not 1,000).
_CLAUSE_BREAK = re.compile(r"(?<!\d),|,(?!\d)|[;:\n]|\s[-–—]+\s|(?<!\d)\.|\.(?!\d)")
# A contraction before its period ("St.", "Dr.", "Mt."): two or three consonants, no number before them ("2 cm.")
_CONTRACTION = re.compile(r"(?<![\w.])(?<!\d\s)[b-df-hj-np-tv-xz]{2,3}$", re.IGNORECASE)
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)*$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")
# "a child's raincoat", "the kids' mugs": the owner is what the thing is for. Marked before normalising drops the
# apostrophe; quotes are cut out first, so a quoted 'DON'T' is never read as one.
_POSSESSIVE = re.compile(r"(?<=[^\W\d_])['’]s\b|(?<=[^\W\d_]s)['’](?=\s|$)")
POSSESSIVE = "zzpossessivezz"
# "lemon-scented", "paint-splattered": a hyphen joins a noun to a derived -ed adjective (a lemon scent, paint
# splatters). Marked before normalising drops the hyphen; the key ignores it ("hand-painted" = "hand painted").
_HYPHEN_ED = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_]+ed\b)")
JOINED = "zzjoinedzz"
# "pour-over", "over-ear", "built-in", "clip-on": a preposition hyphen-joined to a word may make one modifier rather
# than a relation ("a pour-over dripper sitting on a carafe" relates the dripper and the carafe only): a second
# reading of the prompt (Scene.joined), since "carry on luggage" is written apart too. Not "up", "down", "back"
# ("close-up", "top-down", "pull-up": views and words the lists name).
_JOINING = ("over", "in", "on", "off", "out", "under", "through")
_HYPHEN_PREPOSITION = re.compile(r"(?<=[^\W\d_])-(?=(?:%s)\b)|(?:%s)-(?=[^\W\d_])" % (
    "|".join(_JOINING), "|".join(r"(?<=\b%s)" % p for p in _JOINING)), re.IGNORECASE)
PREPOSITION_JOINED = "zzprepjoinedzz"
# "hand-held", "hand-made": two words of three letters or more hyphen-joined into one the dictionary knows are that
# word ("handheld"; LemmInflect's or the lists' and WordNet's words), read before the hyphen is dropped, so no part of
# it is read as an attribute ("hand": a side) or a relation ("held"). Others stay two ("hand-painted", "e-collar").
_HYPHENED_WORD = re.compile(r"(?<![\w-])([^\W\d_]{3,})-([^\W\d_]{3,})(?![\w-])")
# "70%", "70 per cent": a number and a percent sign, as "70 percent" says it
_PERCENT = re.compile(r"(?<=\d)(?:%|\s+per\s+cent\b)", re.IGNORECASE)
PRONOUNS = frozenset({"it", "them"})  # "a pergola with lights draped over it": the thing the clause began with
# Kept as boundaries only: "two kids building a fort" (a verb and its object) vs "mens running shoes" (a modifier).
DETERMINERS = frozenset({"a", "an", "the", "this", "these", "those", "its", "their", "his", "her", "some"})
IRREGULAR_PARTICIPLES = frozenset({"worn", "hung", "held", "laid", "lit", "stuck", "made", "spread", "shot",
                                   "ridden", "tied", "dried", "sewn", "sewed", "shown", "sown", "woven", "knit",
                                   "bound", "wound", "cut", "split", "torn", "frozen", "broken", "spun", "strung"})
# Rules a reason may name: how a word became its token.
SPELLING, LEMMA, SYNONYM, WORDNET, COMPOUND, DERIVED, PERTAINYM, ADJECTIVE, ONE_VALUE = (
    "spelling", "inflection", "synonym list", "WordNet synonym", "compound", "derived adjective", "WordNet pertainym",
    "WordNet adjective synonym", "one attribute value in WordNet (a first noun sense, or one word's spellings)")
FRAMING = "framing"
COLOUR_NOUNS = frozenset({"color", "colour", "tone", "shade", "hue"})


@dataclass(frozen=True)
class Word:
    """A canonical token, with the words the prompt used for it and the rule that made them this token."""

    value: str
    text: str = ""
    rule: str = ""
    plural: bool = False
    kind: str = "word"  # word | prep | vrel (a relation verb: "holding") | link (of, showing) | and | poss | it
    noun: bool = True  # may be a noun (LemmInflect), so may end a thing's name
    adjective: bool = False  # may be an adjective: "soft and warm" are one thing's words, "a mug and a spoon" two
    verb: str = ""  # the verb, if the word is a participle ("hanging" -> "hang"), for relations ("hanging on")
    base: str = ""  # its dictionary form before WordNet folded it ("glasses" for spectacles.n.01)
    hyphened: bool = False  # a hyphen joins it to the word before ("scented" of "lemon-scented")


@dataclass(frozen=True)
class Phrase:
    """One thing and how it relates: role "" (shown), a preposition or verb relation, or "framing"."""

    role: str
    words: tuple[Word, ...]  # modifiers, then the head
    plural: bool = False
    clause: int = 0  # which clause it came from (relations are turned within a clause only)
    derived: str = ""  # made from a derived adjective: "covered" (muddy), "with" (hooded), "without" (sleeveless)
    joined: tuple = ()  # of a derived phrase: the word a hyphen joined to it ("lemon" of "lemon-scented")

    @property
    def head(self) -> str:
        return self.words[-1].value if self.words else ""

    @property
    def modifiers(self) -> tuple[str, ...]:
        return tuple(w.value for w in self.words[:-1])

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(w.value for w in self.words)

    def key(self) -> tuple:
        return (self.role, tuple(sorted(self.modifiers)), self.head, self.plural)


def clauses(prompt: str) -> list[str]:
    """The prompt cut at clause breaks that are not inside quoted text."""
    out, start = [], 0
    quoted = [(q.start, q.end) for q in find_quotes(prompt)]
    for match in _CLAUSE_BREAK.finditer(prompt):
        if any(a <= match.start() < b for a, b in quoted) or \
                match.group() == "." and _CONTRACTION.search(prompt, start, match.start()):
            continue  # "St. Christopher medal": a contraction's period ends no clause
        out.append(prompt[start:match.start()])
        start = match.end()
    out.append(prompt[start:])
    return [c for c in out if c.strip()]


CLAUSE_CACHE_SIZE = 20_000  # templated catalogs repeat most clauses ("on a white background"): each is read once


def clause_words(text: str, lexicon: Lexicon, joined: bool = False) -> tuple[Word, ...]:
    """The clause's canonical words (stop words gone), read once per distinct clause text (and reading)."""
    key = "\0" + text if joined else text
    cached = lexicon.clause_cache.get(key)
    if cached is None:
        if len(lexicon.clause_cache) >= CLAUSE_CACHE_SIZE:
            lexicon.clause_cache.clear()
        cached = lexicon.clause_cache[key] = tuple(_canonical(_quantities(_raw_tokens(text, lexicon, joined), lexicon),
                                                                lexicon))
    return cached


def _raw_tokens(clause: str, lexicon: Lexicon, joined: bool = False) -> list[str]:
    out: list[str] = []
    for piece, quote in split_quoted(clause):
        # what the image spells out: verbatim, case kept
        closed = _PERCENT.sub(" percent", _HYPHENED_WORD.sub(lambda m: _closed_compound(m, lexicon), piece)) \
            if not quote else ""
        marked = _HYPHEN_ED.sub(f" {JOINED} ", _POSSESSIVE.sub(f" {POSSESSIVE} ", closed)) if not quote else ""
        if joined:
            marked = _HYPHEN_PREPOSITION.sub(f" {PREPOSITION_JOINED} ", marked)
        out += ["quote:" + quote.text] if quote else _preposition_joined(normalise_plain(marked).split())
    return out


def _closed_compound(match: re.Match, lexicon: Lexicon) -> str:
    first, joined = match.group(1).lower(), (match.group(1) + match.group(2)).lower()
    if first in lexicon.numbers or not (known(joined) or joined in lexicon.words):
        return match.group()  # "six-pack" is a count, as "6-pack" is
    return match.group(1) + match.group(2)


def _preposition_joined(words: list[str]) -> list[str]:
    """"pour zzprepjoinedzz over" -> "pour_over": one word."""
    out: list[str] = []
    for word in words:
        if out and out[-1] == PREPOSITION_JOINED:
            out.pop()
            out[-1:] = [f"{out[-1]}_{word}"] if out else [word]
        else:
            out.append(word)
    return out


def _quantities(words: list[str], lexicon: Lexicon) -> list[str]:
    """Number words become digits ("1,000" is 1000, "one hundred" 100, "twenty five" 25); a number and its unit
    become one token in a base unit (750 ml == 0.75 l)."""
    out: list[str] = []
    spoken = False  # the previous token was a number word ("one hundred", "twenty five" are one number)
    for word in words:
        said, word = word, lexicon.numbers.get(word, word)
        if said != word and spoken and out and out[-1].isdigit():
            before, this = int(out[-1]), int(word)
            if this in (100, 1000) and before < this or before >= 20 and before % 10 == 0 and this < 10:
                out[-1] = str(before * this if this in (100, 1000) else before + this)
                continue
        spoken = said != word
        if _THOUSANDS.match(word):
            word = word.replace(",", "")
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
        if word.startswith(("quote:", "qty:")) or word in (POSSESSIVE, JOINED):
            out.append((word, False, ""))
            continue
        american = spelled(word)
        base, plural = lemma(american, lexicon.irregular, lexicon.not_inflected)
        out.append((base, plural, SPELLING if american != word else LEMMA if base != word else ""))
    return out


def _canonical(words: list[str], lexicon: Lexicon) -> list[Word]:
    """Canonical words: listed phrases and WordNet's (one token), compounds, synonyms; stop words dropped."""
    words, lemmas = _split_unknown_compounds(words, _lemmas(words, lexicon), lexicon)
    out: list[Word] = []
    i = 0
    hyphen = None  # (words made, position) after a hyphen before an -ed word: the next word made is that word
    while i < len(words):
        hyphen = _mark_hyphened(out, hyphen, i)
        if lemmas[i][0] == JOINED:
            i += 1
            hyphen = (len(out), i)
            continue
        token, length, rule, base = _match(lemmas, i, lexicon)
        plural = lemmas[i + length - 1][1] and base not in lexicon.not_inflected  # "sunnies" are "sunglasses"
        text = " ".join(words[i:i + length])
        i += length
        if token == POSSESSIVE:
            out.append(Word(token, "'s", kind="poss"))
        elif token in PRONOUNS:
            out.append(Word("it", text, kind="it"))
        elif token == "shape" and out and out[-1].kind == "word" and i < len(words) and \
                not _ends_thing(lemmas, i, lexicon):
            continue  # "heart-shaped pendant" is a "heart pendant" ("with a cone shape and ..." keeps its head)
        elif token == "and" or token == "or":
            out.append(Word("and", text, kind="and"))
        elif token in lexicon.framing_links:
            out.append(Word(token, text, kind="link"))
        elif token in lexicon.relations:
            out.append(Word(lexicon.relations[token], text, rule, kind="prep"))
        elif token in lexicon.verb_relations:
            out.append(Word(lexicon.verb_relations[token], text, rule, kind="vrel"))
        elif token in DETERMINERS:
            out.append(Word(token, text, kind="det"))
        elif token == "up" and out and out[-1].verb:
            continue  # the particle of "piled up", "rolled up": the verb says it
        elif token in lexicon.stop_words or token == "s":  # "s": a possessive the pattern did not see
            continue
        else:
            out.append(_word(token, text, rule, plural, base, lexicon))
    _mark_hyphened(out, hyphen, len(words) + 1)
    return out


def _ends_thing(lemmas: list, at: int, lexicon: Lexicon) -> bool:
    """Whether the word before `at` ends a thing: a relation or "and" comes next."""
    after = lemmas[at][0]
    return after in ("and", "or") or after in lexicon.relations or lexicon.phrases.get((after,)) in lexicon.relations


def _mark_hyphened(out: list[Word], hyphen: tuple | None, at: int) -> tuple | None:
    """Once the word after a hyphen has been read, mark it (a word dropped there, "heart-shaped", marks none)."""
    if hyphen is None or at == hyphen[1]:
        return hyphen
    if len(out) > hyphen[0] and out[hyphen[0]].kind == "word":
        out[hyphen[0]] = replace(out[hyphen[0]], hyphened=True)
    return None


def _word(token: str, text: str, rule: str, plural: bool, base: str, lexicon: Lexicon) -> Word:
    if token.startswith(("quote:", "qty:")) or _NUMBER.match(token):
        return Word(token, text, rule, plural, base=base)
    surface = text.split()[-1] if text else token
    parts = part_of_speech(surface) if "_" not in token and " " not in text else frozenset({"NOUN"})
    verb = "" if surface in lexicon.ing_nouns or surface in lexicon.not_inflected else _participle(surface, parts)
    noun = not parts or "NOUN" in parts or "." in token
    return Word(token, text, rule, plural, noun=noun and not (verb and "NOUN" not in parts), adjective="ADJ" in parts,
                verb=verb, base=base)


def _participle(surface: str, parts: frozenset) -> str:
    """The verb of a participle ("hanging" -> "hang", "worn" -> "wear"), else "", in American spelling as every word
    is ("organised by" is "organized by")."""
    if "VERB" not in parts:
        return ""
    if surface.endswith(("ing", "ed")) or surface in IRREGULAR_PARTICIPLES:
        from lemminflect import getAllLemmas

        verb = getAllLemmas(surface).get("VERB", ("",))[0]
        return spelled(verb) if verb and verb != surface or surface in IRREGULAR_PARTICIPLES else ""
    return ""


def _split_unknown_compounds(words: list[str], lemmas: list, lexicon: Lexicon) -> tuple[list[str], list]:
    """A closed compound no dictionary knows ("tealight", "earbuds") is read as its two known words ("tea light"),
    so it meets the open spelling; known ones ("handbag") are joined from the open spelling instead (_match)."""
    if all(not base.isalpha() or base in lexicon.words or known(base) for base, _, _ in lemmas):
        return words, lemmas
    out_words, out_lemmas = [], []
    for word, (base, plural, rule) in zip(words, lemmas):
        parts = _two_words(base) if base.isalpha() and not known(base) and base not in lexicon.words and \
            not _ed_of_noun(base) else None
        if parts:
            out_words += [parts[0], parts[1] + ("s" if plural else "")]
            second = _lemmas([parts[1]], lexicon)[0][0]  # "handbuilt": "built" is read as in "hand-built"
            out_lemmas += [(parts[0], False, COMPOUND), (second, plural, COMPOUND)]
        else:
            out_words.append(word)
            out_lemmas.append((base, plural, rule))
    return out_words, out_lemmas


def _ed_of_noun(word: str) -> bool:
    """"ribboned", "tinselled": -ed on a word the dictionary knows (its consonant doubled or not), a derived adjective
    rather than two words ("rib boned", "tinsel led")."""
    return word.endswith("ed") and (known(word[:-2]) or known(word[:-1]) or
                                    len(word) > 5 and word[-3] == word[-4] and known(word[:-3]))


@lru_cache(maxsize=50_000)
def _two_words(word: str) -> tuple[str, str] | None:
    for cut in range(3, len(word) - 2):
        if known(word[:cut]) and known(word[cut:]):
            return word[:cut], word[cut:]
    return None


def _match(lemmas: list[tuple[str, bool, str]], i: int, lexicon: Lexicon) -> tuple[str, int, str, str]:
    """(canonical token, words it spans, rule, dictionary form) at position i: a listed phrase (synonyms, short forms,
    relations), a WordNet phrase, a compound written apart, else one word; then WordNet's shared first sense."""
    word, _, rule = lemmas[i]
    if word in lexicon.phrase_starts:
        for length in range(min(lexicon.longest_phrase, len(lemmas) - i), 1, -1):
            phrase = tuple(lemma for lemma, _, _ in lemmas[i:i + length])
            if phrase in lexicon.phrases:
                return _folded(lexicon.phrases[phrase], length, SYNONYM, lexicon)
            if phrase in lexicon.wordnet:
                return lexicon.wordnet[phrase], length, WORDNET, " ".join(phrase)
            if phrase in lexicon.nouns and not _describing_word(phrase[0], lexicon):
                return "_".join(phrase), length, COMPOUND, lexicon.nouns[phrase]
    # "hand holding"; "flying over" a field is no "flyover", "hanging over" a rail no "hangover": an inflected verb
    # before a relation word makes no compound
    if i + 1 < len(lemmas) and not (lemmas[i + 1][2] == LEMMA and not lemmas[i + 1][1]) and \
            not ((rule == LEMMA or word.endswith(("ing", "ed"))) and lemmas[i + 1][0] in lexicon.relations):
        joined = lexicon.compounds.get((word, lemmas[i + 1][0])) or _joined(word, lemmas[i + 1][0], lexicon)
        if joined:
            return _folded(joined, 2, COMPOUND, lexicon)
    listed = lexicon.phrases.get((word,), word)
    if listed == word and word in lexicon.values:
        return lexicon.values[word], 1, ONE_VALUE if word in lexicon.noun_values else ADJECTIVE, word  # "big": large
    if listed == word and word in lexicon.pertainyms:
        return _folded(lexicon.pertainyms[word], 1, PERTAINYM, lexicon)  # "floral" -> "flower"
    return _folded(listed, 1, SYNONYM if listed != word else rule, lexicon)


def _describing_word(word: str, lexicon: Lexicon) -> bool:
    return lexicon.categories.get(word) in DESCRIBING


def _joined(first: str, second: str, lexicon: Lexicon) -> str | None:
    """"ear bud" is "earbud" where the lists name "earbud" (WordNet's closed compounds are in lexicon.compounds)."""
    word = first + second
    if len(first) > 2 and len(second) > 2 and first.isalpha() and second.isalpha() and word in lexicon.words \
            and not {first, second} & (lexicon.stop_words | lexicon.prepositions) \
            and lexicon.categories.get(first) not in DESCRIBING:
        return word
    return None


def _folded(token: str, length: int, rule: str, lexicon: Lexicon) -> tuple[str, int, str, str]:
    """The token's WordNet synset where other words share its first sense (never a relation or stop word)."""
    base = token.replace("_", " ")
    if token in lexicon.prepositions or token in lexicon.stop_words or token in lexicon.framing_links:
        return token, length, rule, base
    synset = lexicon.wordnet.get(tuple(token.split("_")))
    if not synset:
        return token, length, rule, base
    rule = f"{rule}, {WORDNET}" if rule in (COMPOUND, DERIVED, SYNONYM, PERTAINYM) else WORDNET
    return synset, length, rule, base


# ---- phrases ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """A prompt's phrases (a multiset: order-free) and the rewrites that shaped them (for reasons)."""

    phrases: tuple[Phrase, ...]
    rewrites: frozenset = frozenset()
    joined: Scene | None = None  # the prompt read with its hyphen-joined prepositions as words ("pour-over")


def scene(prompt: str, lexicon: Lexicon, joined: bool = False) -> Scene:
    """Clauses -> canonical words -> phrases; describing clauses join the first thing; framing stands apart."""
    phrases: list[Phrase] = []
    rewrites: set[str] = set()
    subject: int | None = None  # the first thing shown
    pending: list[Word] = []  # "A simple, elegant ring": describing words before the first thing
    for number, text in enumerate(clauses(prompt)):
        full = _detach_framing(list(clause_words(text, lexicon, joined)), lexicon, phrases, number)
        words = [w for w in full if w.kind != "det"]
        if not words:
            continue
        if subject is not None and words[0].verb and len(words) > 1 and words[1].kind == "prep":
            full = full[full.index(words[0]):]  # "Baby carrier, mint green, worn by a father": the carrier is worn
            if words[1].text == "by":
                full = [Word(f"{words[0].verb} by", kind="prep")] + full[2:]
            else:
                phrases[subject] = _describe(phrases[subject], [words[0]], lexicon)
                full = full[1:]
            words = [w for w in full if w.kind != "det"]
        if subject is not None and (_describing(words, lexicon) or _detail(words, lexicon)):
            phrases[subject] = _describe(phrases[subject], words, lexicon)  # "Wireless headphones, black"
            rewrites.add("a describing word after a comma")
            continue
        if subject is not None and len(words) >= 2 and words[0].kind == "prep" and \
                words[0].value in ("in", lexicon.made_of) and _describing(words[1:], lexicon):
            phrases[subject] = _describe(phrases[subject], words[1:], lexicon)  # "..., in olive green"
            rewrites.add(f"'{words[0].value.replace('_', ' ')} ...' as a describing word")
            continue
        if subject is not None and _collective_clause(words, lexicon):
            phrases[subject] = _collect(phrases[subject], words, lexicon)  # "packing cubes, set of four"
            continue
        if subject is None and (len(words) == 1 and _describes(words[0], lexicon) or
                                all(w.kind == "and" or _describes(w, lexicon, strict=True) for w in words)):
            pending += [w for w in words if w.kind == "word"]
            continue
        found = _chunk(full, number, lexicon, rewrites)
        if pending and found and found[0].role == "":
            found[0] = _describe(found[0], pending, lexicon)
            pending = []
        if subject is None:
            subject = next((len(phrases) + n for n, p in enumerate(found) if p.role == ""), None)
        phrases += found
    if pending:
        phrases.append(Phrase("", tuple(pending)))
    phrases = _resolve_it(phrases, subject, rewrites)
    other = scene(prompt, lexicon, True) if not joined and "-" in prompt and _HYPHEN_PREPOSITION.search(prompt) \
        else None
    return Scene(tuple(d for phrase in phrases for d in _derived(phrase, lexicon)), frozenset(rewrites), other)


def _detail(words: list[Word], lexicon: Lexicon) -> bool:
    """A later clause of one word, or a number and a word, details the first thing: "Electric guitar, sunburst",
    "Digital piano, 88 keys" (an "88-key piano")."""
    values = [w for w in words if w.kind == "word"]
    if len(values) != len(words) or not values or values[-1].value in lexicon.framing_heads:
        return False
    if len(values) == 1:
        value = values[0].value
        return not values[0].plural and value not in lexicon.collectives and "_" not in value and \
            lexicon.categories.get(value, "colour") in DESCRIBING
    return len(values) == 2 and values[0].value.isdigit()


def _resolve_it(phrases: list[Phrase], subject: int | None, rewrites: set) -> list[Phrase]:
    """"Phone case, clear, with flowers inside [it]": what is with the first thing is in it."""
    for at, phrase in enumerate(phrases):
        if phrase.words and phrase.words[-1].kind == "it" and subject is not None and at > subject:
            start = at
            while start > subject + 1 and phrases[start - 1].role in ("with", "of") and \
                    phrases[start - 1].clause == phrase.clause:
                start -= 1  # "a stirrer with a beaker of liquid on top": the beaker (of liquid) is on it
            while start < at and phrases[start].role != "with":
                start += 1
            if start == at:
                return phrases
            first = phrases[subject]
            moved = [Phrase("" if p.role == "with" else p.role, p.words, p.plural, p.clause) for p in phrases[start:at]]
            rest = phrases[:subject] + phrases[subject + 1:start] + phrases[at + 1:]
            rewrites.add("'X with Y ... it' as 'Y ... X'")
            return moved + rest + [Phrase(phrase.role, first.words, first.plural, phrase.clause)]
    return phrases


def _detach_framing(full: list[Word], lexicon: Lexicon, phrases: list, clause: int) -> list[Word]:
    """A leading shot descriptor ("product photo of", "top view of", a clause "close-up shot") is a phrase of its
    own; a bare "photo of" adds nothing and is dropped."""
    words = [w for w in full if w.kind != "det"]
    kinds = [w.kind for w in words]
    end = kinds.index("link") if "link" in kinds else len(words)
    head = [w for w in words[:end] if w.kind == "word"]
    if not head or "prep" in kinds[:end] or "vrel" in kinds[:end] or head[-1].value not in lexicon.framing_heads:
        return full
    values = [w.value for w in head]
    if not set(values) <= lexicon.generic_framing:
        phrases.append(Phrase(FRAMING, tuple(sorted(head, key=lambda w: w.value)), clause=clause))
    cut = [n for n, w in enumerate(full) if w.kind != "det"][end] if end < len(words) else len(full)
    return full[cut + 1:]


def _describing(words: list[Word], lexicon: Lexicon) -> bool:
    """A clause that only describes: attribute words, adjectives, numbers and quantities ("matte black", "navy and
    gold", "88 keys"?: no, "5 metres": yes); before a colour or material, any word ("mustard yellow")."""
    values = [w for w in words if w.kind == "word"]
    if not values or any(w.kind not in ("word", "and") for w in words):
        return False
    if lexicon.categories.get(values[-1].value) in DESCRIBING:
        return True
    return all(_describes(w, lexicon) for w in values)


def _describes(word: Word, lexicon: Lexicon, strict: bool = False) -> bool:
    """A describing word: an attribute word, a quantity, an adjective ("in red" describes; strict: "in soft
    light" does not, since "light" is a noun too)."""
    value = word.value
    if value.startswith("qty:") or lexicon.categories.get(value) in DESCRIBING or value in lexicon.attribute_nouns:
        return True
    if word.kind == "state" or word.verb and not word.noun:
        return not strict  # "Christmas stocking, personalised"
    if " " in word.text or "_" in value:
        return False  # "studio lighting": a thing, whatever its last word may be
    parts = part_of_speech(word.text) if word.text else frozenset()
    if strict:
        return "ADJ" in parts and "NOUN" not in parts
    return "ADJ" in parts or not parts and value.endswith(("able", "ible", "less", "proof"))


def _describe(phrase: Phrase, words: list[Word], lexicon: Lexicon) -> Phrase:
    words = [w for w in words if w.kind == "word"]
    added = tuple(_as_modifier(w) for n, w in enumerate(words)
                  if not (n and w.value in lexicon.attribute_nouns and _describes(words[n - 1], lexicon)))
    # "cookies, pale green, lined up": a collective said after a comma counts as one said before the head does
    plural = phrase.plural and not any(w.value in lexicon.collectives for w in added)
    return Phrase(phrase.role, phrase.words[:-1] + added + phrase.words[-1:], plural, phrase.clause, phrase.derived)


def _as_modifier(word: Word) -> Word:
    """A word moved in front of a head is never plural: "88 keys" -> an "88-key" piano."""
    return Word(word.value, word.text, word.rule, False, word.kind, word.noun, word.adjective, word.verb,
                word.base) if word.plural else word


def _collective_clause(words: list[Word], lexicon: Lexicon) -> bool:
    return bool(words) and words[0].kind == "word" and words[0].value in lexicon.collectives and \
        all(w.kind in ("word", "link") for w in words) and all(
            w.value in lexicon.collectives or _NUMBER.match(w.value) for w in words if w.kind == "word")


def _collect(phrase: Phrase, words: list[Word], lexicon: Lexicon) -> Phrase:
    """"Leather boots, a pair" is "a pair of leather boots"."""
    added = tuple(w for w in words if w.kind == "word")
    numbers = tuple(w for w in added if w.value not in lexicon.collectives)
    named = tuple(w for w in added if w.value in lexicon.collectives)
    return Phrase(phrase.role, numbers + phrase.words + named, False, phrase.clause, phrase.derived)


def _chunk(words: list[Word], clause: int, lexicon: Lexicon, rewrites: set) -> list[Phrase]:
    """One clause's words as phrases: a thing is the words up to its head (the last word that may be a noun); a
    preposition, a relation verb ("holding") or a participle after a thing ("hanging on", "wearing") starts the
    next thing's relation; "and" joins things under one relation, "of" and a possessive make modifiers."""
    things: list[tuple[str, list[Word]]] = []  # (relation, words) in order
    links: list[int] = []  # indexes of things that an "of" joins to the thing before
    owners: list[int] = []  # indexes of things a possessive makes modifiers of the next thing
    coordinated: list[int] = []  # indexes of things an "and" began
    for_whole: list[tuple[int, int]] = []  # ("for" thing, first thing of the "and" it follows)
    role, current = "", []
    i = 0
    while i < len(words):
        word = words[i]
        after = words[i + 1] if i + 1 < len(words) else None
        if word.kind == "vrel" and _has_noun(current) and after is not None and (
                after.text == "by" or after.kind == "prep" and after.value in ("in", "on") and _participle_of(word)):
            _close(things, role, current, lexicon)  # "a bouquet held by a bride": the bride holds the bouquet; "a
            # bottle held in an insert": the insert holds the bottle
            at = _subject(things, links)
            things[at] = (word.value, things[at][1])
            current = []
            i += 1
        elif word.kind == "prep" or word.kind == "vrel" and _has_noun(current):
            _close(things, role, current, lexicon)
            if word.value == "for" and current and len(things) - 1 in coordinated:
                for_whole.append((len(things), _first_coordinated(things, coordinated)))
            role, current = word.value, []
        elif word.kind == "vrel":
            current.append(Word(word.text.replace(" ", "_"), word.text, kind="word"))
        elif word.kind == "det":
            pass
        elif word.kind == "word" and _has_noun(current) and after is not None and after.kind == "det" and \
                _filling(word, lexicon):  # "novels filling a shelf": a shelf filled with novels
            _close(things, role, current, lexicon)
            at = _subject(things, links)
            things[at] = (_filling(word, lexicon), things[at][1])
            current = []
        elif word.kind == "word" and word.verb and _has_noun(current) and after is not None and (
                after.kind in ("prep", "vrel", "it", "det") or after.kind == "word" and _starts_thing(after)):
            if after.kind == "prep" and after.text == "by":  # "worn by a father": the father wears it
                _close(things, role, current, lexicon)
                role, current = f"{word.verb} by", []
                i += 1
            elif after.kind in ("prep", "vrel"):  # "towels folded on a shelf" are "folded towels on a shelf"
                if word.verb not in lexicon.placement_verbs:  # "candles arranged on a tray": "candles on a tray"
                    state = Word(word.value, word.text, word.rule, kind="state", noun=False, verb=word.verb,
                                 base=word.base)
                    if role and things and things[0][0] == "" and not (
                            role == "with" and any(w.kind == "it" for w in words[i:])):
                        things[0][1].insert(0, state)  # "a dog covered in mud sitting by a towel": the dog sits
                    else:
                        current.append(state)
            else:  # "a woman wearing a hat": the hat's relation is "wear"
                _close(things, role, current, lexicon)
                role, current = word.verb, []
        elif word.kind == "and":
            if current and current[-1].noun and not current[-1].adjective and (
                    not _describing_word(current[-1].value, lexicon) or current[-1].plural):  # "stripes and a button"
                _close(things, role, current, lexicon)
                coordinated.append(len(things))
                if role == "for" and after is not None and after.kind == "det" and len(things) >= 2:
                    role = things[-2][0]  # "a pencil for carpenters and a ruler": the ruler is shown, not owner
                current = []
            # coordinated describing words ("soft and warm") stay in one thing
        elif word.kind == "link":
            if current or things:
                _close(things, role, current, lexicon)
                current = []
                links.append(len(things))
        elif word.kind == "poss":
            if current:
                _close(things, role, current, lexicon)
                owners.append(len(things) - 1)
                current = []
        elif word.kind == "it":
            if current:
                _close(things, role, current, lexicon)
            things.append((role, [word]))
            role, current = "", []
        else:
            current.append(word)
        i += 1
    _close(things, role, current, lexicon)
    _for_the_first(things, for_whole, links + owners)
    return _relations(_join(things, links, owners, lexicon, rewrites), clause, lexicon, rewrites)


def _subject(things: list, links: list[int]) -> int:
    """The thing a relation said after it is about: the first of an "of" chain ("pairs of skis held in a rack": the
    pairs), where the "of" joins them into one thing."""
    at = len(things) - 1
    while at in links and at > 0:
        at -= 1
    return at


def _first_coordinated(things: list, coordinated: list[int]) -> int:
    """The first thing of the "and" that ends with the last thing ("a rod and a reel set": the rod)."""
    at = len(things) - 1
    while at in coordinated and at > 0 and things[at - 1][0] == things[at][0]:
        at -= 1
    return at


def _for_the_first(things: list, for_whole: list[tuple[int, int]], joins: list[int]) -> None:
    """"A rod and reel set for a child" says what "a child's rod and reel set" says: "for" after the last thing of an
    "and" goes with the first, where a possessive puts it (no "of" or possessive joins in between)."""
    for at, first in reversed(for_whole):
        if at < len(things) and things[at][0] == "for" and not any(first <= j <= at for j in joins):
            things.insert(first + 1, things.pop(at))


def _filling(word: Word, lexicon: Lexicon) -> str:
    """The relation of "X V-ed with Y" (a relation verb: "filled with", "stuffed with", "topped with") when the word
    is its verb in -ing, said from Y's side ("novels filling a shelf"), else ""."""
    text = word.text.lower()
    if not text.endswith("ing") or " " in text:
        return ""
    verb = lemma_of_verb(text)
    return lexicon.verb_relations.get(f"~{verb}_with", "") if verb else ""


def _participle_of(word: Word) -> bool:
    """A relation verb said as its past participle ("held", "carried", "contained"): before "in" it is passive."""
    text = word.text.lower()
    return text.isalpha() and not text.endswith("ing") and "VERB" in part_of_speech(text)


def _starts_thing(word: Word) -> bool:
    """A number or quoted text after a participle starts its object ("a cake topped with 3 candles")."""
    return word.value.startswith(("quote:", "qty:")) or word.value.isdigit()


def _has_noun(words: list[Word]) -> bool:
    return any(w.noun for w in words)


def _close(things: list, role: str, words: list[Word], lexicon: Lexicon) -> None:
    if words:
        things.append((role, _headed(words, lexicon)))
    elif role and role.split()[-1] in ("in", "on", "with") and things:
        things.append((role, [Word("it", "", kind="it")]))  # "with a newborn inside", "with glasses on top": of it
    elif role and things:  # "seen from above", "shot from below": a relation with no object says where, so it stays
        things[-1][1].insert(len(things[-1][1]) - 1, Word(role, role, kind="word", noun=False))


def _headed(words: list[Word], lexicon: Lexicon) -> list[Word]:
    """The head last: the last word that may be a noun and is no collective ("a newborn asleep", "books piled",
    "a knife set": newborn, book, knife); words after it describe it."""
    for at in range(len(words) - 1, -1, -1):
        if words[at].noun and words[at].value not in lexicon.collectives:
            return words[:at] + words[at + 1:] + [words[at]]
    return list(words)


def _join(things: list, links: list[int], owners: list[int], lexicon: Lexicon, rewrites: set) -> list:
    """"the handle of a pan" -> "pan handle", "a set of knives" -> "knife set", "a cup of tea" -> a cup with tea;
    "a child's raincoat" -> "child raincoat"."""
    out: list = []
    for index, (role, words) in enumerate(things):
        if index - 1 in owners and out:
            _, owner = out.pop()
            words = [_as_modifier(w) for w in owner] + words
            rewrites.add("a possessive as a modifier")
            role = things[index - 1][0] if not role else role
        if index in links and out:
            before_role, before = out[-1]
            head, base = before[-1].value, before[-1].base
            if head in lexicon.framing_heads:
                out[-1] = (before_role, before)
                out.append((role, words))
            elif (head in lexicon.containers or base in lexicon.containers) and head not in lexicon.collectives:
                out.append(("of", words))  # "a jar of honey" is a jar with honey in it, not a honey jar
            elif head in lexicon.collectives:
                out[-1] = (before_role, words[:-1] + [words[-1]] + before)  # "a set of knives" -> "knife set"
            else:
                out[-1] = (before_role, [_as_modifier(w) for w in words] + before)  # "pan handle"
                rewrites.add("'the X of Y' as 'Y X'")
            continue
        out.append((role, words))
    return out


def _relations(things: list, clause: int, lexicon: Lexicon, rewrites: set) -> list[Phrase]:
    """Phrases with "for", "in red", "made of glass", "with a brass finish" and "in the shape of a heart" as
    modifiers of the thing before; "X with Y draped over it" as "Y draped over X"; derived adjectives as phrases."""
    out: list[Phrase] = []
    for role, words in things:
        words = _headed(_drop_attribute_nouns(words, lexicon), lexicon)
        head = words[-1]
        if out and role == "in" and len(words) == 1 and head.value in lexicon.collectives:
            out[-1] = _merged(out[-1], words)  # "glasses in a row" are "a row of glasses"
            out[-1] = Phrase(out[-1].role, tuple(_headed(list(out[-1].words), lexicon)), False, clause)
            continue
        plural = head.plural and not any(w.value in lexicon.collectives for w in words)
        if out and (role in ("for", lexicon.made_of) or role == "in" and _describes(head, lexicon, strict=True) or
                    role in ("with", "in") and head.value in lexicon.attribute_nouns and len(words) > 1 and
                    (_describing_word(words[-2].value, lexicon) or
                     not head.plural and _describes(words[-2], lexicon)) or
                    role == "shape_like" or role in ("in", "with") and head.value == "shape" and
                    (role == "in" or len(words) > 1)):
            # "a box of chocolates for a teacher", "a splint with padding for a dog": what a container holds or a
            # thing has is not what "for" describes; the container or thing is
            at = -2 if role == "for" and len(out) >= 2 and out[-1].role in ("of", "with") else -1
            out[at] = _merged(out[at], [w for w in words if w.value != "shape" and
                                        not (w.value in lexicon.attribute_nouns and len(words) > 1)])
            rewrites.add({"for": "'for ...' as a modifier", "shape_like": "'shaped like' as a modifier"}.get(
                role, f"'{role.replace('_', ' ')} ...' as a describing word"))
            continue
        if head.kind == "it" and role and len(out) >= 2 and out[0].role == "" and out[-1].role == "with":
            things_with = []  # "a pergola with lights draped over it" is "lights draped over a pergola"
            while out and out[-1].role == "with":
                things_with.insert(0, out.pop())
            subject = out.pop(0)
            out[:0] = [Phrase("", t.words, t.plural, clause) for t in things_with]
            out.append(Phrase(role, subject.words, subject.plural, clause))
            rewrites.add("'X with Y ... it' as 'Y ... X'")
            continue
        out.append(Phrase(role, tuple(words), plural, clause))
    return out


def _drop_attribute_nouns(words: list[Word], lexicon: Lexicon) -> list[Word]:
    """"a brass finish mirror", "a leopard print bag": the describing word says it (a head stays: "a print")."""
    return [w for n, w in enumerate(words) if not (
        0 < n < len(words) - 1 and w.value in lexicon.attribute_nouns and _describes(words[n - 1], lexicon))]


def _merged(phrase: Phrase, words: list[Word]) -> Phrase:
    added = tuple(_as_modifier(w) for w in words)
    return Phrase(phrase.role, phrase.words[:-1] + added + phrase.words[-1:], phrase.plural, phrase.clause,
                  phrase.derived)


def _derived(phrase: Phrase, lexicon: Lexicon) -> list[Phrase]:
    """What a derived adjective says a thing is covered in, has or lacks becomes a phrase of its own: "muddy boots"
    are boots covered in mud, "a hooded jacket" a jacket with a hood, "a sleeveless top" a top without sleeves."""
    keep, extra = [], []
    for n, word in enumerate(phrase.words[:-1]):
        found = None if word.kind == "state" else _having(word, lexicon)
        if found and n and found[1] in COLOUR_NOUNS and lexicon.categories.get(phrase.words[n - 1].value) == "colour":
            continue  # "oatmeal-coloured": the colour says it
        if found:
            relation, noun = found
            token, _, rule, base = _folded(lexicon.phrases.get((noun,), noun), 1, DERIVED, lexicon)  # "lidded": a lid
            joined = (keep[-1],) if n and keep and keep[-1] is phrase.words[n - 1] and word.hyphened else \
                _colours_before(keep, phrase.words, n, lexicon)
            extra.append(Phrase(relation, (Word(token, word.text, rule, base=base),), False, phrase.clause, relation,
                                joined))
        else:
            keep.append(word)
    if not extra:
        return [phrase]
    return [Phrase(phrase.role, tuple(keep) + phrase.words[-1:], phrase.plural, phrase.clause, phrase.derived)] + extra


def _colours_before(keep: list[Word], words: tuple[Word, ...], at: int, lexicon: Lexicon) -> tuple[Word, ...]:
    """The colour words said just before a derived adjective ("blue and white striped"): they may colour what it
    says the thing has ("with blue and white stripes"), a second reading (align._hyphen_joined)."""
    count = 0
    while count < min(at, len(keep)) and keep[-1 - count] is words[at - 1 - count] and \
            lexicon.categories.get(keep[-1 - count].value) == "colour":
        count += 1
    return tuple(keep[len(keep) - count:])


def _having(word: Word, lexicon: Lexicon) -> tuple[str, str] | None:
    value = word.base if word.base and "." in word.value else word.value
    if value in lexicon.covered:
        return lexicon.covered_in, lexicon.covered[value]
    if value in lexicon.not_inflected or not value.isalpha():
        return None
    if value in lexicon.categories and value not in lexicon.derived_attributes:
        return None  # "stainless", "folded" are attributes of their own
    surface = spelled(word.text.split()[-1]) if word.text else value
    found = having_word(value, surface) or full_of(surface)
    if found and found[0] == "with" and surface.endswith(("y", "ful")) and \
            lexicon.categories.get(found[1]) == "material":
        return None  # "velvety", "leathery": like the material, not full of it
    return found
