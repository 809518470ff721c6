"""Quoted text in a prompt (what the image must spell out), in every quote style, found in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Each style's opening and closing marks. A single quote (' or ’) doubles as an apostrophe, so it opens only where
# no letter precedes it, closes only where no letter follows it, and inside a quote it may stand before a letter:
# "a child's 'DON'T PANIC' mug" quotes DON'T PANIC; "the kids' mugs" quotes nothing.
QUOTED = re.compile(
    r'"(?P<straight>[^"]*)"'
    r"|“(?P<curly>[^”]*)”"
    r"|„(?P<low>[^“”]*)[“”]"
    r"|«\s?(?P<guillemet>[^»]*?)\s?»"
    r"|‹\s?(?P<single_guillemet>[^›]*?)\s?›"
    r"|「(?P<corner>[^」]*)」"
    r"|(?<!\w)'(?P<single>(?:[^'\n]|'(?=\w))*?)'(?!\w)"
    r"|(?<!\w)‘(?P<curly_single>(?:[^’\n]|’(?=\w))*?)’(?!\w)"
)


@dataclass(frozen=True)
class Quote:
    start: int
    end: int
    text: str  # between the marks, as written


def find_quotes(text: str) -> list[Quote]:
    """Every quoted passage of the text, in order."""
    return [Quote(m.start(), m.end(), next(g for g in m.groups() if g is not None)) for m in QUOTED.finditer(text)]


def quoted_texts(text: str) -> list[str]:
    """The non-empty quoted passages, stripped."""
    return [q.text.strip() for q in find_quotes(text) if q.text.strip()]


def split_quoted(text: str) -> list[tuple[str, Quote | None]]:
    """The text cut into plain and quoted pieces, in order: (plain text, None) or (the whole quote, Quote)."""
    pieces: list[tuple[str, Quote | None]] = []
    last = 0
    for quote in find_quotes(text):
        pieces.append((text[last:quote.start], None))
        pieces.append((text[quote.start:quote.end], quote))
        last = quote.end
    pieces.append((text[last:], None))
    return pieces


def without_quotes(text: str) -> str:
    """The text with each quoted passage replaced by a space."""
    return "".join(" " if quote else piece for piece, quote in split_quoted(text))
