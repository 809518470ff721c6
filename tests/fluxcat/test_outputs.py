"""Per-output planning: reference and channel columns checked per row, the model picked by mode with the reason
recorded, one output per channel at its own aspect ratio, and content keys that change with the reference, exactly."""

from __future__ import annotations

import math
import shutil

import pytest

from fluxcat.channels import bundled_channels
from fluxcat.outputs import OutputOptions, plan_outputs
from fluxcat.plan import content_key, plan_row
from fluxcat.reference import ReferenceReader
from tests.packshots import REFERENCES


@pytest.fixture
def shop(tmp_path):
    """A catalog folder with the sample packshots under refs/."""
    shutil.copytree(REFERENCES, tmp_path / "refs")
    return tmp_path


def planned(row: dict, shop, **options):
    options = OutputOptions(reader=ReferenceReader(catalog_url=str(shop / "catalog.parquet")), **options)
    result = plan_row({"prompt": "a candle on an oak shelf, morning light", **row}, 0, outputs=options)
    if result.rejected:
        raise ValueError(result.rejected)
    return result, options


def keys(row, options, seed=7) -> dict:
    return {(o.channel, o.mode): content_key("m", row.prompt, o.width, o.height, row.steps, row.guidance, seed, 0,
                                             o.key_extra(row.reference))
            for o in plan_outputs(row, options)}


@pytest.mark.parametrize("mode, model, reason", [
    (None, "fill", "model fill (reference_mode background: FLUX.1 Fill"),
    ("edit", "kontext", "model kontext (reference_mode edit: FLUX.1 Kontext"),
    ("white", "packshot", "model packshot (reference_mode white: the packshot placed on pure white"),
])
def test_the_mode_picks_the_model_and_says_why(shop, mode, model, reason):
    row, _ = planned({"reference_image": "refs/candle-jar.png", "reference_mode": mode}, shop)
    assert row.model == model and row.reference.mode == (mode or "background")
    assert any(c.startswith(reason) for c in row.corrections), row.corrections
    assert row.reference.mask_source == "alpha" and len(row.reference.sha256) == 64


def test_an_explicit_model_gives_way_to_the_mode_and_its_own_numbers_are_kept(shop):
    row, _ = planned({"reference_image": "refs/candle-jar.png", "model": "schnell", "num_inference_steps": 20,
                      "guidance_scale": 12.0}, shop)
    assert (row.model, row.steps, row.guidance) == ("fill", 20, 12.0)
    assert row.corrections == ["model schnell -> fill (reference_mode background: FLUX.1 Fill makes the scene around "
                               "the product's own pixels)"]  # nothing about schnell's steps: they no longer apply
    default, _ = planned({"reference_image": "refs/candle-jar.png"}, shop)
    assert (default.steps, default.guidance) == (28, 30.0)  # FLUX.1 Fill's own guidance scale


@pytest.mark.parametrize("columns, reason", [
    ({"reference_mode": "white"}, "reference_mode 'white' needs a reference_image"),
    ({"reference_image": "refs/candle-jar.png", "reference_mode": "inpaint"}, "unknown reference_mode 'inpaint'"),
    ({"reference_image": 42}, "reference_image must be a URL or path of an image, got 42"),
    ({"reference_image": "refs/nope.png"}, r"reference_image 'refs/nope.png' \(at /.*/refs/nope.png\) not found"),
    ({"channels": "marketplace-main,tiktok"}, "unknown channel 'tiktok'"),
    ({"channels": [1, 2]}, "channels must be text"),
])
def test_bad_columns_reject_the_row_with_the_reason(shop, columns, reason):
    with pytest.raises(ValueError, match=reason):
        planned(columns, shop)


def test_one_output_per_channel_at_its_aspect_with_a_white_packshot_where_the_channel_demands_white(shop):
    names = "marketplace-main,marketplace-secondary,storefront-square,social-feed-portrait,shopping-ads"
    row, options = planned({"reference_image": "refs/sneaker-white.png", "channels": names}, shop)
    outputs = {o.channel: o for o in plan_outputs(row, options)}
    assert list(outputs) == names.split(",")
    specs = bundled_channels()
    for name, output in outputs.items():
        spec = specs[name]
        assert abs(math.log(output.width / output.height / spec.ratio)) < 0.01  # generated natively at the aspect
        assert output.delivered == (spec.size or output.delivered) and max(output.delivered) >= (spec.min_longest or 0)
        x, y, w, h = output.product_box
        fill = max(w / output.delivered[0], h / output.delivered[1])
        assert spec.fill[0] <= fill <= spec.fill[1] and x >= 0 and y >= 0
    assert (outputs["marketplace-main"].mode, outputs["marketplace-main"].model) == ("white", "packshot")
    assert (outputs["shopping-ads"].mode, outputs["social-feed-portrait"].mode) == ("white", "background")
    assert outputs["storefront-square"].delivered == (2048, 2048) and outputs["storefront-square"].width == 1024
    assert "upscaled to 2048x2048 for delivery" in outputs["storefront-square"].corrections[0]


def test_a_changed_reference_changes_every_output_key_of_its_row_and_no_other(shop):
    channels = {"channels": "marketplace-main,social-feed-portrait"}
    candle, options = planned({"reference_image": "refs/candle-jar.png", **channels}, shop)
    sneaker, _ = planned({"reference_image": "refs/sneaker-white.png", **channels}, shop)
    text, _ = planned(channels, shop)
    before = [keys(row, options) for row in (candle, sneaker, text)]
    shutil.copy(REFERENCES / "mug-offwhite.jpg", shop / "refs" / "candle-jar.png")  # the product photo is replaced
    candle2, options2 = planned({"reference_image": "refs/candle-jar.png", **channels}, shop)
    sneaker2, _ = planned({"reference_image": "refs/sneaker-white.png", **channels}, shop)
    text2, _ = planned(channels, shop)
    after = [keys(row, options2) for row in (candle2, sneaker2, text2)]
    assert len(before[0]) == 2 and all(before[0][k] != after[0][k] for k in before[0])
    assert before[1:] == after[1:]
    assert candle.params != candle2.params  # and never merged with a row of another reference by dedupe


def test_a_text_only_output_at_its_own_size_keeps_the_key_it_always_had(shop):
    row, options = planned({}, shop)
    (output,) = plan_outputs(row, options)
    assert output.key_extra(None) is None and (output.width, output.height) == (row.width, row.height)
