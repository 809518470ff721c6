"""Prompt normalisation for exact dedupe: case, punctuation, hyphens, number-unit joins, British spellings."""

from __future__ import annotations

import re
import unicodedata

from fluxcat.quoted import split_quoted

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
    text = unicodedata.normalize("NFKC", prompt)
    # any quote style is one spelling of the same text: 'HELLO' and "HELLO" make the same image
    parts = [f'"{quote.text}"' if quote else normalise_plain(piece) for piece, quote in split_quoted(text)]
    return _SPACES.sub(" ", " ".join(parts)).strip()


def normalise_plain(text: str) -> str:
    """Normalise text outside quotes: case, punctuation, hyphens, number-unit joins, British spellings."""
    text = _HYPHEN_BETWEEN_LETTERS.sub(" ", text.lower())
    text = _NUMBER_UNIT.sub(" ", _AMPERSAND.sub(" and ", _LONE_DASH.sub(" ", text)))
    text = _PUNCT.sub(" ", text)
    return " ".join(SPELLINGS.get(word, word) for word in text.split())
