"""Prompt normalisation for exact dedupe: meaning-keeping Unicode folding, case, punctuation, hyphens, number-unit
joins, British spellings."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from fluxcat.lookalikes import is_ignorable, lookalike_in, script
from fluxcat.quoted import split_quoted

# Compatibility forms that carry a value of their own: "10²" is not "102", "½" not "12", "①" not "1".
VALUE_FORMS = frozenset({"<super>", "<sub>", "<fraction>", "<circle>"})
# Scripts whose letters pass for each other's (Latin "a", Cyrillic "а", Greek "α"...): a word mostly in one of them
# gets the look-alikes of the others folded into its own script. Words of other scripts are never touched.
LOOKALIKE_SCRIPTS = frozenset({"Latn", "Cyrl", "Grek"})
_WORD = re.compile(r"[^\W\d_]+")

_HYPHEN_BETWEEN_LETTERS = re.compile(r"(?<=[^\W\d_])[-_/](?=[^\W\d_])")
# "27-inch", "27 inch" and "27inch" are one spelling; so are "750ml" and "750 ml".
_NUMBER_UNIT = re.compile(r"(?<=\d)-?(?=[^\W\d_])|(?<=[^\W\d_])-(?=\d)")
_AMPERSAND = re.compile(r"\s*&\s*")
_LONE_DASH = re.compile(r"(?<!\S)[-–—]+(?!\S)")
# Punctuation is dropped unless it sits between two digits ("5.5", "1,000", "3/4" keep theirs).
_PUNCT = re.compile(r"(?<!\d)[.,;:!?()\[\]{}'](?!\d)|(?<=\d)[.,;:!?()\[\]{}'](?!\d)|(?<!\d)[.,;:!?()\[\]{}'](?=\d)")
_SPACES = re.compile(r"\s+")

# British -> American spellings: cheap wins for exact matching. Data, not branches.
SPELLINGS = {
    "colour": "color", "colours": "colors", "coloured": "colored", "grey": "gray",
    "jewellery": "jewelry", "aluminium": "aluminum", "centre": "center", "favourite": "favorite",
    "organise": "organize", "organiser": "organizer", "personalised": "personalized",
    "metre": "meter", "metres": "meters", "litre": "liter", "litres": "liters",
    "theatre": "theater", "fibre": "fiber", "mould": "mold", "pyjamas": "pajamas",
    "moustache": "mustache", "tyre": "tire", "tyres": "tires", "cosy": "cozy", "mum": "mom",
}


def normalise_prompt(prompt: str) -> str:
    """Normalise a prompt for exact matching; quoted text (what the image spells out) is kept verbatim."""
    text = fold_unicode(prompt)
    # any quote style is one spelling of the same text: 'HELLO' and "HELLO" make the same image
    parts = [f'"{quote.text}"' if quote else _plain(piece) for piece, quote in split_quoted(text)]
    return _SPACES.sub(" ", " ".join(parts)).strip()


def normalise_plain(text: str) -> str:
    """Normalise text outside quotes: Unicode folding, digits, case, punctuation, hyphens, number-unit joins,
    British spellings."""
    return _plain(fold_unicode(text))


def fold_unicode(text: str) -> str:
    """What changes no meaning: invisible (default-ignorable) code points removed; compatibility forms folded unless
    they carry a value (widths and ligatures fold, superscripts, subscripts, fractions, circled numbers stay); a
    look-alike letter of another script inside a Latin, Cyrillic or Greek word spelled in the word's own script."""
    text = unicodedata.normalize("NFC", "".join(_fold_char(c) for c in text if not is_ignorable(c)))
    return _WORD.sub(_one_script, text)


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    decomposition = unicodedata.decomposition(char).split()
    if not decomposition or decomposition[0] in VALUE_FORMS:
        return char
    codes = decomposition[1:] if decomposition[0].startswith("<") else decomposition
    return "".join(_fold_char(chr(int(code, 16))) for code in codes)


def _one_script(word: re.Match) -> str:
    text = word.group(0)
    scripts = Counter(script(c) for c in text)
    if len(scripts) < 2:
        return text
    (main, count), (_, runner_up) = scripts.most_common(2)
    if main not in LOOKALIKE_SCRIPTS or count == runner_up:
        return text
    return "".join(_in_script(c, main) for c in text)


def _in_script(char: str, main: str) -> str:
    if script(char) == main or script(char) not in LOOKALIKE_SCRIPTS:
        return char
    return lookalike_in(char, main) or char


def _digits(text: str) -> str:
    """Decimal digits of any script as ASCII (same value): Arabic-Indic ٣ is 3."""
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def _plain(text: str) -> str:
    text = _HYPHEN_BETWEEN_LETTERS.sub(" ", _digits(text).lower())
    text = _NUMBER_UNIT.sub(" ", _AMPERSAND.sub(" and ", _LONE_DASH.sub(" ", text)))
    text = _PUNCT.sub(" ", text)
    return " ".join(SPELLINGS.get(word, word) for word in text.split())
