"""The attribute guard: two prompts merge only if every difference between them is explained (formatting, spelling,
inflection, a synonym, a compound written apart, a clipping, framing, a relation said another way) and no visible
attribute differs. Each prompt becomes a scene of phrases (fluxcat/dedupe/parse.py); equal keys are the fast
path, and otherwise the two scenes are aligned (fluxcat/dedupe/align.py)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from fluxcat.dedupe.align import explain, initials, spells
from fluxcat.dedupe.lexicon import WORDS_FILE, Lexicon, known, load_lexicon
from fluxcat.dedupe.parse import FRAMING, LEMMA, WORDNET, Scene, scene
from fluxcat.quoted import find_quotes

__all__ = ["WORDS_FILE", "Lexicon", "PromptTokens", "Verdict", "compare", "load_lexicon", "tokenise"]

_QTY_SHOWN = re.compile(r"^([\d.e+-]+)(.*)$")
_SYNSET = re.compile(r"^.+\.n\.\d\d$")  # a WordNet synset's name ("sofa.n.01"), the token of a shared first sense
# An initialism as prompts write it: two to five capitals no dictionary knows ("PDO", "DIY"), outside quoted text.
_INITIALISM = re.compile(r"(?<![\w'\"-])[A-Z]{2,5}(?![\w'\"-])")
_SPELLED_WORD = re.compile(r"[^\W\d_]+")
# Words an initialism may spell or pass over: "Protected Designation of Origin" (PDO), "do it yourself" (DIY).
_SMALL_WORDS = frozenset({"of", "the", "and", "for", "it", "a", "an", "to", "in", "on", "de"})
MAX_SPELLED_WORDS = 6


@dataclass(frozen=True)
class PromptTokens:
    """A prompt as the guard sees it: its scene, its key (equal keys: the same picture) and its block (what any two
    prompts it merges with share: attribute words, numbers, quoted text)."""

    key: tuple
    block: tuple
    words: tuple[str, ...]  # canonical content words and relations in prompt order (near misses, reasons)
    surface: tuple[str, ...]  # the words the prompt used for them (reasons)
    scene: Scene
    shown: dict  # canonical token -> a word the prompt used for it
    how: dict  # canonical token -> (words the prompt used, the rule that made them this token)
    prompt: str = ""  # as written (its capitals: an initialism)

    @property
    def bag(self) -> tuple[str, ...]:
        return tuple(sorted(self.words))

    @property
    def rewrites(self) -> frozenset:
        return self.scene.rewrites


def tokenise(prompt: str, lexicon: Lexicon | None = None) -> PromptTokens:
    """Clauses -> canonical words -> phrases (the scene) -> the key and the block."""
    lexicon = lexicon or load_lexicon()
    found = scene(prompt, lexicon)
    words, surface, shown, how = [], [], {}, {}
    block = set()
    for phrase in found.phrases:
        if phrase.role and phrase.role != FRAMING:
            words.append(phrase.role)
        for word in phrase.words:
            words.append(word.value)
            surface.append(word.text or word.value)
            shown.setdefault(word.value, word.text or word.value)
            how.setdefault(word.value, (word.text, word.rule))
            if _category(word.value, lexicon):
                block.add(word.value)
    key = tuple(sorted(p.key() for p in found.phrases))
    return PromptTokens(key, tuple(sorted(block)), tuple(words), tuple(surface), found, shown, how, prompt)


@dataclass(frozen=True)
class Verdict:
    same: bool
    reason: str


def compare(a: PromptTokens, b: PromptTokens, lexicon: Lexicon | None = None) -> Verdict:
    """The same picture, with the reason naming what differed and the rule that explains it; otherwise the attribute
    that differs."""
    lexicon = lexicon or load_lexicon()
    if a.block == b.block:
        if a.key == b.key:
            return Verdict(True, _acceptance(a, b))
        found = explain(a.scene, b.scene, lexicon)
        if found is not None:
            notes = list(found.notes) + _word_notes(a, b)
            return Verdict(True, "same picture: " + "; ".join(dict.fromkeys(notes)) if notes else
                           "same words in another order")
    return _spelled_out(a, b, lexicon) or Verdict(False, _refusal(a, b, lexicon))


def _spelled_out(a: PromptTokens, b: PromptTokens, lexicon: Lexicon) -> Verdict | None:
    """One prompt's initialism ("a PDO seal") where the other spells it out in words that run together ("a Protected
    Designation of Origin seal", "a do-it-yourself kit"): the other read with the initialism for those words says
    what the first says. Words the lists name as attributes never go into an initialism ("OJ": orange is a colour),
    and one word alone never makes one ("PC" is no "polycarbonate")."""
    for short, long in ((a, b), (b, a)):
        quoted = [(q.start, q.end) for q in find_quotes(short.prompt)]
        for said in dict.fromkeys(m.group() for m in _INITIALISM.finditer(short.prompt)
                                  if not any(start <= m.start() < end for start, end in quoted)):
            if said in long.prompt:
                continue
            for start, end in _spelling_runs(long.prompt, said.lower(), lexicon):
                if not _may_initial(said.lower(), long.prompt[start:end], lexicon):
                    continue
                other = tokenise(long.prompt[:start] + said + long.prompt[end:], lexicon)
                if other.block == short.block and (other.key == short.key or
                                                   explain(other.scene, short.scene, lexicon) is not None):
                    return Verdict(True, f"same picture: {said} = {long.prompt[start:end]} (initialism)")
    return None


def _may_initial(said: str, run: str, lexicon: Lexicon) -> bool:
    """Whether capitals may stand for a run of words: never where the run says an attribute, a number or a quote
    ("OJ": orange is a colour); capitals a dictionary knows only for three or more words giving one initial each,
    which are no chance ("LED" = "light-emitting diode"; "led" is a word, so two words never make it)."""
    if tokenise(run, lexicon).block:
        return False
    words = [w for w in _SPELLED_WORD.findall(run.lower()) if w not in _SMALL_WORDS]
    return len(words) >= 3 and len(words) == len(said) or not (known(said) or said in lexicon.words)


def _spelling_runs(prompt: str, initialism: str, lexicon: Lexicon) -> list[tuple[int, int]]:
    """(start, end) of each run of two or more words, outside quotes, joined by spaces or hyphens, whose initials
    spell `initialism` (small words may give theirs or none, and neither start nor end it)."""
    quoted = [(q.start, q.end) for q in find_quotes(prompt)]
    words = [w for w in _SPELLED_WORD.finditer(prompt) if not any(start <= w.start() < end for start, end in quoted)]
    runs = []
    for first in range(len(words)):
        for last in range(first + 1, min(first + MAX_SPELLED_WORDS, len(words))):
            if prompt[words[last - 1].end():words[last].start()].strip(" -"):
                break  # a comma or a quote ends the run
            if words[last].group().lower() in _SMALL_WORDS:
                continue
            run = [w.group().lower() for w in words[first:last + 1]]
            if run[0] in _SMALL_WORDS:
                continue
            options = [[w[0], ""] if w in _SMALL_WORDS else initials(w) for w in run]
            if spells(initialism, options):
                runs.append((words[first].start(), words[last].end()))
    return runs



def _acceptance(a: PromptTokens, b: PromptTokens) -> str:
    """Which rule matched each word one prompt has and the other has not, and which relation was turned."""
    if a.surface == b.surface:
        return "differs only in stop words or formatting"
    notes = _word_notes(a, b) + sorted(a.rewrites ^ b.rewrites)
    if notes:
        return "same picture: " + "; ".join(notes)
    if sorted(a.surface) == sorted(b.surface):
        return "same words in another order"
    only_a = sorted(set(a.surface) - set(b.surface))
    only_b = sorted(set(b.surface) - set(a.surface))
    return f"same picture: {' '.join(only_a) or '-'} ~ {' '.join(only_b) or '-'} (framing, placement or stop words, " \
           "or a compound written apart)"


def _word_notes(a: PromptTokens, b: PromptTokens) -> list[str]:
    notes = []
    for token in sorted(set(a.how) & set(b.how)):
        said_a, rule_a = a.how[token]
        said_b, rule_b = b.how[token]
        if said_a and said_b and said_a != said_b:
            notes.append(f"{said_a} = {said_b} ({_rule(token, rule_a, rule_b)})")
    return notes


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
