"""A channel's compliance check: each of its rules (size, background, product fill, bytes) judged on the image
itself, with what was measured, so a failure says which rule failed and by how much. Pure functions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fluxcat.qa.checks import Check

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from fluxcat.channels import ChannelSpec

NEAR_WHITE = 12  # a pixel within this of 255 on every channel is background-coloured for a white rule
EDGE_MARGIN = 16  # background pixels this close to the product are not judged: one JPEG block (4:2:0) of ringing
LIGHT_L = 88.0  # a 'light' background: CIE L* at least this
LIGHT_SPREAD = 6.0  # ... and this plain (standard deviation of L*)
PURE_SHARE = 0.999  # share of judged background pixels that must be exactly RGB 255 for a 'white' rule


def channel_checks(image: "Image", spec: "ChannelSpec", encoded_bytes: int | None = None,
                   product: "np.ndarray | None" = None) -> list[Check]:
    """Every rule of the channel, one Check each (named channel:<rule>). `product` is the product's mask where the
    image was composited from a reference; otherwise the product is whatever the border's background is not."""
    import numpy as np

    rgb = np.asarray(image.convert("RGB"))
    if product is None:
        product = ~border_background(rgb)
    checks = [size_check(image.size, spec), fill_check(product, spec)]
    if spec.background == "white":
        checks.append(white_check(rgb, product))
    elif spec.background == "light":
        checks.append(light_check(rgb, product))
    if encoded_bytes is not None:
        checks.append(bytes_check(encoded_bytes, spec))
    return checks


def bytes_check(encoded_bytes: int, spec: "ChannelSpec") -> Check:
    """The stored file's size within the channel's limit (judged once the image is encoded in its format)."""
    passed = encoded_bytes <= spec.max_bytes
    return Check("channel:bytes", passed, 1.0 if passed else 0.0,
                 {"bytes": encoded_bytes, "max_bytes": spec.max_bytes, "format": spec.format})


def size_check(size: tuple[int, int], spec: "ChannelSpec") -> Check:
    width, height = size
    shape_ok = abs(math.log(width / height / spec.ratio)) <= 0.01
    if spec.size is not None:
        passed, wanted = (width, height) == tuple(spec.size), f"{spec.size[0]}x{spec.size[1]}"
    else:
        passed, wanted = bool(max(width, height) >= spec.min_longest and shape_ok), f">= {spec.min_longest} px longest, {spec.aspect}"
    return Check("channel:size", passed, 1.0 if passed else 0.0, {"found": f"{width}x{height}", "expected": wanted})


def fill_check(product: "np.ndarray", spec: "ChannelSpec") -> Check:
    """The product's bounding box: its larger share of the frame's width or height, within the channel's range."""
    import numpy as np

    rows, cols = np.flatnonzero(product.any(axis=1)), np.flatnonzero(product.any(axis=0))
    if not len(rows):
        return Check("channel:fill", False, 0.0, {"fill": 0.0, "range": list(spec.fill), "problem": "no product found"})
    height, width = product.shape
    fill = max((cols[-1] - cols[0] + 1) / width, (rows[-1] - rows[0] + 1) / height)
    low, high = spec.fill
    passed = bool(low - 0.005 <= fill <= high + 0.005)  # half a percent: a box is whole pixels
    distance = 0.0 if passed else min(abs(fill - low), abs(fill - high))
    return Check("channel:fill", passed, max(0.0, 1.0 - distance), {"fill": round(float(fill), 4), "range": list(spec.fill)})


def white_check(rgb: "np.ndarray", product: "np.ndarray") -> Check:
    """Every background pixel (away from the product's edge) exactly RGB 255,255,255."""
    import numpy as np

    judged = _away_from(product, EDGE_MARGIN)
    if not judged.any():
        return Check("channel:background", False, 0.0, {"rule": "white", "problem": "no background to judge"})
    pixels = rgb[judged]
    pure = float((pixels == 255).all(axis=1).mean())
    darkest = pixels.min(axis=0)
    return Check("channel:background", bool(pure >= PURE_SHARE), pure,
                 {"rule": "white", "pure_white_share": round(pure, 5), "darkest": [int(v) for v in darkest]})


def light_check(rgb: "np.ndarray", product: "np.ndarray") -> Check:
    """A plain light background: its lightness high and even."""
    from skimage.color import rgb2lab

    judged = _away_from(product, EDGE_MARGIN)
    if not judged.any():
        return Check("channel:background", False, 0.0, {"rule": "light", "problem": "no background to judge"})
    lightness = rgb2lab(rgb[judged][None, :, :] / 255.0)[0, :, 0]
    mean, spread = float(lightness.mean()), float(lightness.std())
    passed = bool(mean >= LIGHT_L and spread <= LIGHT_SPREAD)
    return Check("channel:background", passed, min(1.0, mean / 100.0), {"rule": "light", "lightness": round(mean, 1),
                                                                         "spread": round(spread, 2)})


def border_background(rgb: "np.ndarray") -> "np.ndarray":
    """The background as seen from the border: near-white pixels connected to it, else (a scene) the pixels within
    a small distance of the border's median colour connected to it."""
    import numpy as np
    from scipy import ndimage

    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    colour = np.median(border, axis=0)
    near = (np.abs(rgb.astype(np.int16) - colour) <= NEAR_WHITE).all(axis=2)
    labels, _ = ndimage.label(near)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def _away_from(product: "np.ndarray", margin: int) -> "np.ndarray":
    """Pixels further than `margin` (in both directions: a square) from the product; a separable max filter."""
    from scipy import ndimage

    if not product.any():
        return ~product
    return ndimage.maximum_filter(product.view("uint8"), size=2 * margin + 1) == 0
