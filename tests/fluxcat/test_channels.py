"""Channel packs as data: the bundled file loads and cites a guideline per channel, a user's file extends it, bad
files fail with the field, and each channel's sizes follow its aspect ratio."""

from __future__ import annotations

import json
import math

import pytest

from fluxcat.channels import bundled_channels, cap_note, load_channels, parse_channel_names
from fluxcat.errors import UserError
from fluxcat.limits import MAX_SLOT_PIXELS
from fluxcat.plan import size_for_slot

REQUIRED = {"marketplace-main", "marketplace-secondary", "storefront-square", "social-feed-portrait", "shopping-ads"}


def test_the_bundled_pack_has_the_channels_the_issue_names_each_citing_its_guideline():
    channels = bundled_channels()
    assert REQUIRED <= set(channels)
    for spec in channels.values():
        assert spec.guideline.url.startswith("https://") and spec.guideline.rules
    main = channels["marketplace-main"]
    assert (main.background, main.min_longest, main.fill[0]) == ("white", 1000, 0.85)
    assert channels["storefront-square"].size == (2048, 2048)
    assert channels["social-feed-portrait"].size == (1080, 1350)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_channel_is_generated_at_its_own_aspect_ratio_and_delivered_at_its_size(name):
    spec = bundled_channels()[name]
    generated = size_for_slot(*spec.slot)
    assert abs(math.log(generated[0] / generated[1] / spec.ratio)) < 0.01 and generated[0] * generated[1] <= MAX_SLOT_PIXELS
    delivered = spec.delivered_size(generated)
    if spec.size:
        assert delivered == spec.size
    else:
        assert max(delivered) >= spec.min_longest
    assert (cap_note(spec, generated) is None) == (delivered == generated)


def test_a_users_file_adds_and_replaces_channels(tmp_path):
    own = {"channels": {
        "marketplace-main": {**json.loads(bundled_channels()["marketplace-main"].model_dump_json(exclude={"name"})),
                             "min_longest": 1600},
        "print-catalog": {"title": "Print catalogue", "size": [1200, 1600], "aspect": "3:4", "background": "any",
                          "fill": [0.4, 0.8], "format": "png", "max_bytes": 50000000,
                          "guideline": {"source": "our print shop", "url": "https://example.com/print", "rules": "3:4"}},
    }}
    path = tmp_path / "channels.json"
    path.write_text(json.dumps(own))
    channels = load_channels(str(path))
    assert channels["marketplace-main"].min_longest == 1600 and channels["print-catalog"].format == "png"
    assert REQUIRED <= set(channels)


@pytest.mark.parametrize("entry, problem", [
    ({"size": [1000, 1000], "min_longest": 1000}, "give exactly one of size"),
    ({"aspect": "square"}, "aspect must be 'width:height'"),
    ({"size": [1000, 1200], "min_longest": None}, "does not have the aspect ratio 1:1"),
    ({"fill": [0.9, 0.5]}, "fill must be"),
    ({"background": "transparent"}, "channels.x.background"),
    ({"colour": "red"}, "Extra inputs are not permitted"),
])
def test_a_bad_channels_file_fails_before_any_work_naming_the_field(tmp_path, entry, problem):
    base = json.loads(bundled_channels()["marketplace-main"].model_dump_json(exclude={"name"}))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"channels": {"x": {**base, **entry}}}))
    with pytest.raises(UserError, match=problem):
        load_channels(str(path))


def test_channel_names_are_checked_against_the_pack():
    known = bundled_channels()
    assert parse_channel_names("marketplace-main, social-feed-portrait,marketplace-main", known) == (
        "marketplace-main", "social-feed-portrait")
    assert parse_channel_names(["shopping-ads"], known) == ("shopping-ads",)
    with pytest.raises(ValueError, match="unknown channel 'tiktok'"):
        parse_channel_names("tiktok", known)
