"""The sample catalog's reference images, drawn by the project itself (no photo of anyone's product is shipped):
simple packshots with transparency and on plain light backgrounds, and the sample catalog's rows that use them.
`python -m tests.packshots` writes the images to datasets/references/ and the rows into datasets/sample_catalog.parquet
(every other row kept as it is); tests check the committed files still hold what this draws and lists."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
REFERENCES = DATASETS / "references"
SAMPLE_CATALOG = DATASETS / "sample_catalog.parquet"
SIDE = 512
SUPERSAMPLE = 4  # drawn large and reduced: soft, anti-aliased edges like a real cut-out


def candle_jar() -> Image.Image:
    """An amber candle jar with a cream label reading FIG & CEDAR, on transparency (RGBA)."""
    big = SIDE * SUPERSAMPLE
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    s = SUPERSAMPLE
    draw.rounded_rectangle((136 * s, 120 * s, 376 * s, 440 * s), radius=36 * s, fill=(176, 98, 32, 255))
    for step in range(24):  # a vertical highlight on the glass
        shade = 200 - 3 * step
        draw.rectangle(((160 + step) * s, 140 * s, (161 + step) * s, 420 * s), fill=(230, shade, 80, 255))
    draw.rounded_rectangle((150 * s, 84 * s, 362 * s, 128 * s), radius=10 * s, fill=(58, 52, 48, 255))  # lid
    draw.rectangle((172 * s, 236 * s, 340 * s, 352 * s), fill=(244, 236, 214, 255))  # label
    font = ImageFont.load_default(size=28 * s)
    for text, top in (("FIG &", 248), ("CEDAR", 296)):
        width = draw.textlength(text, font=font)
        draw.text(((256 * s - width / 2), top * s), text, fill=(40, 36, 32, 255), font=font)
    return layer.resize((SIDE, SIDE), Image.Resampling.LANCZOS)


def sneaker_on_white() -> Image.Image:
    """A navy sneaker with a white sole and red laces on plain white with a soft floor shadow (RGB, no alpha)."""
    big = SIDE * SUPERSAMPLE
    s = SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), (255, 255, 255))
    shadow = Image.new("L", (big, big), 0)
    ImageDraw.Draw(shadow).ellipse((80 * s, 372 * s, 440 * s, 404 * s), fill=70)
    canvas.paste((200, 200, 200), mask=shadow.filter(ImageFilter.GaussianBlur(8 * s)))
    draw = ImageDraw.Draw(canvas)
    draw.polygon([(84 * s, 352 * s), (96 * s, 250 * s), (200 * s, 200 * s), (300 * s, 176 * s),
                  (352 * s, 240 * s), (432 * s, 290 * s), (436 * s, 352 * s)], fill=(28, 42, 86))
    draw.rounded_rectangle((76 * s, 344 * s, 444 * s, 384 * s), radius=14 * s, fill=(246, 246, 246),
                           outline=(120, 120, 120), width=2 * s)
    for step in range(5):  # laces
        x = 212 + 20 * step
        draw.line(((x - 6) * s, (206 - 6 * step) * s, (x + 18) * s, (226 - 6 * step) * s), fill=(200, 30, 40), width=5 * s)
    return canvas.resize((SIDE, SIDE), Image.Resampling.LANCZOS)


def mug_on_offwhite() -> Image.Image:
    """A red mug with a handle on an off-white backdrop (RGB), stored as JPEG: tolerance and compression noise."""
    big = SIDE * SUPERSAMPLE
    s = SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), (244, 242, 238))
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((318 * s, 196 * s, 420 * s, 330 * s), outline=(178, 34, 34), width=22 * s)  # handle
    draw.rounded_rectangle((120 * s, 150 * s, 350 * s, 400 * s), radius=24 * s, fill=(178, 34, 34))
    draw.ellipse((120 * s, 132 * s, 350 * s, 172 * s), fill=(150, 26, 26))
    return canvas.resize((SIDE, SIDE), Image.Resampling.LANCZOS)


# file name -> (drawing, format): what the sample catalog's reference rows point at.
PACKSHOTS = {
    "candle-jar.png": (candle_jar, "PNG"),
    "sneaker-white.png": (sneaker_on_white, "PNG"),
    "mug-offwhite.jpg": (mug_on_offwhite, "JPEG"),
}


# The sample catalog's reference rows: each mode, channels (one turned into a white packshot by its rule), relative
# paths (from the catalog's folder), alpha and plain-background masks.
REFERENCE_ROWS = [
    {"id": "SKU-1041", "prompt": "An amber candle jar on an oak shelf beside a window, soft morning light",
     "reference_image": "references/candle-jar.png", "image_size": "square", "category": "home"},
    {"id": "SKU-1042", "prompt": "A navy canvas sneaker on a sunlit city pavement, lifestyle photo",
     "reference_image": "references/sneaker-white.png", "channels": "marketplace-main,social-feed-portrait",
     "category": "shoes"},
    {"id": "SKU-1043", "prompt": "Show the same red mug on a snowy windowsill, winter morning light",
     "reference_image": "references/mug-offwhite.jpg", "reference_mode": "edit", "image_size": "square",
     "category": "kitchen"},
    {"id": "SKU-1044", "prompt": "Amber candle jar packshot", "reference_image": "references/candle-jar.png",
     "reference_mode": "white", "channels": "marketplace-main,shopping-ads", "category": "home"},
]
REFERENCE_COLUMNS = ("reference_image", "reference_mode", "channels")


def with_reference_rows(table):
    """The catalog with the reference columns (strings) and REFERENCE_ROWS, replacing earlier copies of them."""
    import pyarrow as pa

    ids = {row["id"] for row in REFERENCE_ROWS}
    rows = [row for row in table.to_pylist() if row["id"] not in ids] + REFERENCE_ROWS
    schema = table.schema
    for column in REFERENCE_COLUMNS:
        if column not in schema.names:
            schema = schema.append(pa.field(column, pa.string()))
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


def encoded(name: str) -> bytes:
    draw, image_format = PACKSHOTS[name]
    buffer = io.BytesIO()
    draw().save(buffer, format=image_format, **({"quality": 90} if image_format == "JPEG" else {"optimize": True}))
    return buffer.getvalue()


def main() -> None:
    import pyarrow.parquet as pq

    REFERENCES.mkdir(parents=True, exist_ok=True)
    for name in PACKSHOTS:
        (REFERENCES / name).write_bytes(encoded(name))
        print(REFERENCES / name)
    pq.write_table(with_reference_rows(pq.read_table(SAMPLE_CATALOG)), SAMPLE_CATALOG)
    print(SAMPLE_CATALOG)


if __name__ == "__main__":
    main()
