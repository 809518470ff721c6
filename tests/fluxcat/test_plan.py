"""Planning rules: adaptive model, resolution, steps/guidance, seeds, validation and content keys."""

import math

import pytest

from fluxcat.limits import MAX_SLOT_PIXELS
from fluxcat.plan import content_key, plan_row, resolution_for_display, select_model

LONG = " ".join(["word"] * 25)


def plan(**row):
    return plan_row(row, 0)


@pytest.mark.parametrize("row, model", [
    ({"prompt": "a red mug"}, "schnell"),                                   # short prompt
    ({"prompt": LONG}, "dev"),                                              # long prompt
    ({"prompt": LONG, "realtime": True}, "schnell"),                        # realtime wins
    ({"prompt": LONG, "quality": "draft"}, "schnell"),                      # draft wins
    ({"prompt": "a sign saying SALE", "text_rendering": True}, "dev"),      # text -> dev
    ({"prompt": "a red mug", "model": "dev"}, "dev"),                       # explicit model
])
def test_model_selection(row, model):
    assert plan(**row).model == model


def test_select_model_order_matches_the_guide():
    assert select_model("x", "draft", realtime=False, text_rendering=True) == "schnell"
    assert select_model("x", "balanced", realtime=False, text_rendering=True) == "dev"


def test_schnell_is_corrected_to_four_steps_and_no_guidance_and_says_so():
    row = plan(prompt="a mug", model="schnell", num_inference_steps=8, guidance_scale=3.5)
    assert (row.steps, row.guidance) == (4, 0.0)
    assert any("num_inference_steps 8 -> 4" in c for c in row.corrections)
    assert any("guidance_scale 3.5 -> 0" in c for c in row.corrections)


def test_schnell_accepts_zero_guidance_silently():
    row = plan(prompt="a mug", model="schnell", guidance_scale=0.0)
    assert row.rejected is None and row.corrections == []


@pytest.mark.parametrize("quality, steps", [("draft", 20), ("balanced", 28), ("high", 40), ("maximum", 50)])
def test_dev_steps_follow_quality(quality, steps):
    row = plan(prompt=LONG, model="dev", quality=quality)
    assert (row.steps, row.guidance) == (steps, 3.5)


def test_dev_keeps_explicit_steps_and_guidance():
    row = plan(prompt=LONG, model="dev", num_inference_steps=33, guidance_scale=7.5)
    assert (row.steps, row.guidance) == (33, 7.5)


def test_size_precedence_explicit_then_named_then_display_then_default():
    assert (plan(prompt="x", width=640, height=480, image_size="square").width, ) == (640,)
    assert (plan(prompt="x", image_size="portrait_16_9").width, plan(prompt="x", image_size="portrait_16_9").height) == (576, 1024)
    row = plan(prompt="x", display_width=400, display_height=300, device_pixel_ratio=2)
    assert (row.width, row.height) == (832, 624)  # 4:3 kept
    assert (plan(prompt="x").width, plan(prompt="x").height) == (1024, 1024)


def test_sizes_snap_to_sixteen_within_range_and_record_it():
    row = plan(prompt="x", width=650, height=100)
    assert (row.width, row.height) == (656, 256)
    assert row.corrections == ["size 650x100 -> 656x256 (multiples of 16 within 256-2048)"]
    big = plan(prompt="x", width=5000, height=1030)
    assert (big.width, big.height) == (2048, 1024)


@pytest.mark.parametrize("display, size", [
    ((500, 500), (512, 512)), ((600, 400), (624, 416)), ((300, 900), (304, 912)),
    ((600 * 2, 400 * 2), (1200, 800)),  # display 600x400 at DPR 2: a 3:2 image, not 1024x1024
    ((1080, 1350), (912, 1136)),  # over the pixel cap: the 4:5 shape kept at about 1 megapixel
    ((3000, 3000), (1024, 1024)), ((100, 50), (512, 256)),
])
def test_a_display_size_keeps_its_aspect_ratio(display, size):
    assert resolution_for_display(*display) == size
    width, height = size
    assert abs(math.log(width / height / (display[0] / display[1]))) < 0.01
    assert width % 16 == 0 and height % 16 == 0 and width * height <= MAX_SLOT_PIXELS
    if display[0] * display[1] <= MAX_SLOT_PIXELS:
        assert width >= display[0] and height >= display[1]


def test_a_display_size_that_is_not_made_exactly_is_recorded():
    row = plan(prompt="x", display_width=600, display_height=400, device_pixel_ratio=2)
    assert (row.width, row.height, row.corrections) == (1200, 800, [])
    big = plan(prompt="x", display_width=5000, display_height=5000)
    assert (big.width, big.height) == (1024, 1024)
    assert big.corrections == ["display size 5000x5000 at pixel ratio 1 -> 1024x1024 (its 1:1 aspect ratio kept, capped "
                               f"at {MAX_SLOT_PIXELS} pixels: the image will be upscaled for display)"]
    assert plan(prompt="x", display_width=600, display_height=400).corrections == [
        "display size 600x400 at pixel ratio 1 -> 624x416 (its 3:2 aspect ratio kept, the smallest size on FLUX's "
        "16-pixel grid that covers it)"]


@pytest.mark.parametrize("row, reason", [
    ({"prompt": None}, "prompt is empty"),
    ({"prompt": "   "}, "prompt is blank"),
    ({"prompt": "x" * 1001}, "1001 characters"),
    ({"prompt": "x", "num_images": 5}, "num_images 5 is out of range 1-4"),
    ({"prompt": "x", "model": "pro"}, "unknown model 'pro'"),
    ({"prompt": "x", "image_size": "huge"}, "unknown image_size 'huge'"),
    ({"prompt": "x", "quality": "ultra"}, "unknown quality 'ultra'"),
    ({"prompt": "x", "model": "dev", "guidance_scale": 25.0}, "guidance_scale 25 is out of range 1-20"),
    ({"prompt": "x", "num_inference_steps": 51}, "num_inference_steps 51 is out of range 1-50"),
    ({"prompt": "x", "seed": -1}, "seed -1 is out of range"),
    ({"prompt": "x", "seed": 1.5}, "seed must be a whole number"),
    ({"prompt": "x", "width": 512}, "give both width and height"),
    ({"prompt": "x", "width": -5, "height": 512}, "width must be a positive number"),
    ({"prompt": "x", "display_width": 300}, "give both display_width and display_height"),
    # values of the wrong type or beyond what a float can say: each its own true reason, never an exception
    ({"prompt": 42}, "prompt must be text, got int 42"),
    ({"prompt": ["a", "mug"]}, "prompt must be text, got list ['a', 'mug']"),
    ({"prompt": b"\xff\xfe"}, "prompt is binary data that is not UTF-8 text: b'\\xff\\xfe'"),
    ({"prompt": "x", "seed": float("inf")}, "seed must be a finite whole number, got inf"),
    ({"prompt": "x", "seed": float("-inf")}, "seed must be a finite whole number, got -inf"),
    ({"prompt": "x", "num_inference_steps": float("inf")}, "num_inference_steps must be a finite whole number"),
    ({"prompt": "x", "num_images": float("-inf")}, "num_images must be a finite whole number"),
    ({"prompt": "x", "seed": 2**63 - 1}, "seed 9223372036854775807 is out of range 0-4294967295"),
    ({"prompt": "x", "model": "dev", "guidance_scale": float("inf")}, "guidance_scale must be a finite number"),
    ({"prompt": "x", "image_size": ["square"]}, "unknown image_size ['square']"),
    ({"prompt": "x", "model": {"name": "dev"}}, "unknown model {'name': 'dev'}"),
    ({"prompt": "x", "width": float("inf"), "height": 512}, "width must be a positive number, got inf"),
    ({"prompt": "x", "display_width": 300, "display_height": 300, "device_pixel_ratio": "2"},
     "device_pixel_ratio must be a positive number, got '2'"),
    ({"prompt": "x", "realtime": "maybe"}, "realtime must be true or false, got 'maybe'"),
    ({"prompt": "x", "seed": list(range(1000))}, "seed must be a whole number, got [0, 1, 2"),
])
def test_bad_rows_are_rejected_with_a_reason(row, reason):
    planned = plan(**row)
    assert planned.rejected is not None and reason in planned.rejected


def test_a_rejected_prompt_of_another_type_is_not_carried_as_text():
    assert plan(prompt=42).prompt is None
    assert len(plan(prompt="x", seed=list(range(1000))).rejected) < 200  # a huge value is quoted short


def test_a_utf8_binary_prompt_reads_as_text():
    row = plan(prompt="a café mug".encode())
    assert row.rejected is None and row.prompt == "a café mug" and row.id == plan(prompt="a café mug").id


def test_the_largest_seed_and_text_flags_are_accepted():
    assert plan(prompt="x", seed=2**32 - 1).seed == 2**32 - 1
    assert plan(prompt="a mug", realtime="false", quality="high", model="auto").rejected is None


def test_seed_is_derived_from_prompt_and_params_not_id():
    a = plan_row({"id": "A", "prompt": "A red mug."}, 0)
    b = plan_row({"id": "B", "prompt": "a red  mug"}, 1)
    c = plan_row({"id": "A", "prompt": "a blue mug"}, 2)
    d = plan_row({"id": "A", "prompt": "a red mug", "image_size": "square"}, 3)
    assert a.seed == b.seed
    assert a.seed != c.seed and a.seed != d.seed
    assert plan_row({"prompt": "x", "seed": 7}, 0).seed == 7


def test_multiple_images_get_consecutive_seeds():
    assert plan(prompt="x", seed=10, num_images=3).image_seeds() == [10, 11, 12]


def test_content_key_changes_with_everything_that_decides_pixels():
    base = ("m@1", "p", 512, 512, 4, 0.0, 1, 0)
    keys = {content_key(*base)}
    for position, value in enumerate(["m@2", "q", 768, 768, 5, 1.0, 2, 1]):
        changed = list(base)
        changed[position] = value
        keys.add(content_key(*changed))
    assert len(keys) == 9
    assert content_key(*base) == content_key(*base)
    assert all(len(k) == 32 and set(k) <= set("0123456789abcdef") for k in keys)


def test_default_id_is_derived_from_the_prompt():
    assert plan_row({"prompt": "a mug"}, 0).id == plan_row({"prompt": "a mug"}, 5).id
    assert plan_row({"prompt": "a mug"}, 0).id != plan_row({"prompt": "a cup"}, 0).id
