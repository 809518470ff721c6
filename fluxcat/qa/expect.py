"""What a row promises its image shows: the text it quotes (or its `text` column) and the colour it names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from fluxcat.quoted import quoted_texts, without_quotes

if TYPE_CHECKING:
    from fluxcat.channels import ChannelSpec
    from fluxcat.reference import Placement

_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
# Lexicon colour words CSS does not define, as hex; every other one is looked up by coloraide (CSS names).
EXTRA_COLOURS = {"golden": "#d4a017", "cream": "#fffdd0", "oatmeal": "#d9cdb8", "burgundy": "#800020",
                 "charcoal": "#36454f", "rose": "#ff007f", "copper": "#b87333", "bronze": "#cd7f32"}
# Lexicon colour words that name no single colour to measure.
NOT_ONE_COLOUR = frozenset({"neon", "pastel", "multicolor", "transparent", "clear"})
# A colour word right before one of these describes the setting, not the product ("on a white background").
SETTING_WORDS = frozenset({"background", "backdrop", "wall", "table", "surface", "floor", "studio", "light", "lighting"})


@dataclass(frozen=True)
class Expectation:
    """The checks a row asks for beyond the blank check; `notes` says why a check was left out. An output made from
    a reference also promises its product (placed at product_box), and one made for a channel that channel's rules."""

    text: str | None = None
    colour: str | None = None  # "#rrggbb"
    colour_source: str | None = None  # "color_hex" or the colour word of the prompt
    notes: tuple[str, ...] = ()
    mode: str | None = None  # reference_mode: background | edit | white
    product: "Placement | None" = None  # the reference at product_box, in the delivered frame
    label_text: str | None = None  # edit: the text on the reference's label, to read back
    channel: "ChannelSpec | None" = None

    @property
    def slow(self) -> bool:
        """Checks that take more than a millisecond (OCR, product, channel): judged on the QA threads."""
        return bool(self.text or self.product is not None or self.channel is not None)


def expectation(row: dict) -> Expectation:
    colour, source, notes = _colour(row)
    return Expectation(text=expected_text(row), colour=colour, colour_source=source, notes=notes)


def expected_text(row: dict) -> str | None:
    """The `text` column if set, else the prompt's quoted passages (any quote style), joined."""
    text = row.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    return " ".join(quoted_texts(row.get("prompt") or "")) or None


def _colour(row: dict) -> tuple[str | None, str | None, tuple[str, ...]]:
    value = row.get("color_hex")
    if isinstance(value, str) and value.strip():
        match = _HEX.fullmatch(value.strip())
        if match:
            return f"#{match.group(1).lower()}", "color_hex", ()
        return None, None, (f"color_hex {value!r} is not #rrggbb: colour not checked",)
    words = prompt_colours(row.get("prompt") or "")
    if len(words) == 1:
        return colour_hex(words[0]), words[0], ()
    if len(words) > 1:
        return None, None, (f"prompt names several colours ({', '.join(words)}): colour not checked",)
    return None, None, ()


def prompt_colours(prompt: str) -> list[str]:
    """Distinct colour words of the attribute lexicon in the prompt, outside quoted text and the setting, in order."""
    words = re.findall(r"[a-z]+", without_quotes(prompt).casefold())
    found = (w for w, after in zip(words, words[1:] + [""]) if w in colour_words() and after not in SETTING_WORDS)
    return list(dict.fromkeys(found))


@lru_cache(maxsize=1)
def colour_words() -> frozenset[str]:
    """The lexicon's colour words that name one measurable colour (fluxcat/data/attributes.json)."""
    data = json.loads(resources.files("fluxcat.data").joinpath("attributes.json").read_text())
    return frozenset(data["attributes"]["colour"]) - NOT_ONE_COLOUR


@lru_cache(maxsize=64)
def colour_hex(word: str) -> str:
    if word in EXTRA_COLOURS:
        return EXTRA_COLOURS[word]
    from coloraide import Color

    return Color(word).convert("srgb").to_string(hex=True)
