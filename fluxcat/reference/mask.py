"""The product mask of a reference: its alpha channel, else a flood fill of its plain background from the border,
else a segmentation function the user plugs in (fluxcat ships none and downloads nothing)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

from fluxcat.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

class ReferenceRejected(ValueError):
    """A reference image that cannot be used; the message is the row's rejection reason."""


# A segmenter maps an RGB image to its product mask (HxW: bool, or 0-255 where 255 is product).
Segmenter = Callable[["Image"], "np.ndarray"]
PLAIN_BORDER = 0.9  # share of border pixels within the tolerance of one colour for a background to count as plain


def product_alpha(image: "Image", tolerance: float, segmenter: Segmenter | None = None) -> tuple["np.ndarray", str]:
    """(alpha: uint8 HxW, 255 = product, source) for an RGBA image; ReferenceRejected when nothing separates."""
    import numpy as np

    alpha = np.asarray(image.getchannel("A"))
    if alpha.min() < 255:  # transparency says where the product is
        return alpha.copy(), "alpha"
    if segmenter is not None:
        return _segmented(image, segmenter), f"segmenter:{getattr(segmenter, 'spec', getattr(segmenter, '__name__', 'custom'))}"
    return flood_alpha(image, tolerance), "flood"


def flood_alpha(image: "Image", tolerance: float) -> "np.ndarray":
    """Background = the pixels within `tolerance` (CIEDE2000) of the border's colour that connect to the border;
    everything else is product (so a white label inside the product stays product)."""
    import numpy as np
    from scipy import ndimage
    from skimage.color import deltaE_ciede2000, rgb2lab

    rgb = np.asarray(image.convert("RGB"))
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float64) / 255.0
    background = np.median(border, axis=0)
    background_lab = rgb2lab(background[None, None, :])[0, 0]
    border_lab = rgb2lab(border[None, :, :])[0]
    border_distance = deltaE_ciede2000(border_lab, np.broadcast_to(background_lab, border_lab.shape))
    plain = float((border_distance <= tolerance).mean())
    if plain < PLAIN_BORDER:
        raise ReferenceRejected(
            f"no separable product: the image has no transparency and its border is not one plain colour ({plain:.0%} "
            f"of border pixels within ΔE {tolerance:g} of {_hex(background)}): use a PNG with transparency, a packshot "
            "on a plain light background, or a segmenter")
    near = _within(rgb, background_lab, tolerance)
    labels, _ = ndimage.label(near)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    is_background = np.isin(labels, edge_labels[edge_labels > 0])
    return np.where(is_background, 0, 255).astype(np.uint8)


def _within(rgb: "np.ndarray", target_lab: "np.ndarray", tolerance: float) -> "np.ndarray":
    """Pixels within `tolerance` (CIEDE2000) of a colour; each distinct colour is converted once (a packshot has few)."""
    import numpy as np
    from skimage.color import deltaE_ciede2000, rgb2lab

    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    colours, index = np.unique(codes.ravel(), return_inverse=True)
    lab = rgb2lab(np.stack([(colours >> s) & 255 for s in (16, 8, 0)], axis=1)[None, :, :] / 255.0)[0]
    close = deltaE_ciede2000(lab, np.broadcast_to(target_lab, lab.shape)) <= tolerance
    return close[index].reshape(codes.shape)


def _segmented(image: "Image", segmenter: Segmenter) -> "np.ndarray":
    import numpy as np

    try:
        mask = np.asarray(segmenter(image.convert("RGB")))
    except Exception as error:  # the user's function: its failure rejects this reference, not the run
        raise ReferenceRejected(f"the segmenter failed on this reference ({type(error).__name__}: {error})") from None
    if mask.shape[:2] != (image.height, image.width):
        raise ReferenceRejected(f"the segmenter returned a {mask.shape} mask for a {image.width}x{image.height} image: "
                                "it must return one value per pixel (height x width)")
    if mask.dtype == bool or mask.max() <= 1:
        return np.where(mask > 0, 255, 0).astype(np.uint8)
    return np.clip(mask, 0, 255).astype(np.uint8)


def load_segmenter(spec: str) -> Segmenter:
    """'package.module:function' -> the function, imported from the user's environment; a bad spec is a UserError
    before any work. fluxcat never fetches a model for it: the function brings its own local weights."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"reference_segmenter {spec!r} must be 'package.module:function' (a function taking a PIL "
                        "RGB image and returning its product mask)")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise UserError(f"reference_segmenter {spec!r} cannot be imported ({type(error).__name__}: {error}): install "
                        "the package that defines it on every worker") from None
    if not callable(function):
        raise UserError(f"reference_segmenter {spec!r} is not a function")

    def segment(image: "Image") -> "np.ndarray":
        return function(image)

    segment.spec = spec
    return segment


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(float(value) * 255):02x}" for value in rgb)
