"""The fidelity gate's measures, on images read back from files: a composited or white output matches its reference
within the bound (also as JPEG); a raw model output, a misplaced product or edge bleed fail; for edit mode a
recoloured, replaced or relabelled product fails the part that changed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from fluxcat.qa.fidelity import edit_similarity, product_delta_e, reference_label_text
from fluxcat.qa.ocr import TextReader
from fluxcat.reference import composite, place, read_reference, white_packshot
from tests.packshots import REFERENCES

SIZE = (640, 640)


def reread(image: Image.Image, image_format: str = "PNG") -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **({"quality": 92} if image_format == "JPEG" else {}))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def noise(size=SIZE, seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def candle():
    return place(read_reference(str(REFERENCES / "candle-jar.png")), SIZE, 0.6)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_composited_and_white_outputs_match_the_reference(candle, image_format):
    for output in (composite(noise((320, 320)), candle), white_packshot(candle)):
        check = product_delta_e(reread(output, image_format), candle)
        assert check.passed, check.detail
        if image_format == "PNG":
            assert check.detail["max_delta_e"] == 0.0


def test_a_raw_output_a_shifted_product_and_edge_bleed_fail(candle):
    assert not product_delta_e(noise(), candle).passed
    shifted = composite(noise(), candle).transform(SIZE, Image.Transform.AFFINE, (1, 0, 12, 0, 1, 0))
    assert not product_delta_e(reread(shifted), candle).passed
    bled = composite(noise(), candle)
    outline = Image.fromarray(candle.mask).convert("L")
    edge = np.asarray(outline) > 0
    inner = np.asarray(outline.filter(ImageFilter.MinFilter(7))) > 0
    pixels = np.asarray(bled).copy()
    pixels[edge & ~inner] = (20, 200, 20)  # a Fill model's scene drawn 3 px into the product, not composited back
    check = product_delta_e(reread(Image.fromarray(pixels)), candle)
    assert not check.passed and check.detail["edge_delta_e"] > check.detail["edge_bound"]


@pytest.fixture(scope="module")
def read_text():
    reader = TextReader(engines=1)
    yield reader
    reader.close()


def test_edit_similarity_passes_the_kept_product_and_fails_what_changed(candle, read_text):
    label = reference_label_text(candle, read_text)
    assert label and "CEDAR" in label
    same = edit_similarity(reread(white_packshot(candle), "JPEG"), candle, label, read_text)
    assert same.passed, same.detail
    recoloured = ImageOps.invert(white_packshot(candle))  # the same shape in other colours
    check = edit_similarity(recoloured, candle, None, read_text)
    assert check.detail["failed"] == ["colour"], check.detail
    replaced = edit_similarity(noise(), candle, label, read_text)
    assert {"colour", "structure", "text"} == set(replaced.detail["failed"])
    relabelled = white_packshot(candle)
    x, y, w, h = candle.box
    ImageDraw.Draw(relabelled).rectangle((x + w // 6, y + int(h * 0.42), x + w * 5 // 6, y + int(h * 0.75)),
                                         fill=(244, 236, 214))  # the label's text painted out
    check = edit_similarity(relabelled, candle, label, read_text)
    assert check.detail["failed"] == ["text"], check.detail


def test_the_per_pixel_delta_e_agrees_with_coloraide_an_independent_ciede2000():
    from coloraide import Color

    from fluxcat.qa.fidelity import delta_e_map

    rng = np.random.default_rng(3)
    found = rng.integers(0, 256, (1, 300, 3), dtype=np.uint8)
    expected = np.clip(found.astype(np.int16) + rng.integers(-40, 41, (1, 300, 3)), 0, 255).astype(np.uint8)
    ours = delta_e_map(found, expected, np.ones((1, 300), dtype=bool))[0]
    theirs = [Color("srgb", list(a / 255)).delta_e(Color("srgb", list(b / 255)), method="2000")
              for a, b in zip(found[0], expected[0])]
    assert np.allclose(ours, theirs, atol=0.01)
