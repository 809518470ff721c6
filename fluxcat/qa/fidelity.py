"""Product fidelity: does the output show the reference's product? Pure functions of the output and the placed
reference. `background`/`white`: mean CIEDE2000 over the product's pixels at product_box, edges included (a Fill
model bleeds at the edge first). `edit`: colour distribution, structure (SSIM) on the aligned region, label text.

Per-pixel CIEDE2000 and SSIM come from scikit-image (vectorised; coloraide, used for the single colour check, works one
colour at a time: 2-3 orders of magnitude slower over a million pixels); OCR is the QA text check's rapidocr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fluxcat.qa.checks import Check, ReadText, similarity

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from fluxcat.reference.place import Placement

EDGE_WIDTH = 3  # pixels along the mask's border reported apart (bleed shows there first)
MIN_LABEL_CHARS = 3
LAB_BINS = (8, 16, 16)  # L*, a*, b* histogram bins for the colour distribution
LAB_RANGE = ((0, 100), (-100, 100), (-100, 100))


@dataclass(frozen=True)
class FidelitySettings:
    """Thresholds of the fidelity gate (documented in docs/reference.md)."""

    delta_e: float = 2.0  # background/white: mean CIEDE2000 over the product's pixels, edges included
    edge_delta_e: float = 8.0  # ... and over its outer 3-pixel band alone (JPEG's chroma subsampling reaches ~6 there)
    colour: float = 0.55  # edit: histogram intersection of the product's Lab colours, 0-1
    structure: float = 0.35  # edit: SSIM of the aligned region in grey, -1 to 1
    text: float = 0.8  # edit: normalised edit similarity of the label text read back


def product_delta_e(output: "Image", placement: "Placement", settings: FidelitySettings = FidelitySettings()) -> Check:
    """Mean CIEDE2000 between the output and the reference's product pixels, over the whole mask, edges included."""
    import numpy as np
    from scipy import ndimage

    mask = placement.mask
    distance = delta_e_map(_rgb(output, placement.size), np.asarray(placement.layer)[..., :3], mask)
    edge = mask & (ndimage.minimum_filter(mask.view("uint8"), size=2 * EDGE_WIDTH + 1) == 0)
    mean = float(distance[mask].mean())
    detail = {"mean_delta_e": round(mean, 3), "p95_delta_e": round(float(np.percentile(distance[mask], 95)), 3),
              "max_delta_e": round(float(distance[mask].max()), 3), "edge_delta_e": round(float(distance[edge].mean()), 3),
              "pixels": int(mask.sum()), "bound": settings.delta_e, "edge_bound": settings.edge_delta_e,
              "product_box": list(placement.box)}
    passed = mean <= settings.delta_e and detail["edge_delta_e"] <= settings.edge_delta_e
    return Check("fidelity", bool(passed), max(0.0, 1.0 - mean / 100.0), detail)


def delta_e_map(found: "np.ndarray", expected: "np.ndarray", mask: "np.ndarray") -> "np.ndarray":
    """CIEDE2000 per pixel (HxW, 0 outside the mask). Equal pixels are 0 without converting them, and each distinct
    (found, expected) colour pair is converted once: a composite's product pixels are mostly exact copies."""
    import numpy as np
    from skimage.color import deltaE_ciede2000, rgb2lab

    out = np.zeros(mask.shape, dtype=np.float64)
    differ = mask & (found != expected).any(axis=2)
    if not differ.any():
        return out
    packed = (_packed(found[differ]) << 24) | _packed(expected[differ])
    pairs, index = np.unique(packed, return_inverse=True)
    colours = [np.stack([(codes >> shift) & 255 for shift in (16, 8, 0)], axis=1) for codes in (pairs >> 24, pairs & 0xFFFFFF)]
    labs = [rgb2lab(rgb[None, :, :] / 255.0)[0] for rgb in colours]
    out[differ] = deltaE_ciede2000(labs[0], labs[1])[index.ravel()]
    return out


def _packed(rgb: "np.ndarray") -> "np.ndarray":
    import numpy as np

    rgb = rgb.astype(np.int64)
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


def edit_similarity(output: "Image", placement: "Placement", label_text: str | None, read_text: ReadText,
                    settings: FidelitySettings = FidelitySettings()) -> Check:
    """`edit` mode: the product's colours, its structure where Kontext was asked to keep it, and its label text."""
    import numpy as np

    found = _rgb(output, placement.size)
    expected = np.asarray(placement.layer)[..., :3]
    mask = placement.mask
    colour = colour_similarity(found[mask], expected[mask])
    structure = structure_similarity(found, _on_white(placement), placement.box)
    parts = {"colour": (colour, settings.colour), "structure": (structure, settings.structure)}
    detail = {"colour": round(colour, 4), "structure": round(structure, 4), "product_box": list(placement.box)}
    if label_text:
        x, y, w, h = placement.box
        read = read_text(output.convert("RGB").resize(placement.size).crop((x, y, x + w, y + h)))
        text = similarity(label_text, read)
        parts["text"] = (text, settings.text)
        detail |= {"text": round(text, 4), "expected_text": label_text, "found_text": read}
    failed = [name for name, (value, bound) in parts.items() if value < bound]
    if failed:
        detail["failed"] = failed
    score = min(max(0.0, value) for value, _ in parts.values())
    return Check("fidelity", not failed, score, detail)


def reference_label_text(placement: "Placement", read_text: ReadText) -> str | None:
    """The text printed on the reference's product (read once per reference), if any: at least MIN_LABEL_CHARS
    letters or digits, since OCR reads a mug's handle as a "D"."""
    from fluxcat.qa.checks import normalise_text

    x, y, w, h = placement.box
    text = read_text(_on_white_image(placement).crop((x, y, x + w, y + h))).strip()
    return text if len(normalise_text(text)) >= MIN_LABEL_CHARS else None


def colour_similarity(found: "np.ndarray", expected: "np.ndarray") -> float:
    """Histogram intersection of two sets of RGB pixels in CIELAB (1: the same colour distribution)."""
    import numpy as np
    from skimage.color import rgb2lab

    histograms = []
    for pixels in (found, expected):
        lab = rgb2lab(pixels[None, :, :] / 255.0)[0]
        counts, _ = np.histogramdd(lab, bins=LAB_BINS, range=LAB_RANGE)
        histograms.append(counts / max(1, counts.sum()))
    return float(np.minimum(*histograms).sum())


def structure_similarity(found: "np.ndarray", expected: "np.ndarray", box: tuple[int, int, int, int]) -> float:
    """SSIM of the two images' grey levels over the product's box."""
    from skimage.metrics import structural_similarity

    x, y, w, h = box
    grey = [0.299 * img[y:y + h, x:x + w, 0] + 0.587 * img[y:y + h, x:x + w, 1] + 0.114 * img[y:y + h, x:x + w, 2]
            for img in (found, expected)]
    window = max(3, min(7, w, h) | 1)
    return float(structural_similarity(grey[0], grey[1], data_range=255.0, win_size=window))


def _rgb(image: "Image", size: tuple[int, int]) -> "np.ndarray":
    import numpy as np
    from PIL import Image

    image = image.convert("RGB")
    return np.asarray(image if image.size == size else image.resize(size, Image.Resampling.LANCZOS))


def _on_white_image(placement: "Placement") -> "Image":
    from fluxcat.reference.place import white_packshot

    return white_packshot(placement)


def _on_white(placement: "Placement") -> "np.ndarray":
    import numpy as np

    return np.asarray(_on_white_image(placement))
