"""Placing a reference's product in an output frame (product_box), and what each mode makes of it: the packshot on
pure white, Fill's image and inverted mask, Kontext's input, and the composite that puts the product's own pixels back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from fluxcat.reference.load import Reference

WHITE = (255, 255, 255)
OPAQUE = 128  # alpha at or above which a pixel is product: composited from the reference, judged by fidelity QA


@dataclass(frozen=True)
class Placement:
    """The product resized into its box on a transparent canvas of the output's size."""

    size: tuple[int, int]  # output width, height
    box: tuple[int, int, int, int]  # product_box: x, y, w, h in output pixels
    layer: "Image"  # RGBA, size `size`: the product's pixels where alpha >= OPAQUE, transparent elsewhere

    @property
    def mask(self) -> "np.ndarray":
        """bool HxW: the product's pixels in the output."""
        import numpy as np

        return np.asarray(self.layer.getchannel("A")) >= OPAQUE

    @property
    def fill(self) -> float:
        """How much of the frame the product fills: its box's larger share of the width or the height."""
        return max(self.box[2] / self.size[0], self.box[3] / self.size[1])


def box_for(reference_box: tuple[int, int, int, int], size: tuple[int, int], fill: float) -> tuple[int, int, int, int]:
    """The product's box in an output of `size`: scaled so its larger share of the frame is `fill`, centred."""
    _, _, width, height = reference_box
    scale = fill * min(size[0] / width, size[1] / height)
    w, h = max(1, min(size[0], round(width * scale))), max(1, min(size[1], round(height * scale)))
    return (size[0] - w) // 2, (size[1] - h) // 2, w, h


def place(reference: "Reference", size: tuple[int, int], fill: float | None = None,
          box: tuple[int, int, int, int] | None = None) -> Placement:
    """The product cut out along its mask, resized (premultiplied, Lanczos) into its box in a frame of `size`: the box
    for `fill`, or the planned `box` itself (generation places the product exactly where planning said)."""
    from PIL import Image

    if box is None:
        if fill is None:
            raise ValueError("place needs a fill ratio or a box")
        box = box_for(reference.box, size, fill)
    x, y, w, h = box
    rx, ry, rw, rh = reference.box
    product = reference.image.copy()
    product.putalpha(Image.fromarray(reference.alpha))
    cut = product.crop((rx, ry, rx + rw, ry + rh)).convert("RGBa")  # premultiplied: no dark fringe from clear pixels
    resized = cut.resize((w, h), Image.Resampling.LANCZOS).convert("RGBA")
    alpha = resized.getchannel("A").point(lambda value: 255 if value >= OPAQUE else 0)  # a hard edge: kept or not
    resized.putalpha(alpha)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste(resized, (x, y))
    return Placement(size=size, box=(x, y, w, h), layer=layer)


def white_packshot(placement: Placement) -> "Image":
    """`white` mode: the product on pure white (RGB 255), nothing generated."""
    from PIL import Image

    canvas = Image.new("RGBA", placement.size, WHITE + (255,))
    canvas.alpha_composite(placement.layer)
    return canvas.convert("RGB")


def composite(generated: "Image", placement: Placement) -> "Image":
    """`background` mode: the generated scene (resized to the output if made smaller) with the product's own pixels
    put back on top, so whatever the model drew over the mask is replaced."""
    from PIL import Image

    scene = generated.convert("RGB")
    if scene.size != placement.size:
        scene = scene.resize(placement.size, Image.Resampling.LANCZOS)
    scene = scene.convert("RGBA")
    scene.alpha_composite(placement.layer)
    return scene.convert("RGB")


def fill_inputs(placement: Placement, size: tuple[int, int]) -> tuple["Image", "Image"]:
    """FLUX.1 Fill's inputs at the generated size: the packshot on white, and the mask inverted (white = make the
    scene here, black = the product, kept)."""
    from PIL import Image, ImageOps

    image = white_packshot(placement)
    mask = ImageOps.invert(Image.fromarray(placement.mask).convert("L"))
    if size != placement.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return image, mask


def kontext_input(placement: Placement, size: tuple[int, int]) -> "Image":
    """FLUX.1 Kontext's input at the generated size: the packshot on white, placed where the edit should keep it."""
    from PIL import Image

    image = white_packshot(placement)
    return image if size == placement.size else image.resize(size, Image.Resampling.LANCZOS)


def deliver(generated: "Image", mode: str | None, size: tuple[int, int], placement: Placement | None = None) -> "Image":
    """A generated image as it is stored: resized to the delivered size (a channel's), and in `background` mode the
    product's own pixels composited back at that size (after the resize, so they are never resampled twice)."""
    from PIL import Image

    if mode == "background":
        if placement is None or placement.size != size:
            raise ValueError("background mode needs the product placed at the delivered size")
        return composite(generated, placement)
    image = generated.convert("RGB")
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
