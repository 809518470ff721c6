"""Reference images: reading from fsspec URLs, the product mask (alpha, flood fill, a plugged-in segmenter), bad
references rejected with their reason, placement at a fill ratio, and the white packshot and composite built on it."""

from __future__ import annotations

import io

import fsspec
import numpy as np
import pytest
from PIL import Image, ImageDraw

from fluxcat.errors import UserError
from fluxcat.reference import (
    Reference, ReferenceReader, ReferenceRejected, composite, decode_reference, fill_inputs, kontext_input,
    load_segmenter, place, read_reference, resolve_reference_url, white_packshot,
)
from fluxcat.reference.place import box_for
from tests.packshots import PACKSHOTS, REFERENCE_ROWS, REFERENCES, SAMPLE_CATALOG, encoded, with_reference_rows


def png(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def disc(size=256, background=(255, 255, 255), colour=(30, 90, 160), mode="RGB") -> Image.Image:
    image = Image.new(mode, (size, size), background if mode == "RGB" else background + (0,))
    ImageDraw.Draw(image).ellipse((64, 80, 192, 176), fill=colour if mode == "RGB" else colour + (255,))
    return image


@pytest.fixture(scope="module")
def references() -> dict[str, Reference]:
    return {name: read_reference(str(REFERENCES / name)) for name in PACKSHOTS}


def test_the_committed_packshots_are_what_the_project_draws():
    for name, (_, image_format) in PACKSHOTS.items():
        committed = np.asarray(Image.open(REFERENCES / name).convert("RGBA"), dtype=np.int16)
        drawn = np.asarray(Image.open(io.BytesIO(encoded(name))).convert("RGBA"), dtype=np.int16)
        assert np.abs(committed - drawn).max() <= (0 if image_format == "PNG" else 8), name  # JPEG: libjpeg builds


def test_the_sample_catalog_holds_the_listed_reference_rows_after_its_own():
    import pyarrow.parquet as pq

    table = pq.read_table(SAMPLE_CATALOG)
    assert table.equals(with_reference_rows(table))  # writing the rows again changes nothing
    rows = table.to_pylist()
    assert [row["id"] for row in rows[-len(REFERENCE_ROWS):]] == [row["id"] for row in REFERENCE_ROWS]
    assert [row["id"] for row in rows[:40]] == [f"SKU-{1001 + n}" for n in range(40)]  # the original 40, in order
    assert all(row["reference_image"] is None for row in rows[:40])


def test_the_mask_comes_from_alpha_else_from_the_plain_background(references):
    candle, sneaker, mug = (references[n] for n in ("candle-jar.png", "sneaker-white.png", "mug-offwhite.jpg"))
    assert candle.mask_source == "alpha" and sneaker.mask_source == "flood" and mug.mask_source == "flood"
    # the candle jar is drawn at x 136-376, y 84-440 (lid to base); the mug's body and handle at x 120-420
    assert candle.box == (136, 84, 240, 356)
    assert abs(mug.box[0] - 120) <= 4 and abs(mug.box[0] + mug.box[2] - 420) <= 6
    for reference in references.values():
        assert len(reference.sha256) == 64 and 0.1 < reference.coverage < 0.5


def test_flood_fill_keeps_enclosed_background_coloured_parts_as_product():
    image = disc()
    ImageDraw.Draw(image).rectangle((110, 120, 146, 136), fill=(255, 255, 255))  # a white label inside the product
    reference = decode_reference(png(image))
    assert reference.alpha[128, 128] == 255 and reference.alpha[5, 5] == 0


def test_tolerance_separates_an_off_white_backdrop_with_noise():
    rng = np.random.default_rng(0)
    noisy = np.clip(np.asarray(disc(background=(240, 238, 236)), dtype=np.int16) + rng.integers(-3, 4, (256, 256, 3)), 0, 255)
    reference = decode_reference(png(Image.fromarray(noisy.astype(np.uint8)), "JPEG"))
    assert reference.mask_source == "flood"
    assert abs(reference.coverage - np.pi * 64 * 48 / 256**2) < 0.01


def test_references_are_read_from_any_fsspec_url_relative_to_the_catalog():
    fs = fsspec.filesystem("memory")
    fs.pipe("/shop/refs/disc.png", png(disc()))
    url = resolve_reference_url("refs/disc.png", "memory://shop/catalog.parquet")
    assert url == "memory://shop/refs/disc.png"
    assert read_reference(url).mask_source == "flood"
    assert resolve_reference_url("../refs/a.png", "/data/shop/cat.parquet") == "/data/refs/a.png"
    assert resolve_reference_url("s3://bucket/a.png", "/data/cat.parquet") == "s3://bucket/a.png"


def noisy_background() -> bytes:
    rng = np.random.default_rng(1)
    return png(Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)))


def clear(size=256) -> bytes:
    return png(Image.new("RGBA", (size, size), (0, 0, 0, 0)))


def almost_opaque() -> bytes:
    image = Image.new("RGBA", (256, 256), (200, 10, 10, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))
    return png(image)


@pytest.mark.parametrize("data, reason", [
    (b"not an image at all", "is not an image fluxcat can read"),
    (png(disc(size=64)), "is 64x64: too small"),
    (noisy_background(), "no separable product: the image has no transparency and its border is not one plain colour"),
    (clear(), "no product found from its alpha channel"),
    (almost_opaque(), "covers 100.0% of the image, so no background was separated"),
    (png(Image.new("RGB", (256, 256), "white")), "no product found from its plain background"),
])
def test_bad_references_are_rejected_with_the_reason(data, reason):
    with pytest.raises(ReferenceRejected, match=reason):
        decode_reference(data, "refs/bad.png")


def test_a_missing_reference_and_a_tiny_product_are_rejected(tmp_path):
    with pytest.raises(ReferenceRejected, match="not found: check the path"):
        read_reference(str(tmp_path / "nope.png"))
    speck = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    ImageDraw.Draw(speck).rectangle((100, 100, 120, 130), fill=(9, 9, 9, 255))
    with pytest.raises(ReferenceRejected, match="the product is only 21x31 px"):
        decode_reference(png(speck))


def half_mask(image):
    mask = np.zeros((image.height, image.width), dtype=bool)
    mask[:, : image.width // 2] = True
    return mask


def test_a_plugged_in_segmenter_decides_when_there_is_no_alpha(monkeypatch):
    import types

    module = types.ModuleType("shop_segmenter")
    module.segment = half_mask
    module.broken = lambda image: 1 / 0
    monkeypatch.setitem(__import__("sys").modules, "shop_segmenter", module)
    reference = decode_reference(noisy_background(), segmenter=load_segmenter("shop_segmenter:segment"))
    assert reference.mask_source == "segmenter:shop_segmenter:segment" and reference.box == (0, 0, 128, 256)
    with pytest.raises(ReferenceRejected, match="the segmenter failed on this reference .ZeroDivisionError"):
        decode_reference(noisy_background(), segmenter=load_segmenter("shop_segmenter:broken"))
    for spec, reason in (("shop_segmenter", "must be 'package.module:function'"),
                         ("no_such_package_xyz:segment", "cannot be imported")):
        with pytest.raises(UserError, match=reason):
            load_segmenter(spec)


def test_the_reader_keeps_recent_references_and_their_rejections(tmp_path):
    (tmp_path / "a.png").write_bytes(png(disc()))
    reader = ReferenceReader(catalog_url=str(tmp_path / "catalog.parquet"), keep=1)
    first = reader("a.png")
    (tmp_path / "a.png").write_bytes(png(disc(colour=(200, 0, 0))))
    assert reader("a.png") is first  # read once per run
    with pytest.raises(ReferenceRejected, match="not found"):
        reader("missing.png")
    assert reader("a.png").sha256 != first.sha256  # evicted by the last read: read again


@pytest.mark.parametrize("size, fill", [((1024, 1024), 0.85), ((912, 1136), 0.6), ((1344, 768), 0.5)])
def test_placement_fills_the_frame_as_asked_centred_keeping_the_product_shape(references, size, fill):
    reference = references["sneaker-white.png"]
    placement = place(reference, size, fill)
    x, y, w, h = placement.box
    assert abs(placement.fill - fill) <= 1 / min(size)
    assert abs(w / h - reference.box[2] / reference.box[3]) < 0.01
    assert abs(x - (size[0] - w - x)) <= 1 and abs(y - (size[1] - h - y)) <= 1
    rows, cols = np.nonzero(placement.mask)
    assert (cols.min(), rows.min()) == (x, y) or abs(cols.min() - x) <= 2  # the mask sits in its box


def test_the_white_packshot_is_pure_white_around_the_products_own_pixels(references):
    placement = place(references["candle-jar.png"], (1024, 1024), 0.85)
    image = np.asarray(white_packshot(placement))
    layer = np.asarray(placement.layer)
    assert (image[~placement.mask] == 255).all()
    assert (image[placement.mask] == layer[placement.mask][:, :3]).all()


def test_the_composite_puts_the_products_pixels_back_over_whatever_was_generated(references):
    placement = place(references["mug-offwhite.jpg"], (832, 624), 0.55)
    rng = np.random.default_rng(2)
    scene = Image.fromarray(rng.integers(0, 256, (312, 416, 3), dtype=np.uint8))  # made at half size
    out = np.asarray(composite(scene, placement))
    layer = np.asarray(placement.layer)
    assert out.shape == (624, 832, 3)
    assert (out[placement.mask] == layer[placement.mask][:, :3]).all()
    assert out[~placement.mask].std() > 30  # the scene is kept around the product


def test_fill_and_kontext_inputs_at_the_generated_size(references):
    placement = place(references["candle-jar.png"], (1080, 1350), 0.6)
    image, mask = fill_inputs(placement, (912, 1136))
    assert image.size == mask.size == (912, 1136) and mask.mode == "L"
    small = np.asarray(placement.layer.getchannel("A").resize((912, 1136), Image.Resampling.NEAREST)) >= 128
    assert (np.asarray(mask)[small] == 0).all() and (np.asarray(mask)[~small] == 255).all()  # white: generate here
    assert kontext_input(placement, (912, 1136)).size == (912, 1136)


def test_box_for_never_leaves_the_frame():
    assert box_for((0, 0, 100, 400), (1024, 512), 1.0) == (448, 0, 128, 512)
    assert box_for((0, 0, 400, 100), (512, 512), 0.85) == (38, 201, 435, 109)


def test_generation_places_the_product_at_the_planned_box_and_delivers_at_the_channel_size(references):
    from fluxcat.reference import deliver

    reference = references["candle-jar.png"]
    planned = place(reference, (1080, 1350), 0.55)
    again = place(reference, (1080, 1350), box=planned.box)
    assert again.box == planned.box and np.array_equal(np.asarray(again.layer), np.asarray(planned.layer))
    generated = Image.fromarray(np.random.default_rng(4).integers(0, 256, (1136, 912, 3), dtype=np.uint8))
    background = np.asarray(deliver(generated, "background", (1080, 1350), planned))
    assert background.shape == (1350, 1080, 3)
    assert (background[planned.mask] == np.asarray(planned.layer)[planned.mask][:, :3]).all()
    assert deliver(generated, "edit", (1080, 1350)).size == (1080, 1350)
    assert deliver(generated, None, (912, 1136)).size == (912, 1136)
    with pytest.raises(ValueError, match="background mode needs the product placed"):
        deliver(generated, "background", (1080, 1350))
