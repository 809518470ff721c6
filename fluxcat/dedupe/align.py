"""Two scenes are the same picture when every difference between them is explained: each phrase of one meets a
phrase of the other (the same relation, or the same relation said the other way round) whose words are the same,
or differ only by a rule: a compound written apart, a synonym in a shared WordNet sense, a clipping or initialism.
Attribute words (colour, material, size, ...) never differ: nothing explains them away."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import permutations

from fluxcat.dedupe.lexicon import DESCRIBING, Lexicon, known, siblings, spelled
from fluxcat.dedupe.parse import DERIVED, FRAMING, Phrase, Scene, Word

IN_OR_ON = "in|on"  # "a tray with bottles": the bottles are on it or in it, the words do not say which
ON_PART = "on part"  # "a gown with beads on the bodice": the beads on a part, as a derived adjective says it
MAX_READINGS = 12  # readings per prompt (relations turned); prompts have a few clauses, so a few readings


@dataclass(frozen=True)
class Explanation:
    """What differed, and the rule that explains each difference."""

    notes: tuple[str, ...] = ()


def explain(a: Scene, b: Scene, lexicon: Lexicon) -> Explanation | None:
    """How b says what a says, or None if some difference has no explanation; each prompt as written, then with
    its hyphen-joined prepositions read as words ("a pour-over dripper")."""
    for scene_a in (a, a.joined) if a.joined else (a,):
        for scene_b in (b, b.joined) if b.joined else (b,):
            found = _explained(scene_a, scene_b, lexicon)
            if found is not None:
                other = scene_a is not a or scene_b is not b
                return Explanation(found.notes + (("a hyphen-joined preposition as part of a word",) if other else ()))
    return None


def _explained(a: Scene, b: Scene, lexicon: Lexicon) -> Explanation | None:
    frames_a = sorted(p.values for p in a.phrases if p.role == FRAMING)
    frames_b = sorted(p.values for p in b.phrases if p.role == FRAMING)
    if frames_a != frames_b:
        return None
    for phrases_a, turned_a in readings(a, lexicon):
        for phrases_b, turned_b in readings(b, lexicon):
            found = _match(phrases_a, phrases_b, lexicon)
            if found is not None:
                return Explanation(tuple(dict.fromkeys(found.notes + turned_a + turned_b)))
    return None


def readings(scene: Scene, lexicon: Lexicon) -> list[tuple[list[Phrase], tuple[str, ...]]]:
    """The scene as written, and with each relation turned the other way round, clause by clause: "X with Y" as
    "Y in or on X", "X under Y" as "Y on X", "X beside Y" as "Y beside X", "X wearing Y" as "Y worn by X"."""
    base = [p for p in scene.phrases if p.role != FRAMING]
    out = [(base, ())]
    having = _having_as_modifier(base)
    if having != base:
        out.append((having, ("'N-ed X' as 'N X'",)))
    hyphened = _hyphen_joined(base)
    if hyphened != base:
        out.append((hyphened, ("'N-Ved X' as 'X with N V'",)))
    counted = _count_as_modifier(base)
    if counted != base:
        out.append((counted, ("'X with 3 Ns' as 'a 3-N X'",)))
    for on_part in _on_a_part(base):
        out.append((on_part, ("'X with N on the P' as 'X with an N-ed P'",)))
    for clause in sorted({p.clause for p in base}):
        for phrases, notes in list(out):
            for turned, note in _turned(phrases, clause, lexicon):
                out.append((turned, notes + (note,)))
                if len(out) >= MAX_READINGS:
                    return out
    return out


def _having_as_modifier(phrases: list[Phrase]) -> list[Phrase]:
    """What a derived adjective says a thing has, as the noun before it: "mirrored lenses" are "mirror lenses",
    "a beaded bodice" a "bead bodice" (never what it lacks: "sleeveless")."""
    out: list[Phrase] = []
    for phrase in phrases:
        if phrase.derived == "with" and out and len(phrase.words) == 1 and not out[-1].derived:
            owner = out[-1]
            out[-1] = Phrase(owner.role, owner.words[:-1] + phrase.words + owner.words[-1:], owner.plural,
                             owner.clause)
        else:
            out.append(phrase)
    return out


def _count_as_modifier(phrases: list[Phrase]) -> list[Phrase]:
    """"A chest with 3 drawers" is "a 3-drawer chest": a counted thing it has, as the modifier before its head (one
    such phrase, and only where the thing counts nothing else, so two counts never trade places)."""
    counted = [n for n, p in enumerate(phrases) if p.role == "with" and not p.derived and len(p.words) == 2
               and p.words[0].value.isdigit() and n and phrases[n - 1].role == "" and
               phrases[n - 1].clause == p.clause and not any(w.value.isdigit() for w in phrases[n - 1].words)]
    if len(counted) != 1 or sum(w.value.isdigit() for p in phrases for w in p.words) != 1:
        return phrases
    at = counted[0]
    owner, count = phrases[at - 1], phrases[at]
    words = tuple(replace(w, plural=False) for w in count.words)  # "3 drawers" before a head: "3-drawer"
    joined = Phrase(owner.role, owner.words[:-1] + words + owner.words[-1:], owner.plural, owner.clause, owner.derived)
    return phrases[:at - 1] + [joined] + phrases[at + 1:]


def _on_a_part(phrases: list[Phrase]) -> list[list[Phrase]]:
    """"A gown with beads on the bodice" is "a gown with a beaded bodice", "a hammer with rust on the head" "a hammer
    with a rusty head": what a thing has on one part of it (one singular thing, said last in its clause), as what a
    derived adjective says that part has; one word of it also as the part's modifier ("a studded collar" is read as
    "a stud collar"). The N meets only a derived adjective's phrase ("beaded", "rusty"), never "with beads" said on
    its own."""
    found = [n for n in range(1, len(phrases)) if phrases[n].role == "on" and not phrases[n].derived and
             not phrases[n].plural and phrases[n - 1].role == "with" and not phrases[n - 1].derived and
             phrases[n - 1].clause == phrases[n].clause and
             all(p.clause != phrases[n].clause for p in phrases[n + 1:])]
    if len(found) != 1:
        return []
    at = found[0]
    having, part = phrases[at - 1], phrases[at]
    before, after = phrases[:at - 1], phrases[at + 1:]
    out = [before + [_with_role(part, "with"), Phrase(ON_PART, having.words, having.plural, having.clause, ON_PART)]
           + after]
    if len(having.words) == 1:
        out.append(before + [Phrase("with", having.words + part.words, part.plural, part.clause)] + after)
    return out


def _hyphen_joined(phrases: list[Phrase]) -> list[Phrase]:
    """The word a hyphen joined to a derived adjective goes with it: "lemon-scented sponges" are "sponges with a
    lemon scent", "grey-tinted glasses" are "glasses with a grey tint"; so may the colours said just before it
    ("blue and white striped" as "with blue and white stripes")."""
    out: list[Phrase] = []
    for phrase in phrases:
        owner = next((n for n in range(len(out) - 1, -1, -1) if not out[n].derived), None)
        if phrase.joined and owner is not None and \
                all(any(w is word for w in out[owner].words[:-1]) for word in phrase.joined):
            had = out[owner]
            kept = tuple(w for w in had.words if not any(w is word for word in phrase.joined))
            out[owner] = Phrase(had.role, kept, had.plural, had.clause, had.derived)
            phrase = Phrase(phrase.role, phrase.joined + phrase.words, phrase.plural, phrase.clause, phrase.derived)
        out.append(phrase)
    return out


def _turned(phrases: list[Phrase], clause: int, lexicon: Lexicon) -> list[tuple[list[Phrase], str]]:
    mine = [n for n, p in enumerate(phrases) if p.clause == clause]
    subjects = [n for n in mine if phrases[n].role == ""]
    if not subjects:
        return []
    out = []
    having = [n for n in mine if phrases[n].role == "with" and not phrases[n].derived]
    furniture = lambda found: any({phrases[n].head, phrases[n].words[-1].base} & lexicon.furniture for n in found)
    if having and not furniture(having):  # "a table with chairs": they stand around it, not on it
        turned = list(phrases)
        for n in having:
            turned[n] = _with_role(phrases[n], "")
        for n in subjects:
            turned[n] = _with_role(phrases[n], IN_OR_ON)
        out.append((turned, "'X with Y' as 'Y in or on X'"))
    first = subjects[0]
    for n in mine:
        role = phrases[n].role
        if role in lexicon.inverse or role in lexicon.symmetric or role and _is_verb_role(role):
            back = lexicon.inverse.get(role) or (role if role in lexicon.symmetric else _passive(role))
            turned = list(phrases)
            turned[first] = _with_role(phrases[n], "")
            turned[n] = _with_role(phrases[first], back)
            note = (f"'{role.replace('_', ' ')}' turned around" if role in lexicon.inverse else
                    f"'{role}' both ways" if role in lexicon.symmetric else f"'{role}' as '{back}'")
            out.append((turned, note))
    return out


def _is_verb_role(role: str) -> bool:
    words = role.split()
    return len(words) == 1 and role not in ("with", "without", IN_OR_ON) and "_" not in role and \
        role not in _PREPOSITION_LIKE or len(words) == 2 and words[1] == "by"


_PREPOSITION_LIKE = frozenset({"on", "in", "at", "to", "from", "for", "of", "like", "near", "beside", "above", "below",
                               "under", "behind", "across", "along", "around", "between", "among", "outside",
                               "through", "toward", "after", "during", "read"})


def _passive(role: str) -> str:
    """"wear" <-> "wear by": a woman wearing a hat is a hat worn by a woman."""
    return role[:-3] if role.endswith(" by") else f"{role} by"


def _with_role(phrase: Phrase, role: str) -> Phrase:
    return Phrase(role, phrase.words, phrase.plural, phrase.clause, phrase.derived)


def _roles_meet(a: Phrase, b: Phrase, lexicon: Lexicon, doing: bool = False) -> bool:
    """Whether two phrases' relations say the same; `doing`: both prompts say the same participles ("attached"),
    so "to" is where the turned "with" puts the thing ("a regulator attached to a cylinder", "a cylinder with a
    regulator attached")."""
    if ON_PART in (a.derived, b.derived):  # what is on a part meets only what a derived adjective says it has
        other = b if a.derived == ON_PART else a
        return other.derived in (lexicon.covered_in, "with")
    if a.role == b.role:
        return True
    if IN_OR_ON in (a.role, b.role):
        return {a.role, b.role} - {IN_OR_ON} <= ({"in", "on", "to"} if doing else {"in", "on"})
    derived, other = (a, b) if a.derived else (b, a) if b.derived else (None, None)
    if derived is not None and not other.derived:  # "muddy boots": boots covered in mud, or boots with mud
        return derived.derived in (lexicon.covered_in, "with") and other.role in (lexicon.covered_in, "with")
    return False


def _match(a: list[Phrase], b: list[Phrase], lexicon: Lexicon) -> Explanation | None:
    """A one-to-one pairing of the phrases in which every pair is explained. What things are doing ("folded",
    "hanging", "lined up") must be the same, whichever thing the sentence hangs it on: "a shelf with toys lined up
    on it", "toys lined up on a shelf"; "a towel with a fringe hanging on a rail", "a fringed towel hanging".
    Otherwise each participle stays in its place and must be explained there like any word ("decaffeinated" by
    "decaf", "role-playing game" by "RPG")."""
    if len(a) != len(b):
        return None
    (still_a, doing_a), (still_b, doing_b) = _doing(a), _doing(b)
    if doing_a == doing_b:
        return _pair_up(still_a, still_b, 0, [False] * len(b), lexicon, bool(doing_a))
    return _pair_up(a, b, 0, [False] * len(b), lexicon)  # a participle said another way, in place ("role-playing")


def _doing(phrases: list[Phrase]) -> tuple[list[Phrase], list[str]]:
    out, doing = [], []
    for phrase in phrases:
        states = [w for w in phrase.words[:-1] if w.verb]
        if states:
            doing += [w.verb for w in states]
            phrase = Phrase(phrase.role, tuple(w for w in phrase.words[:-1] if not w.verb) + phrase.words[-1:],
                            phrase.plural, phrase.clause, phrase.derived)
        out.append(phrase)
    return out, sorted(doing)


def _pair_up(a: list[Phrase], b: list[Phrase], at: int, used: list[bool], lexicon: Lexicon,
             doing: bool = False) -> Explanation | None:
    if at == len(a):
        return Explanation()
    for n, phrase in enumerate(b):
        if used[n] or not _roles_meet(a[at], phrase, lexicon, doing):
            continue
        if a[at].plural != phrase.plural and not (a[at].derived or phrase.derived):
            continue
        pair = words_explained(a[at].words, phrase.words, lexicon)
        if pair is None:
            continue
        used[n] = True
        rest = _pair_up(a, b, at + 1, used, lexicon, doing)
        used[n] = False
        if rest is not None:
            return Explanation(pair.notes + rest.notes)
    return None


def words_explained(a: tuple[Word, ...], b: tuple[Word, ...], lexicon: Lexicon) -> Explanation | None:
    """The words of two things, modifiers in any order: equal tokens pair up; what is left must be explained, the
    head of one together with the head of the other."""
    left_a, left_b = list(range(len(a))), list(range(len(b)))
    heads_paired = a[-1].value == b[-1].value
    if heads_paired:
        left_a.remove(len(a) - 1)
        left_b.remove(len(b) - 1)
    for i in list(left_a):
        j = next((j for j in left_b if b[j].value == a[i].value), None)
        if j is not None:
            left_a.remove(i)
            left_b.remove(j)
    if not left_a and not left_b:
        return Explanation(())
    return _clipped_words(a, b, left_a, left_b, lexicon) or _units(a, b, left_a, left_b, heads_paired, lexicon)


def _clipped_words(a, b, left_a: list[int], left_b: list[int], lexicon: Lexicon) -> Explanation | None:
    """Two or more words, each clipped from its counterpart in the same order: "hi vis" for "high visibility",
    "dash cam" for "dashboard camera" (each clipping alone may be a word of its own: "dash", "cam")."""
    if len(left_a) != len(left_b) or len(left_a) < 2:
        return None
    said_a = [(a[i].text or a[i].value).lower() for i in left_a]
    said_b = [(b[j].text or b[j].value).lower() for j in left_b]
    if any(" " in w or not w.isalpha() for w in said_a + said_b) or \
            any(_describing(w, lexicon) for w in [a[i] for i in left_a] + [b[j] for j in left_b]):
        return None
    if all(len(y) > len(x) >= 2 and y.startswith(x) for x, y in zip(said_a, said_b)):
        short, long = said_a, said_b
    elif all(len(x) > len(y) >= 2 and x.startswith(y) for x, y in zip(said_a, said_b)):
        short, long = said_b, said_a
    else:
        return None
    return Explanation((f"{' '.join(short)} = {' '.join(long)} (clipping)",))


def _units(a, b, left_a: list[int], left_b: list[int], heads_paired: bool, lexicon: Lexicon) -> Explanation | None:
    """Cover the leftover words with explained units (1:1 synonym or clipping, 2:1 compound or initialism)."""
    if len(left_a) + len(left_b) > 6:
        return None
    for side_a, side_b, flipped in ((left_a, left_b, False), (left_b, left_a, True)):
        words_x, words_y = (b, a) if flipped else (a, b)
        found = _cover(words_x, words_y, side_a, side_b, heads_paired, lexicon)
        if found is not None:
            return found
    return None


def _cover(x, y, left_x: list[int], left_y: list[int], heads_paired: bool, lexicon: Lexicon) -> Explanation | None:
    """Units taking one or two words of x to one word of y, in every order of x's leftovers (a few at most)."""
    if not left_x and not left_y:
        return Explanation(())
    if not left_y or not left_x:
        return None
    target = left_y[0]
    for size in (1, 2, 3):
        for chosen in permutations(left_x, size) if size <= len(left_x) else ():
            if len(chosen) > 1 and list(chosen) != sorted(chosen):
                continue  # a compound keeps its words' order
            if not heads_paired and ((len(x) - 1 in chosen) != (target == len(y) - 1)):
                continue  # one head meets the other
            unit = _unit([x[i] for i in chosen], y[target], lexicon)
            if unit is None:
                continue
            rest = _cover(x, y, [i for i in left_x if i not in chosen], left_y[1:],
                          heads_paired or len(x) - 1 in chosen, lexicon)
            if rest is not None:
                return Explanation(unit.notes + rest.notes)
    return None


def _unit(parts: list[Word], word: Word, lexicon: Lexicon) -> Explanation | None:
    """Why `parts` (one to three words) say what `word` says, or None."""
    if any(_describing(p, lexicon) for p in parts) or _describing(word, lexicon):
        return None  # attribute words must be the same words: nothing explains "red" away
    said = " ".join(p.text or p.value for p in parts)
    if _letters(said) == _letters(word.text or word.value) or \
            _american(said) == _american(word.text or word.value):  # "pull up", "pull-up", "pullup"
        return Explanation((f"{said} = {word.text} (compound)",))
    if len(parts) == 1:
        found = synonym(parts[0], word, lexicon) or made_by(parts[0], word, lexicon)
        if found is not None:
            return found
    short, long = (word, parts) if len(parts) > 1 else (
        (parts[0], [word]) if len(_letters(parts[0].text)) < len(_letters(word.text)) else (word, parts))
    if clipped(short, long, lexicon):
        return Explanation((f"{short.text} = {' '.join(w.text for w in long)} (clipping)",))
    return _initialism_in_compound(parts, word)


def _initialism_in_compound(parts: list[Word], word: Word) -> Explanation | None:
    """"uv lamp" and "ultraviolet lamp" (one WordNet compound): the same head, and before it a word no dictionary
    knows that spells the initials of the other's words."""
    said_x = [w for p in parts for w in (p.text or p.value).lower().split()]
    said_y = (word.text or word.value).lower().split()
    if len(said_x) + len(said_y) < 4 or said_x[-1] != said_y[-1]:
        return None
    short, long = sorted((said_x[:-1], said_y[:-1]), key=len)
    if len(short) == 1 and short[0].isalpha() and all(w.isalpha() for w in long) and not known(short[0]) and \
            initialism(short[0], long):
        return Explanation((f"{' '.join(said_x)} = {' '.join(said_y)} (initialism)",))
    return None


def _describing(word: Word, lexicon: Lexicon) -> bool:
    return word.value in lexicon.categories or word.value.startswith(("quote:", "qty:")) or word.value.isdigit()


def _american(text: str) -> str:
    return "".join(spelled(w) for w in text.lower().split())


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def synonym(a: Word, b: Word, lexicon: Lexicon) -> Explanation | None:
    """Two words that share a WordNet sense of a concrete thing that is the first (most frequent) sense of both
    (folded when the prompt is read: "couch" and "sofa"), or of one of them where a second source agrees: the other
    word is that compound's head ("bulb" names a "light bulb": WordNet lists light_bulb.n.01 among its senses), or
    breame pairs the two as British and American words ("torch", "flashlight"). WordNet alone is not enough for
    the rarer sense: it also lumps products a shopper tells apart ("wreath" and "garland": wreath.n.01)."""
    plain_a, plain_b = _plain(a), _plain(b)
    if siblings(plain_a, plain_b):
        return None
    first = lexicon.first_senses.get(plain_a)
    if first and first == lexicon.first_senses.get(plain_b):
        return Explanation((f"{a.text} = {b.text} (WordNet synonym: {first}, the first sense of both)",))
    if (plain_a, plain_b) in lexicon.alike:
        return Explanation((f"{a.text} = {b.text} (one word spelled two ways, WordNet)",))
    senses_b = {synset: (rank, kin, thing) for synset, rank, kin, thing in lexicon.senses.get(plain_b, ())}
    shared = [(synset, rank, kin, thing, *senses_b[synset]) for synset, rank, kin, thing in
              lexicon.senses.get(plain_a, ()) if synset in senses_b]
    if not shared:
        return None
    synset, rank_a, kin_a, thing_a, rank_b, kin_b, thing_b = min(
        shared, key=lambda s: (min(s[1], s[4]), max(s[1], s[4])))
    if min(rank_a, rank_b) > 0:
        return None
    if rank_a == rank_b == 0:
        return Explanation((f"{a.text} = {b.text} (WordNet synonym: {synset})",))
    if thing_a == thing_b == 0 and not (kin_a or kin_b):
        rarer = b.text if rank_b else a.text
        return Explanation((f"{a.text} = {b.text} (WordNet synonym: {synset}, a sense of {rarer!r} that is no kind "
                            "of its first)",))
    if plain_a.endswith(" " + plain_b) or plain_b.endswith(" " + plain_a):
        return Explanation((f"{a.text} = {b.text} (the compound's head names it in WordNet: {synset})",))
    if (plain_a, plain_b) in lexicon.british:
        return Explanation((f"{a.text} = {b.text} (British and American words, breame; WordNet: {synset})",))
    return None


def made_by(a: Word, b: Word, lexicon: Lexicon) -> Explanation | None:
    """"Padded" says a thing has padding, "gold-plated" gold plating: a derived -ed adjective's verb and the noun in
    -ing that WordNet names for what that verb leaves on a thing (lexicon.made_by: no work of art, so "a painted box"
    is no "box with a painting")."""
    for derived, noun in ((a, b), (b, a)):
        verb, made = _plain(derived), _plain(noun)
        if DERIVED in derived.rule.split(", ") and made in lexicon.made_by and verb in _verbs_of(made):
            return Explanation((f"{derived.text} = with {noun.text} (what the verb leaves: {made})",))
    return None


def _verbs_of(gerund: str) -> tuple[str, ...]:
    """The verbs a noun in -ing may be made of: "plating" <- "plat", "plate"; "padding" <- "pad"."""
    stem = gerund[:-3]
    return (stem, stem + "e") + ((stem[:-1],) if len(stem) > 2 and stem[-1] == stem[-2] else ())


def _plain(word: Word) -> str:
    """The dictionary form of what the prompt said ("leashes" -> "leash", "light bulb")."""
    return word.base or word.value.replace("_", " ")


def clipped(short: Word, long: list[Word], lexicon: Lexicon) -> bool:
    """A short form no dictionary knows that clips the long one: "deo" for "deodorant", "sat nav" for "satellite
    navigation", "hi vis" for "high visibility"; or its initials: "rc" for "remote control"; or a short form WordNet
    lists with the word it clips ("math" and "mathematics", "decaf" and "decaffeinated coffee")."""
    words = [w for w in (short.text or short.value).lower().split()]
    longs = [w for part in long for w in (part.text or part.value).lower().split()]
    listed = lexicon.clippings.get(_plain(short)) or lexicon.clippings.get(" ".join(words))
    if listed and len(long) == 1 and (_plain(long[0]) in listed or any(
            longs == [w.split()[0]] for w in listed)):
        return True
    if not words or any(not w.isalpha() for w in words + longs) or not any(not known(w) for w in words):
        return False
    if len(words) == len(longs) and all(len(s) >= 2 and l.startswith(s) and len(l) > len(s)
                                        for s, l in zip(words, longs)):
        return len("".join(words)) >= 3
    return len(words) == 1 and len(longs) >= 2 and initialism(words[0], longs)


def initialism(short: str, longs: list[str]) -> bool:
    """`short` spells the initials of `longs` in order: each long word gives its first letter, and may give the first
    letter of one dictionary word of five or more letters that ends it ("rc" for "remote control", "tpu" for
    "thermoplastic polyurethane", "uv" for "ultraviolet" before a head they share). One long word alone is never
    enough outside a shared head: "pc" would be "polycarbonate", "ac" "aircraft"."""
    if len(short) < 2 or len(short) > 2 * len(longs) + 1:
        return False
    return spells(short, [initials(w) for w in longs])


def spells(short: str, options: list[list[str]]) -> bool:
    """`short` is one option of each word's in order ("" where a word may give none)."""
    if not options:
        return not short
    return any(short.startswith(part) and spells(short[len(part):], options[1:]) for part in options[0])


def initials(word: str) -> list[str]:
    """The letters a long word may give an initialism: its first, or its first and the first of a dictionary word of
    five or more letters that ends it ("thermoplastic": "t" or "tp"; "aircraft": "a" or "ac", never "ar")."""
    return [word[0]] + [word[0] + word[at] for at in range(2, len(word) - 4) if known(word[at:])]
