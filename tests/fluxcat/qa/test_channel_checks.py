"""Channel compliance judged on the stored image: a marketplace-main packshot passes every rule of its channel;
an off-white background, a small product, a small image or too many bytes each fail the rule that says so."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fluxcat.channels import bundled_channels
from fluxcat.qa.channels import channel_checks
from fluxcat.reference import place, read_reference, white_packshot
from tests.packshots import REFERENCES

MAIN = bundled_channels()["marketplace-main"]


def stored(image: Image.Image, image_format: str) -> tuple[Image.Image, int]:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format.upper(), **({"quality": 92} if image_format == "jpeg" else {}))
    return Image.open(io.BytesIO(buffer.getvalue())), len(buffer.getvalue())


def verdicts(checks) -> dict[str, bool]:
    return {check.name: check.passed for check in checks}


@pytest.fixture(scope="module")
def main_image():
    reference = read_reference(str(REFERENCES / "sneaker-white.png"))
    return white_packshot(place(reference, (1008, 1008), MAIN.target_fill))


def test_a_marketplace_main_packshot_passes_its_own_compliance_check_read_back_from_its_file(main_image):
    image, size = stored(main_image, MAIN.format)
    checks = channel_checks(image, MAIN, size)  # no mask given: the product is found from the pixels
    assert all(check.passed for check in checks), [c.record() for c in checks]
    assert set(verdicts(checks)) == {"channel:size", "channel:fill", "channel:background", "channel:bytes"}
    fill = next(c for c in checks if c.name == "channel:fill").detail["fill"]
    assert MAIN.fill[0] <= fill <= MAIN.fill[1]
    pixels = np.asarray(image)
    assert (pixels[:40] == 255).all() and (pixels[:, :40] == 255).all()  # the border, read back, is RGB 255


def test_an_off_white_background_fails_the_background_rule(main_image):
    pixels = np.asarray(main_image).copy()
    pixels[pixels.min(axis=2) == 255] = 250
    checks = channel_checks(Image.fromarray(pixels), MAIN)
    assert verdicts(checks) == {"channel:size": True, "channel:fill": True, "channel:background": False}
    background = next(c for c in checks if c.name == "channel:background")
    assert background.detail["pure_white_share"] == 0.0 and max(background.detail["darkest"]) <= 250


def test_a_small_product_fails_fill_and_a_small_image_fails_size():
    reference = read_reference(str(REFERENCES / "candle-jar.png"))
    small_product = white_packshot(place(reference, (1008, 1008), 0.5))
    assert verdicts(channel_checks(small_product, MAIN))["channel:fill"] is False
    small_image = white_packshot(place(reference, (800, 800), MAIN.target_fill))
    checks = channel_checks(small_image, MAIN, 20_000_000)
    assert verdicts(checks) == {"channel:size": False, "channel:fill": True, "channel:background": True,
                                "channel:bytes": False}


def test_a_scene_is_not_judged_white_and_a_light_rule_accepts_plain_light_grey():
    rng = np.random.default_rng(0)
    scene = Image.fromarray(rng.integers(0, 256, (1008, 1008, 3), dtype=np.uint8))
    assert verdicts(channel_checks(scene, MAIN))["channel:background"] is False
    ads = bundled_channels()["shopping-ads"]
    grey = Image.new("RGB", (800, 800), (236, 236, 236))
    grey.paste((20, 60, 140), (80, 80, 720, 720))
    assert verdicts(channel_checks(grey, ads)) == {"channel:size": True, "channel:fill": True, "channel:background": True}
