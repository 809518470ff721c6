"""A test backend drawing the prompt's quoted text and colour with Pillow, deliberately wrong for some seeds."""

from __future__ import annotations

import hashlib
import time
from typing import Iterator

from fluxcat.backends.base import Backend, BackendConfigError, ImageRequest, ImageResult

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
BACKGROUND = (236, 232, 224)
INK = (25, 25, 30)
PRODUCT = (120, 122, 130)  # the product block of a prompt that names no colour
WRONG_COLOUR = (0, 0, 0)  # what a colour fault paints instead: black, like a navy jacket come out black


class TextRenderBackend(Backend):
    """Rates are fractions of (prompt, seed) pairs that come out wrong in each way; 0 never, 1 always."""

    name = "text-render"

    def __init__(self, misspell_rate: float = 0.5, blank_rate: float = 0.0, wrong_colour_rate: float = 0.0,
                 max_batch: int = 8):
        for option, rate in (("misspell_rate", misspell_rate), ("blank_rate", blank_rate),
                             ("wrong_colour_rate", wrong_colour_rate)):
            if not 0 <= rate <= 1:
                raise BackendConfigError(f"text-render {option} must be between 0 and 1, got {rate}")
        self.misspell_rate, self.blank_rate, self.wrong_colour_rate = misspell_rate, blank_rate, wrong_colour_rate
        self.max_batch = max_batch

    def model_id(self, model: str) -> str:
        return f"text-render/{model}"

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        for request in requests:
            start = time.perf_counter()
            image = self.render(request.prompt, request.seed, request.width, request.height)
            yield ImageResult(request.key, image=image, seconds=time.perf_counter() - start, backend=self.name)

    def render(self, prompt: str, seed: int, width: int, height: int):
        from PIL import Image, ImageDraw

        from fluxcat.qa.expect import expected_text, prompt_colours, colour_hex

        if chance(prompt, seed, "blank") < self.blank_rate:
            return Image.new("RGB", (width, height), (0, 0, 0))
        image = Image.new("RGB", (width, height), BACKGROUND)
        draw = ImageDraw.Draw(image)
        colours = prompt_colours(prompt)
        product = colour_hex(colours[0]) if colours else PRODUCT
        if colours and chance(prompt, seed, "colour") < self.wrong_colour_rate:
            product = WRONG_COLOUR
        draw.rectangle((width // 5, height // 4, width - width // 5, height - height // 6), fill=product)
        text = expected_text({"prompt": prompt})
        if text:
            if chance(prompt, seed, "spelling") < self.misspell_rate:
                text = misspell(text, seed)
            _draw_fitted(draw, text, width, height // 8)
        return image

    def close(self) -> None:
        pass


def chance(prompt: str, seed: int, fault: str) -> float:
    """A number in [0, 1) fixed by (prompt, seed, fault): the same request always renders the same way."""
    digest = hashlib.sha256(f"{fault}|{seed}|{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def misspell(text: str, seed: int) -> str:
    """Replace about one letter in five (at least two) with other letters, as a bad text render does."""
    letters = [i for i, char in enumerate(text) if char.isalpha()]
    if not letters:
        return text + "X"
    import random

    chars = list(text)
    for index in random.Random(seed).sample(letters, min(len(letters), max(2, len(letters) // 5))):
        chars[index] = "Q" if chars[index].upper() != "Q" else "Z"
    return "".join(chars)


def _draw_fitted(draw, text: str, width: int, centre_y: int) -> None:
    from PIL import ImageFont

    size = max(12, height_for(text, width))
    font = ImageFont.truetype(FONT, size)
    while size > 12 and draw.textlength(text, font=font) > width * 0.9:
        size -= 2
        font = ImageFont.truetype(FONT, size)
    draw.text((width / 2, centre_y), text, font=font, fill=INK, anchor="mm")


def height_for(text: str, width: int) -> int:
    """A first guess at the font size that fits the text in 90% of the width (refined by measuring)."""
    return min(72, width // 10, int(width * 0.9 / max(1, len(text)) * 1.6))
