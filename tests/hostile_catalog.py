"""A hostile prompt catalog, written with pyarrow: every kind of bad value a row can hold, beside good rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

INF, NAN = float("inf"), float("nan")
LONG = " ".join(["word"] * 25)

# Column types: `prompt` is BINARY (UTF-8 text reads as text), numbers are float64 so they can hold ±inf and NaN,
# `seed` int64 so it can hold 2^63-1; the last columns are named like manifest columns, with other types.
SCHEMA = pa.schema([
    ("id", pa.string()), ("prompt", pa.binary()), ("model", pa.string()), ("width", pa.float64()),
    ("height", pa.float64()), ("image_size", pa.string()), ("display_width", pa.float64()),
    ("display_height", pa.float64()), ("device_pixel_ratio", pa.float64()), ("num_images", pa.float64()),
    ("seed", pa.int64()), ("guidance_scale", pa.float64()), ("num_inference_steps", pa.float64()),
    ("quality", pa.string()), ("realtime", pa.string()),
    ("details", pa.int64()), ("status", pa.string()), ("sha256", pa.int64()), ("key", pa.list_(pa.int64())),
    ("backend", pa.float64()), ("reason", pa.string()), ("image_uri", pa.string()),
])

# (id, the row's bad values, the reason its rejection must give); prompts are unique so no row is a duplicate.
BAD_ROWS = [
    ("null-prompt", {"prompt": None}, "prompt is empty"),
    ("empty-prompt", {"prompt": b""}, "prompt is empty"),
    ("blank-prompt", {"prompt": b"   \t"}, "prompt is blank"),
    ("long-prompt", {"prompt": b"x" * 1001}, "prompt is 1001 characters"),
    ("binary-prompt", {"prompt": b"\xff\xfe\x00 not text"}, "prompt is binary data that is not UTF-8 text"),
    ("unknown-model", {"model": "pro"}, "unknown model 'pro'"),
    ("empty-model", {"model": ""}, "unknown model ''"),
    ("width-only", {"width": 512.0}, "give both width and height"),
    ("negative-width", {"width": -5.0, "height": 512.0}, "width must be a positive number, got -5.0"),
    ("zero-height", {"width": 512.0, "height": 0.0}, "height must be a positive number, got 0.0"),
    ("infinite-width", {"width": INF, "height": 512.0}, "width must be a positive number, got inf"),
    ("unknown-size", {"image_size": "huge"}, "unknown image_size 'huge'"),
    ("display-width-only", {"display_width": 300.0}, "give both display_width and display_height"),
    ("negative-display", {"display_width": -1.0, "display_height": 300.0}, "display_width must be a positive number"),
    ("zero-pixel-ratio", {"display_width": 300.0, "display_height": 300.0, "device_pixel_ratio": 0.0},
     "device_pixel_ratio must be a positive number"),
    ("infinite-pixel-ratio", {"display_width": 300.0, "display_height": 300.0, "device_pixel_ratio": INF},
     "device_pixel_ratio must be a positive number, got inf"),
    ("five-images", {"num_images": 5.0}, "num_images 5 is out of range 1-4"),
    ("zero-images", {"num_images": 0.0}, "num_images 0 is out of range 1-4"),
    ("fractional-images", {"num_images": 1.5}, "num_images must be a whole number, got 1.5"),
    ("infinite-images", {"num_images": INF}, "num_images must be a finite whole number, got inf"),
    ("negative-infinite-images", {"num_images": -INF}, "num_images must be a finite whole number, got -inf"),
    ("negative-seed", {"seed": -1}, "seed -1 is out of range 0-4294967295"),
    ("seed-2-32", {"seed": 2**32}, "seed 4294967296 is out of range 0-4294967295"),
    ("seed-2-63", {"seed": 2**63 - 1}, "seed 9223372036854775807 is out of range 0-4294967295"),
    ("guidance-25", {"model": "dev", "guidance_scale": 25.0}, "guidance_scale 25 is out of range 1-20"),
    ("guidance-half", {"model": "dev", "guidance_scale": 0.5}, "guidance_scale 0.5 is out of range 1-20"),
    ("guidance-inf", {"model": "dev", "guidance_scale": INF}, "guidance_scale must be a finite number, got inf"),
    ("guidance-minus-inf", {"model": "dev", "guidance_scale": -INF}, "guidance_scale must be a finite number, got -inf"),
    ("steps-51", {"num_inference_steps": 51.0}, "num_inference_steps 51 is out of range 1-50"),
    ("steps-0", {"num_inference_steps": 0.0}, "num_inference_steps 0 is out of range 1-50"),
    ("steps-fraction", {"num_inference_steps": 2.5}, "num_inference_steps must be a whole number, got 2.5"),
    ("steps-inf", {"num_inference_steps": INF}, "num_inference_steps must be a finite whole number, got inf"),
    ("steps-minus-inf", {"num_inference_steps": -INF}, "num_inference_steps must be a finite whole number, got -inf"),
    ("unknown-quality", {"quality": "ultra"}, "unknown quality 'ultra'"),
    ("odd-flag", {"realtime": "maybe"}, "realtime must be true or false, got 'maybe'"),
    ("good-1", {}, "id 'good-1' is already used by row"),  # a reused explicit id (the first good-1 is below)
]

# (id, values, what the manifest must say): generated, with any correction recorded.
GOOD_ROWS = [
    ("good-1", {}, None),
    ("good-unicode", {"prompt": "a café mug with “quotes” and 漢字".encode()}, None),
    ("good-display-5000", {"display_width": 5000.0, "display_height": 5000.0},
     "display size 5000x5000 at pixel ratio 1 -> 1024x1024 (its 1:1 aspect ratio kept"),
    ("good-snapped", {"width": 650.0, "height": 100.0}, "size 650x100 -> 656x256"),
    ("good-schnell", {"model": "schnell", "num_inference_steps": 8.0}, "num_inference_steps 8 -> 4"),
    ("good-largest-seed", {"seed": 2**32 - 1}, None),
    ("good-nan-is-missing", {"num_images": NAN, "guidance_scale": NAN, "width": NAN, "height": NAN}, None),
    ("good-two-images", {"num_images": 2.0, "image_size": "square"}, None),
    ("good-dev", {"prompt": LONG.encode() + b" dev", "model": "dev", "quality": "draft", "realtime": "false"}, None),
    ("good-text", {"prompt": b"a sign that says OPEN", "realtime": "no"}, None),
]

# Manifest-named catalog columns on every row: passed through as catalog_<name> with their own types.
COLLIDING = {"details": 7, "status": "catalog says new", "sha256": 12345, "key": [1, 2], "backend": 1.5,
             "reason": "because", "image_uri": "http://evil.example/x.png"}


def hostile_rows() -> list[dict]:
    rows = []
    for number, (row_id, values, _) in enumerate(GOOD_ROWS[:1] + [(i, v, r) for i, v, r in BAD_ROWS] + GOOD_ROWS[1:]):
        rows.append({**{name: None for name in SCHEMA.names}, **COLLIDING, "id": row_id,
                     "prompt": f"a product photo number {number} of a {row_id}".encode(), **values})
    return rows


def write_hostile_catalog(path: Path) -> str:
    pq.write_table(pa.Table.from_pylist(hostile_rows(), schema=SCHEMA), path)
    return str(path)


def check_manifest(rows: list[dict]) -> None:
    """Every bad row rejected with its true reason, every good row made, catalog columns passed through."""
    by_id: dict[str, list[dict]] = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    for row_id, _, reason in BAD_ROWS:
        rejected = [r for r in by_id[row_id] if r["status"] == "rejected"]
        assert rejected and reason in rejected[-1]["reason"], (row_id, by_id[row_id])
    for row_id, _, correction in GOOD_ROWS:
        made = [r for r in by_id[row_id] if r["status"] in ("generated", "existing")]
        assert made, (row_id, by_id[row_id])
        if correction:
            assert correction in made[0]["corrections"], (row_id, made[0]["corrections"])
    assert len(by_id["good-two-images"]) == 2
    assert {r["prompt"] for r in by_id["good-unicode"]} == {"a café mug with “quotes” and 漢字"}
    assert all((r["catalog_details"], r["catalog_sha256"], r["catalog_key"], r["catalog_status"]) ==
               (7, 12345, [1, 2], "catalog says new") for r in rows)
    assert len(rows) == len(BAD_ROWS) + len(GOOD_ROWS) + 1


# Obfuscated blocked terms and personal information (our own strings, one per trick the issue names): each row is
# rejected at planning with its reason, on every backend.
OBFUSCATED = [
    ("hyphen-joined", "a child-porn poster", "blocked term 'child porn'"),
    ("underscore-joined", "a wall of revenge_porn stills", "blocked term 'revenge porn'"),
    ("zero-width-space", "an archive of chi\u200bld porn", "blocked term 'child porn'"),
    ("zero-width-joiners", "lo\u200dli hen\u200ctai fan art", "blocked term 'loli hentai'"),
    ("soft-hyphen", "a best\u00adiality scene", "blocked term 'bestiality'"),
    ("word-joiner-and-bom", "snuff\u2060 fi\ufeffl\u2060m poster", "blocked term 'snuff film'"),
    ("combining-overlay", "a c\u0336s\u0336a\u0336m\u0336 folder", "blocked term 'csam'"),
    ("accents", "a shótácon drawing", "blocked term 'shotacon'"),
    ("cyrillic-look-alikes", "\u0441hild \u0440\u043ern photo", "blocked term 'child porn'"),
    ("greek-look-alikes", "l\u03bfl\u03b9c\u03bfn sketch", "blocked term 'lolicon'"),
    ("leetspeak", "b3$t1al1ty painting", "blocked term 'bestiality'"),
    ("leet-and-hyphen", "d33pf4k3-nud3 of a star", "blocked term 'deepfake nude'"),
    ("dotted-letters", "the c.s.a.m collection", "blocked term 'csam'"),
    ("spaced-letters", "s n u f f   f i l m still", "blocked term 'snuff film'"),
    ("line-break", "a beheading\nvideo frame", "blocked term 'beheading video'"),
    ("full-width", "\uff44\uff45\uff45\uff50\uff46\uff41\uff4b\uff45 \uff4e\uff55\uff44\uff45", "blocked term 'deepfake nude'"),
    ("math-letters", "\U0001d427\U0001d428\U0001d427-\U0001d41c\U0001d428\U0001d427\U0001d42c\U0001d41e\U0001d427\U0001d42c"
                     "\U0001d42e\U0001d41a\U0001d425 clip", "blocked term 'non-consensual'"),
    ("non-breaking-hyphen", "a non\u2011consensual scene", "blocked term 'non-consensual'"),
    ("full-width-at", "a note to jane.doe\uff20example.com", "personal information (email address)"),
    ("email-look-alikes", "mail \u0458ohn@\u0435xample.org on a card", "personal information (email address)"),
    ("ssn-en-dashes", "a form with 123\u201345\u20136789", "personal information (social security number)"),
    ("ssn-bengali-digits", "ssn \u09e7\u09e8\u09e9-\u09ea\u09eb-\u09ec\u09ed\u09ee\u09ef", "personal information (social security number)"),
    ("card-dots", "a card 4111.1111.1111.1111 on a desk", "personal information (credit card number)"),
    ("card-full-width-spaced", "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11",
     "personal information (credit card number)"),
    ("card-amex-zero-width", "amex 3782\u200b822463\u200b10005", "personal information (credit card number)"),
    ("phone-unicode-hyphens", "call 555\u2010123\u20104567 today", "personal information (phone number)"),
    ("phone-arabic-indic", "a sign with \u0665\u0665\u0665-\u0661\u0662\u0663-\u0664\u0665\u0666\u0667", "personal information (phone number)"),
]

# Ordinary product prompts with hyphens, dots, units, numbers and non-Latin text: every one is made.
ORDINARY = [
    "a 27-inch 4K monitor, 1920x1080, on a walnut desk",
    "a 5.5 kg kettlebell, matte black, studio light",
    "a t-shirt, size XL, 100% cotton, e-commerce photo",
    "a 16 oz. ceramic mug, 3.5 in. tall, 450 ml",
    "a USB-C cable, 2 m, 60 W, braided",
    "a box of 1,000 puzzle pieces, model no. 123-45-678",
    "a jar labelled 'Best. Jam. Ever.'",
    "a music sample pack cover, neon",
    "EAN 4006381333931 barcode on a cereal box",
    "a kid's t-shirt in nude-pink, children's size 8",
    "a classic film camera, 35 mm, on a shelf",
    "a gift card design reading 1234 5678 9012 3456",
    "a counter sign: e-mail us @ the desk",
    "a Café Crème latte mug, 0.3 l",
    "ваза из стекла, 30 см",
    "κούπα καφέ 350 ml",
    "a v2.0.1 firmware box, 12-pack, SKU AB-12_34.56",
    "a shotgun-style microphone, 1/4\" jack",
]


def obfuscated_catalog(path: Path) -> str:
    rows = [{"id": row_id, "prompt": prompt} for row_id, prompt, _ in OBFUSCATED]
    rows += [{"id": f"ordinary-{i}", "prompt": prompt} for i, prompt in enumerate(ORDINARY)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)
