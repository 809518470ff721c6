"""The guard's vocabulary, loaded once: the bundled word lists (plus a catalog's own file), an extract of WordNet
(synonyms, compounds, containers, derived adjectives), British spellings from breame and lemmas from LemmInflect."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fluxcat.dedupe.normalise import normalise_plain

WORDS_FILE = "attributes.json"  # also read by QA (fluxcat/qa, its colour words)
WORDNET_FILE = "wordnet.json.gz"  # built by fluxcat/dedupe/wordnet_build.py from Princeton WordNet 3.0
_LIST_KEYS = ("stop_words", "synonyms", "short_forms", "framing_heads", "framing_links", "generic_framing",
              "collectives", "relations", "relation_verbs", "not_inflected", "distinct", "attribute_nouns",
              "placement_verbs", "symmetric_prepositions")
# Attribute categories a trailing clause may hold alone ("Wireless headphones, black"), and that "in" or "made of"
# may introduce ("a dress in red", "a vase made of glass"): they describe the thing named before them.
DESCRIBING = ("colour", "material", "finish", "pattern", "size", "shape")
SIBLING_BASE = 4  # letters two words must end with to be built on one base ("-tard", "-phone", "-cycle")


@dataclass(frozen=True)
class Lexicon:
    """Word lists and WordNet's extract, with every entry in the guard's canonical form."""

    stop_words: frozenset[str]
    phrases: dict[tuple[str, ...], str]  # synonym, short form or relation phrase (lemmas) -> canonical token
    longest_phrase: int
    prepositions: frozenset[str]  # every relation's canonical name ("on", "in", "with", "covered_in", "read")
    relations: dict[str, str]  # token of a preposition ("atop", "on_top_of") -> its relation ("on")
    verb_relations: dict[str, str]  # token of a relation verb ("holding", "filled with") -> its relation ("with")
    framing_heads: frozenset[str]
    framing_links: frozenset[str]
    generic_framing: frozenset[str]
    collectives: frozenset[str]
    numbers: dict[str, str]
    units: dict[str, tuple[str, float]]
    irregular: dict[str, str]
    not_inflected: frozenset[str]
    categories: dict[str, str]  # attribute token -> category (names why a merge was refused; guards folding)
    wordnet: dict[tuple[str, ...], str]  # WordNet word or phrase -> its first noun sense, where others share it
    compounds: dict[tuple[str, str], str]  # ("hand", "bag") -> "handbag"
    words: frozenset[str]  # every single word the lists or WordNet's extract name: never split as a compound
    containers: frozenset[str]  # "a bowl with fruit" is "fruit in a bowl"
    furniture: frozenset[str]  # "a table with chairs" is not "chairs on a table": never turned
    covered: dict[str, str]  # "muddy" -> "mud": "covered in mud"
    attribute_nouns: frozenset[str]  # "finish", "pattern": "a lamp with a brass finish" is a "brass finish lamp"
    placement_verbs: frozenset[str]  # "placed", "arranged", "set": before a preposition they add nothing
    inverse: dict[str, str]  # "a rug under a table" is "a table on a rug"
    symmetric: frozenset[str]  # "a lamp beside a chair" is "a chair beside a lamp"
    covered_in: str  # the token of "covered in/with": "muddy boots" are "boots covered in mud"
    made_of: str  # the token of "made of/from": "a vase made of glass" is a "glass vase"
    senses: dict[str, tuple]  # WordNet word -> ((synset, rank among its noun senses, kin of its first), ...), shared
    nouns: dict[tuple[str, ...], str]  # WordNet's multi-word nouns, as lemmas -> as WordNet writes them
    pertainyms: dict[str, str]  # "floral" -> "flower": a "floral print" is a "flower print"
    derived_attributes: frozenset[str]  # attribute words made of a noun ("striped": with stripes)
    british: frozenset[tuple[str, str]]  # (British, American) word pairs from breame, both ways ("torch", "flashlight")
    ing_nouns: frozenset[str]  # nouns in -ing whose first sense is a thing ("stocking", "bedding"): no participles
    clippings: dict[str, frozenset[str]] = field(default_factory=dict)  # "math" -> {"mathematics"}: WordNet's own
    values: dict[str, str] = field(default_factory=dict)  # "big" -> "large": one head adjective sense (WordNet)
    phrase_starts: frozenset[str] = frozenset()  # first lemmas of multi-word phrases: only these look further
    first_senses: dict[str, str] = field(default_factory=dict)  # "abseil" -> rappel.n.01: a first sense, not folded
    alike: frozenset[tuple[str, str]] = frozenset()  # ("bandana", "bandanna"): one word, two spellings (WordNet)
    made_by: frozenset[str] = frozenset()  # "padding", "plating": what "padded", "plated" say a thing has
    noun_values: frozenset[str] = frozenset()  # values by a shared first noun sense or spelling ("fall", "matt")
    clause_cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


@lru_cache(maxsize=8)
def load_lexicon(path: str | None = None) -> Lexicon:
    """The bundled word lists, extended by the file at `path` (same layout; its lists are added to the bundled ones)."""
    data = json.loads(resources.files("fluxcat.data").joinpath(WORDS_FILE).read_text())
    if path:
        try:
            extra = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"dedupe word file {path}: {error}") from None
        data = _extend(data, extra, path)
    return _build(data, path or WORDS_FILE)


def _extend(base: dict, extra: dict, path: str) -> dict:
    if not isinstance(extra, dict):
        raise ValueError(f"{path}: a dedupe word file is a JSON object, e.g. {{\"synonyms\": [[\"tote\", \"shopper\"]]}}")
    unknown = sorted(set(extra) - set(base))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {', '.join(unknown)}; a dedupe word file has "
                         f"{', '.join(sorted(k for k in base if not k.startswith('_')))}")
    merged = dict(base)
    for key, value in extra.items():
        if key in _LIST_KEYS:
            merged[key] = base[key] + value
        elif key == "attributes":
            merged[key] = {c: base[key].get(c, []) + value.get(c, []) for c in {*base[key], *value}}
        elif isinstance(value, dict):
            merged[key] = {**base[key], **value}
    return merged


@lru_cache(maxsize=1)
def _wordnet() -> dict:
    return json.loads(gzip.decompress(resources.files("fluxcat.data").joinpath(WORDNET_FILE).read_bytes()))


@lru_cache(maxsize=1)
def _ing_nouns() -> frozenset[str]:
    return frozenset(_wordnet()["ing_nouns"])


@lru_cache(maxsize=1)
def british_spellings() -> dict[str, str]:
    """British -> American spellings, inflected forms included (breame's list, from Wikipedia and tysto's list)."""
    from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS

    return {**BRITISH_ENGLISH_SPELLINGS, **{b.replace("-", " "): a for b, a in BRITISH_ENGLISH_SPELLINGS.items()}}


_ENDINGS = ("ing", "ed", "s")  # a British and an American form with one of these endings share a stem's spellings


@lru_cache(maxsize=1)
def british_stems() -> dict[str, str]:
    """British -> American stems of breame's inflected pairs ("chequered" -> "checkered": "chequer" -> "checker"),
    for compounds built on them ("chequerboard"); stems of four letters or more."""
    out = {}
    for british, american in british_spellings().items():
        for ending in _ENDINGS:
            if british.endswith(ending) and american.endswith(ending) and british.isalpha() and \
                    not british.endswith("ss"):
                stem, other = british[:-len(ending)], american[:-len(ending)]
                if len(stem) >= 4 and stem != other:
                    out.setdefault(stem, other)
                break
    return out


@lru_cache(maxsize=200_000)
def inflection(word: str) -> tuple[str, bool]:
    """(lemma, is a plural noun) by LemmInflect's dictionary: a noun's lemma first ("knives" -> "knife", while
    "jeans" and "glasses" are nouns of their own), a verb's for -ed and -ing forms ("piled" -> "pile"); adjectives
    keep their form ("darker" is not "dark"); a word it does not know stays as it is."""
    from lemminflect import getAllLemmas

    lemmas = getAllLemmas(word)
    if not lemmas:  # not in its dictionary (a new product word: "earbuds", "rainboots"): its rules for nouns
        from lemminflect import getAllLemmasOOV

        nouns = getAllLemmasOOV(word, "NOUN").get("NOUN", (word,))
        return (nouns[0], True) if nouns[0] != word and word.endswith("s") else (word, False)
    verbs, nouns = lemmas.get("VERB", ()), lemmas.get("NOUN", ())
    if word.endswith(("ed", "ing")) and verbs and verbs[0] != word:
        return verbs[0], False
    if nouns:
        return (word, False) if word in nouns else (nouns[0], True)
    if verbs and verbs[0] != word and word.endswith("s") and set(lemmas) == {"VERB"}:
        # known only as a verb ("studs": "he studs"); in a product prompt a plural noun ("a jacket with studs")
        return verbs[0], True
    return (verbs[0], False) if verbs else (word, False)


@lru_cache(maxsize=100_000)
def part_of_speech(word: str) -> frozenset[str]:
    """LemmInflect's parts of speech for the word ("ADJ", "NOUN", ...); none if it does not know it."""
    from lemminflect import getAllLemmas

    return frozenset(getAllLemmas(word))


@lru_cache(maxsize=50_000)
def lemma_of_verb(word: str) -> str:
    """The verb a word is a form of ("filling" -> "fill"), or "" if LemmInflect knows it as no verb."""
    from lemminflect import getAllLemmas

    return getAllLemmas(word).get("VERB", ("",))[0]


@lru_cache(maxsize=200_000)
def known(word: str) -> bool:
    """Whether LemmInflect's dictionary has the word (as any form of any part of speech)."""
    from lemminflect import getAllLemmas

    return bool(getAllLemmas(word))


def lemma(word: str, irregular: dict, not_inflected: frozenset) -> tuple[str, bool]:
    """(lemma, is an inflected plural): the project's irregular forms and uninflected words first, WordNet's nouns
    in -ing ("stocking" is no "stock"), then LemmInflect."""
    if word in not_inflected or not word.isalpha() or len(word) <= 2 or word in _ing_nouns():
        return word, False
    listed = irregular.get(word)
    return (listed, inflection(word)[1]) if listed else inflection(word)


_DOUBLED = re.compile(r"^(.*[aeiou]([^aeiouy]))\2((?:ed|ing|er)s?)$")  # "sequinned": "sequin" + "n" + "ed"
_ISED = re.compile(r"^([a-z]{3,})is(e|es|ed|er|ers|ing|ation|ations)$")


@lru_cache(maxsize=200_000)
def spelled(word: str) -> str:
    """The American spelling of a British one (colour -> color), else the word. A compound on the stem of a British
    form breame lists takes the stem's American spelling ("chequerboard": "chequered" is "checkered"); a word breame
    does not list is spelled by its British ending where it has one ("microfibre" as "micro" + "fibre"), and a
    consonant doubled before -ed, -ing or -er in a word no dictionary knows is written once ("sequinned", as
    "travelled" is) unless the word is two dictionary words ("boxcutter"), and such a word's -ise family is written -ize ("sanitiser", as "organiser" is "organizer")."""
    spellings = british_spellings()
    listed = spellings.get(word)
    if listed or not word.isalpha() or len(word) < 7:
        return listed or word
    stems = british_stems()
    for cut in range(4, len(word) - 2):  # "chequerboard": a compound on a British stem and a word
        if word[:cut] in stems and known(word[cut:]):
            return stems[word[:cut]] + word[cut:]
    if known(word):
        return word
    for cut in range(2, len(word) - 3):
        tail = spellings.get(word[cut:])
        if tail:
            return word[:cut] + tail
    ised = _ISED.match(word)  # "sanitiser": the -ise family (-iser, -ised, -ising, -isation) is -ize in American
    if ised:
        return f"{ised.group(1)}iz{ised.group(2)}"
    doubled = _DOUBLED.match(word)
    if doubled and not any(known(word[:cut]) and known(word[cut:]) for cut in range(3, len(word) - 2)):
        return doubled.group(1) + doubled.group(3)
    return word  # "boxcutter" is "box" + "cutter", no "boxcuter"


def _build(data: dict, source: str) -> Lexicon:
    irregular, not_inflected = data["lemmas"], frozenset(data["not_inflected"])

    def lemmas(phrase: str) -> tuple[str, ...]:
        return tuple(lemma(spelled(w), irregular, not_inflected)[0] for w in normalise_plain(phrase).split())

    categories: dict[str, str] = {}
    for category, words in data["attributes"].items():
        for word in words:
            categories.setdefault("_".join(lemmas(word)), category)  # a word in two categories is named by the first
    stop_words = frozenset(lemmas(w)[0] for w in data["stop_words"])
    clash = sorted(stop_words & categories.keys())
    if clash:
        raise ValueError(f"{source}: attribute words cannot be stop words: {', '.join(clash)}")
    phrases: dict[tuple[str, ...], str] = {}
    for group in _merged_groups([[lemmas(p) for p in group] for group in data["synonyms"] + data["short_forms"]]):
        _check_synonym_group(group, categories, source)
        phrases.update({words: "_".join(group[0]) for words in group})
    wordnet = _wordnet()
    _name_full_forms(categories, phrases, wordnet["clippings"])
    values = _one_value(wordnet["adjective_heads"], categories, phrases, lemmas)
    joiners = stop_words | _relation_words(data)  # "stand in" is a stand and a relation, not a "stand-in"
    noun_values = {**_one_noun_value(wordnet["first_senses"], categories, phrases, lemmas, joiners),
                   **_one_spelling(wordnet["spelled_alike"], categories, phrases, lemmas, joiners)}
    values.update(noun_values)
    relations: dict[str, str] = {}
    for groups, mark in ((data["relations"], ""), (data["relation_verbs"], "~")):
        for group in _merged_groups([[lemmas(p) for p in group] for group in groups]):
            name = "_".join(group[0])  # a relation verb group's first word only names the relation it means
            for words in group[1:] if mark else group:
                token = mark + "_".join(words)
                phrases[words] = token
                relations[token] = name
    verb_relations = {t: n for t, n in relations.items() if t.startswith("~")}
    relations = {t: n for t, n in relations.items() if not t.startswith("~")}
    prepositions = frozenset(relations.values()) | frozenset(verb_relations.values())
    distinct = {lemmas(w) for group in data["distinct"] for w in group}
    folded = _wordnet_synonyms(wordnet["synonyms"], distinct, categories, phrases)
    folded = {w: s for w, s in folded.items() if len(w) == 1 or not set(w) & joiners}
    fold = lambda token: token if token in prepositions else folded.get(tuple(token.split("_")), token)
    canon = lambda word: fold(phrases.get(lemmas(word), "_".join(lemmas(word))))
    one = lambda words: frozenset(canon(w) for w in words)
    for token, category in list(categories.items()):  # name the category of a folded attribute word too
        categories.setdefault(fold(phrases.get(tuple(token.split("_")), token)), category)
    derived_attributes = _derived_attributes(categories)
    for adjective, noun in wordnet["pertainyms"].items():  # "floral" names a pattern, so does "flower"
        if categories.get(adjective) == "pattern":
            categories.setdefault(noun, "pattern")
    pertaining = {a: n for a, n in wordnet["pertainyms"].items() if n not in categories or a in categories}
    for adjective, noun in wordnet["derived_adjectives"].items():  # "rectangular" is the shape "rectangle"
        category = categories.get(adjective)
        if adjective not in pertaining and category and categories.setdefault(noun, category) == category:
            pertaining[adjective] = noun
    senses = {w: tuple((s, r, bool(kin), c) for s, r, _, kin, c in found) for w, found in wordnet["senses"].items()
              if tuple(w.split()) not in distinct}
    nouns = {lemmas(w): w for w in senses if " " in w and not set(w.split()) & (stop_words | _relation_words(data))}
    starts = {p[0] for p in phrases if len(p) > 1} | {p[0] for p in folded if len(p) > 1} | {p[0] for p in nouns}
    return Lexicon(stop_words, phrases, max(map(len, [*phrases, *folded, *nouns]), default=1), prepositions,
                   relations, verb_relations,
                   one(data["framing_heads"]), one(data["framing_links"]), one(data["generic_framing"]),
                   one(data["collectives"]), {w: str(n) for w, n in data["numbers"].items()},
                   {u: (base, float(f)) for u, (base, f) in data["units"].items()}, irregular, not_inflected,
                   categories, folded, _compounds(wordnet["compounds"], categories),
                   frozenset(wordnet["compounds"]) | {p[0] for p in [*phrases, *folded] if len(p) == 1},
                   frozenset(wordnet["containers"]), frozenset(wordnet["furniture"]),
                   {a: n for a, n in wordnet["covered"].items() if n not in categories and a not in categories},
                   one(data["attribute_nouns"]), frozenset(_verb_lemma(w) for w in data["placement_verbs"]),
                   {relations.get(canon(a), canon(a)): relations.get(canon(b), canon(b))
                    for a, b in data["inverse_prepositions"].items()},
                   frozenset(relations.get(canon(w), canon(w)) for w in data["symmetric_prepositions"]),
                   relations[phrases[lemmas("covered in")]], relations[phrases[lemmas("made of")]],
                   senses, nouns,
                   pertaining,
                   derived_attributes,
                   frozenset((a, b) for uk, found in wordnet["british"].items() for us, _ in found
                             for a, b in ((uk, us), (us, uk))),
                   frozenset(wordnet["ing_nouns"]) - {c for c, k in categories.items() if k == "state"},
                   {s: frozenset(longs) for s, longs in wordnet["clippings"].items()}, values, frozenset(starts),
                   {w: synset for synset, words in wordnet["first_senses"].items() for w in words
                    if tuple(w.split()) not in distinct},
                   frozenset((a, b) for x, y in wordnet["spelled_alike"] for a, b in ((x, y), (y, x))),
                   frozenset(wordnet["made_by"]), frozenset(noun_values))


def _one_value(groups: dict, categories: dict, phrases: dict, lemmas) -> dict[str, str]:
    """Adjectives sharing their first sense, a head synset of WordNet ("big" and "large": large.a.01; "little" and
    "small"), name one value of an attribute where one of them is an attribute word: they become its token."""
    out = {}
    for words in groups.values():
        members = [lemmas(w) for w in words]
        listed = sorted({categories["_".join(m)] for m in members if "_".join(m) in categories})
        if len(listed) != 1 or any(m in phrases for m in members):
            continue  # none is an attribute word, two categories, or a list already says what they are
        token = next("_".join(m) for m in members if "_".join(m) in categories)
        for member in members:
            categories.setdefault("_".join(member), listed[0])
            out["_".join(member)] = token
    return out


def _one_noun_value(groups: dict, categories: dict, phrases: dict, lemmas, joiners: set) -> dict[str, str]:
    """Attribute words of one category whose first noun sense is one WordNet synset ("autumn" and "fall": fall.n.01;
    "dawn" and "sunrise") name one value: they become one token. Only where every word of the group is an attribute
    word of that category, spelled with three letters or more ("x" and "xs" are two sizes), and none relates things
    ("inside" is a preposition too)."""
    out = {}
    for words in groups.values():
        members = ["_".join(lemmas(w)) for w in words]
        listed = {categories.get(m) for m in members}
        if len(listed) != 1 or None in listed or any(tuple(m.split("_")) in phrases or len(m) < 3 or m in joiners
                                                     for m in members):
            continue
        token = min(members)
        out.update({m: token for m in members if m != token})
    return out


def _one_spelling(pairs: list, categories: dict, phrases: dict, lemmas, joiners: set) -> dict[str, str]:
    """One word spelled two ways (WordNet: "matt" and "matte"), one of them an attribute word: the other, if it is no
    attribute word and no noun (a noun is a thing: "mat"), takes that word's category and token."""
    out = {}
    for pair in pairs:
        members = ["_".join(lemmas(w)) for w in pair]
        listed = [m for m in members if m in categories]
        if len(listed) == 2 and categories[listed[0]] != categories[listed[1]] or not listed or \
                any(tuple(m.split("_")) in phrases or m in joiners for m in members):
            continue
        other = next((m for m in members if m not in categories), None)
        if other is not None and "NOUN" in part_of_speech(other):
            continue
        token = min(listed)
        for member in members:
            categories.setdefault(member, categories[token])
            if member != token:
                out[member] = token
    return out


def _relation_words(data: dict) -> set[str]:
    """Single words that relate things ("in", "on", "with"): never part of a WordNet noun we join ("stand in")."""
    return {w for group in data["relations"] for w in group if " " not in w} | {"up", "out", "off", "down"}


def _verb_lemma(word: str) -> str:
    from lemminflect import getAllLemmas

    return getAllLemmas(word).get("VERB", (word,))[0]


def _derived_attributes(categories: dict) -> frozenset[str]:
    """Pattern words made of a noun ("striped", "spotted", "checked"): their noun ("stripe") names the same pattern,
    so "striped" and "with stripes" are one attribute (the noun joins the category)."""
    found = set()
    for word, category in list(categories.items()):
        if category == "pattern" and word.isalpha():
            having = having_word(word, word)
            if having and having[0] == "with":
                categories.setdefault(having[1], category)
                found.add(word)
    return frozenset(found)


def _name_full_forms(categories: dict[str, str], phrases: dict, clippings: dict) -> None:
    """A one-word full form WordNet gives of an attribute word it clips is that attribute value ("camo" is
    a pattern: "camouflage" is the same one), where what the clipping leaves off is no word ("spring" is not
    "springtime": "time" is a word)."""
    for short, longs in clippings.items():
        if short in categories:
            for long in longs:
                if " " not in long and long.startswith(short) and not known(long[len(short):]):
                    categories.setdefault(long, categories[short])
                    phrases.setdefault((long,), short)


def _wordnet_synonyms(groups: dict, distinct: set, categories: dict, curated: dict) -> dict[tuple[str, ...], str]:
    """Word (tuple of words) -> WordNet synset, for words sharing their first sense. Left out: words the bundled or
    catalog lists call distinct ("headphones" vs "earphones"), any group that would join two attribute words of one
    category (two colours must never become one), and the words of a listed synonym group whose first senses
    disagree ("pants" is first "bloomers" in WordNet, "trousers" is not); a listed group whose words agree joins
    their synset whole ("auto" with "automobile" and "car")."""
    out: dict[tuple[str, ...], str] = {}
    for synset, words in groups.items():
        members = [tuple(w.split()) for w in words]
        members = [m for m in members if m not in distinct]
        members = [m for m in members if not any(siblings(" ".join(m), " ".join(o)) for o in members)]
        seen: dict[str, tuple] = {}
        clash = False
        for member in members:
            category = categories.get("_".join(member))
            clash |= bool(category and seen.setdefault(category, member) != member)
        if not clash and len(members) > 1:
            out.update({m: synset for m in members})
    listed: dict[str, list[tuple]] = {}
    for words, canonical in curated.items():
        listed.setdefault(canonical, []).append(words)
    for canonical, members in listed.items():
        members = members + [tuple(canonical.split("_"))]
        synsets = {out[m] for m in members if m in out}
        for member in members:
            if len(synsets) == 1:
                out[member] = next(iter(synsets))
            else:
                out.pop(member, None)
    return out


def siblings(a: str, b: str) -> bool:
    """Two words built on one base with different first parts ("leotard" and "unitard", "headphone" and "earphone",
    "bicycle" and "tricycle"): the first parts tell products apart, so WordNet's shared sense does not join them.
    Spelling variants keep their first letter ("aeroplane", "airplane") or change one letter ("kerb", "curb")."""
    if " " in a or " " in b or "_" in a or "_" in b:
        return False
    tail = 0
    while tail < min(len(a), len(b)) and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    first_a, first_b = a[:len(a) - tail], b[:len(b) - tail]
    if tail < SIBLING_BASE or not first_a or not first_b or first_a[0] == first_b[0]:
        return False
    return not (len(first_a) == len(first_b) and sum(x != y for x, y in zip(first_a, first_b)) == 1)


def _compounds(compounds: dict, categories: dict) -> dict[tuple[str, str], str]:
    """Two words written apart that WordNet writes as one ("hand bag" = "handbag"); never after a describing word:
    "a green house" is not "a greenhouse", nor "a gold fish" a "goldfish"."""
    return {(a, b): word for word, (a, b) in compounds.items() if categories.get(a) not in DESCRIBING}


def _merged_groups(groups: list[list[tuple]]) -> list[list[tuple]]:
    """Synonym groups that share a member become one group (a catalog's file may extend a bundled group); the first
    group's first member names it."""
    merged: list[list[tuple]] = []
    for group in groups:
        joined = [m for m in merged if set(m) & set(group)]
        into = joined[0] if joined else []
        if not joined:
            merged.append(into)
        for other in joined[1:]:
            into += [w for w in other if w not in into]
            merged.remove(other)
        into += [w for w in group if w not in into]
    return merged


def _check_synonym_group(group: list[tuple], categories: dict, source: str) -> None:
    seen: dict[str, tuple] = {}
    for tokens in group:
        category = categories.get("_".join(tokens))
        if category and category in seen and seen[category] != tokens:
            raise ValueError(f"{source}: a synonym group joins two {category} words ({' '.join(seen[category])!r}, "
                             f"{' '.join(tokens)!r}); variants must stay apart")
        if category:
            seen[category] = tokens


@lru_cache(maxsize=50_000)
def having_word(token: str, surface: str) -> tuple[str, str] | None:
    """"sleeveless" -> ("without", "sleeve"), "hooded"/"striped"/"scuffed" -> ("with", "hood"/"stripe"/"scuff"):
    an adjective or participle made of a noun and -less or -ed (LemmInflect knows the noun), or of a verb in -ate
    whose noun in -ation names what it made ("perforated" -> ("with", "perforation"))."""
    if token.endswith("less") and len(token) > 6 and "NOUN" in part_of_speech(token[:-4]):
        return "without", token[:-4]
    if surface.endswith("ed") and len(surface) > 5:
        for stem in (surface[:-1], surface[:-2], surface[:-3]):
            if "NOUN" in part_of_speech(stem) and "ADJ" not in part_of_speech(stem):
                return "with", stem
    if surface.endswith("ated") and len(surface) > 7 and "NOUN" in part_of_speech(surface[:-2] + "ion"):
        return "with", surface[:-2] + "ion"  # "perforated": with perforations, "insulated": with insulation
    return None


@lru_cache(maxsize=50_000)
def full_of(surface: str) -> tuple[str, str] | None:
    """"starry", "colourful": an adjective and nothing else, made of a noun (not an adjective) and -y or -ful (a
    doubled consonant or lost "e" allowed), says what the thing is full of ("a sky full of stars")."""
    if part_of_speech(surface) != {"ADJ"}:
        return None
    if surface.endswith("ful") and len(surface) > 6:
        stems = (surface[:-3],)
    elif surface.endswith("y") and len(surface) > 4:
        stems = (surface[:-1], surface[:-1] + "e") + ((surface[:-2],) if surface[-2] == surface[-3] else ())
    else:
        return None
    return next((("with", stem) for stem in stems if part_of_speech(stem) >= {"NOUN"} and
                 "ADJ" not in part_of_speech(stem)), None)
