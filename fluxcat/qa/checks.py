"""The QA checks: each looks at one image and returns a verdict with a 0-1 score and what it measured."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

from fluxcat.qa import QaSettings

if TYPE_CHECKING:
    from PIL.Image import Image

# A new seed can fix these (fidelity: an edit that lost the product); a wrong colour or a broken channel rule is
# flagged as it is.
RETRIABLE = frozenset({"blank", "text", "fidelity"})
SAMPLE_SIDE = 64  # the blank check reads a 64x64 grid of pixels: nearest-neighbour keeps each pixel's own value
ReadText = Callable[["Image"], str]  # an OCR reader: all text found in an image


@dataclass
class Check:
    name: str
    passed: bool
    score: float
    detail: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"passed": self.passed, "score": round(self.score, 4), **self.detail}


def blank_check(image: "Image", settings: QaSettings) -> Check:
    """Uniform, near-black or near-white, judged in colour: what providers send back for a safety-blanked or broken
    result. Colour counts: a flat yellow product on cream has nearly one grey level but two colours, so it passes."""
    import numpy as np
    from PIL import Image as PILImage

    sample = (image.convert("RGB") if image.mode != "RGB" else image).resize((SAMPLE_SIDE, SAMPLE_SIDE),
                                                                          PILImage.Resampling.NEAREST)
    counts = np.asarray(sample.histogram(), dtype=np.float64).reshape(3, 256)  # in C: no per-pixel Python
    levels, squares = _levels()
    pixels = SAMPLE_SIDE * SAMPLE_SIDE
    means = counts @ levels / pixels
    variances = np.maximum(0.0, counts @ squares / pixels - means * means)
    spread = math.sqrt(float(variances.sum()))  # colour standard deviation: the RGB distance from the mean colour
    darkest, lightest = float(means.max()), float(means.min())
    problem = ("uniform" if spread < settings.blank_std else "near-black" if darkest < settings.dark_mean
               else "near-white" if lightest > settings.light_mean else None)
    detail = {"mean": [round(float(m), 1) for m in means], "std": round(spread, 2)} | ({"problem": problem} if problem else {})
    return Check("blank", problem is None, 0.0 if problem else 1.0, detail)


@lru_cache(maxsize=1)
def _levels():
    """Grey levels 0-255 and their squares, as arrays (made once)."""
    import numpy as np

    levels = np.arange(256, dtype=np.float64)
    return levels, levels * levels


def text_check(image: "Image", expected: str, settings: QaSettings, read_text: ReadText) -> Check:
    found = read_text(image)
    score = similarity(expected, found)
    return Check("text", score >= settings.text_similarity, score, {"expected": expected, "found": found})


def colour_check(image: "Image", target_hex: str, source: str, settings: QaSettings) -> Check:
    from coloraide import Color

    found = dominant_colour(image)
    delta_e = float(Color(target_hex).delta_e(Color(found), method="2000"))
    return Check("colour", delta_e <= settings.colour_delta_e, max(0.0, 1.0 - delta_e / 100.0),
                 {"expected": target_hex, "from": source, "found": found, "delta_e": round(delta_e, 2)})


def dominant_colour(image: "Image") -> str:
    """The most common colour of the centre crop (the product region), after median-cut to 6 colours."""
    from PIL import Image

    width, height = image.size
    crop = image.convert("RGB").crop((width // 4, height // 4, width - width // 4, height - height // 4))
    palette_image = crop.resize((64, 64)).quantize(colors=6, method=Image.Quantize.MEDIANCUT)
    count, index = max(palette_image.getcolors())
    red, green, blue = palette_image.getpalette()[3 * index:3 * index + 3]
    return f"#{red:02x}{green:02x}{blue:02x}"


def normalise_text(text: str) -> str:
    """Case, spaces and punctuation dropped: OCR reads letters, not layout."""
    return re.sub(r"[\W_]+", "", text.casefold())


def similarity(expected: str, found: str) -> float:
    """1 - Levenshtein distance / length of the longer text, on normalised text."""
    a, b = normalise_text(expected), normalise_text(found)
    if not a and not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))
