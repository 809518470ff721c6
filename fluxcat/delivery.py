"""What generation does for an output beyond text to image, from its plan row: the reference placed at product_box in
the delivered frame, the model's inputs at the generated size (Fill: packshot and inverted mask; Kontext: packshot),
the white packshot, the delivered image (resized to the channel's size, the product composited back in background
mode) and the expectation QA judges it by. Pure functions of the row and the run's reference reader."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Mapping

from fluxcat.outputs import PACKSHOT
from fluxcat.qa.expect import Expectation, expectation
from fluxcat.reference import ReferenceRejected, deliver, fill_inputs, kontext_input, place, white_packshot

if TYPE_CHECKING:
    from PIL.Image import Image

    from fluxcat.backends.base import ImageRequest
    from fluxcat.channels import ChannelSpec
    from fluxcat.qa.checks import ReadText
    from fluxcat.reference import Placement, ReferenceReader

__all__ = ["PACKSHOT", "OutputProblem", "compose_packshot", "delivered", "delivered_size", "output_expectation",
           "placement_for", "with_inputs"]


class OutputProblem(ValueError):
    """An output that cannot be made as planned (its reference is gone or changed): the row fails with this reason."""


def delivered_size(row: Mapping) -> tuple[int, int]:
    """The stored image's size: the delivered size planning recorded (manifests before it: the generated size)."""
    return (row.get("delivered_width") or row["width"], row.get("delivered_height") or row["height"])


def placement_for(row: Mapping, references: "ReferenceReader") -> "Placement | None":
    """The row's reference placed at its product_box in the delivered frame; None for a text-only output. The file
    must still be the one planning read (same SHA-256): a changed reference changes the keys, so it is planned anew."""
    url = row.get("reference_image")
    if not url:
        return None
    try:
        reference = references(url)
    except ReferenceRejected as rejected:
        raise OutputProblem(f"{rejected} (it was readable when this run planned it)") from None
    if reference.sha256 != row["reference_sha256"]:
        raise OutputProblem(f"reference_image {url} changed after this run planned it (SHA-256 "
                            f"{reference.sha256[:12]}, planned {row['reference_sha256'][:12]}): run again to plan it anew")
    return place(reference, delivered_size(row), box=tuple(row["product_box"]))


def with_inputs(request: "ImageRequest", mode: str | None, placement: "Placement | None") -> "ImageRequest":
    """The request with its model's image inputs at the generated size."""
    size = (request.width, request.height)
    if mode == "background":
        image, mask = fill_inputs(placement, size)
        return replace(request, image=image, mask=mask)
    if mode == "edit":
        return replace(request, image=kontext_input(placement, size))
    return request


def compose_packshot(placement: "Placement") -> "Image":
    """White mode's image: the product on pure white at the delivered size."""
    return white_packshot(placement)


def delivered(image: "Image", row: Mapping, placement: "Placement | None") -> "Image":
    """A generated image as it is stored: at the delivered size, the product's own pixels back on top in background
    mode. A text-only output at its own size is returned as it is."""
    size, mode = delivered_size(row), row.get("reference_mode")
    if mode is None and image.size == size:
        return image
    return deliver(image, mode, size, placement)


def output_expectation(row: Mapping, placement: "Placement | None", channels: Mapping[str, "ChannelSpec"],
                       read_text: "ReadText", labels: dict) -> Expectation:
    """What QA judges the output by: the row's text and colour, plus its product (the placement) and channel rules.
    In edit mode the reference's label text is read once per reference and placement (`labels` caches it)."""
    expects = expectation(row)
    channel = channels.get(row["channel"]) if row.get("channel") else None
    if placement is None and channel is None:
        return expects
    if placement is not None and expects.colour:  # the product's colour is the reference's, not the prompt's word
        expects = replace(expects, colour=None, colour_source=None, notes=expects.notes + (
            f"colour {expects.colour_source!r} not checked: the product is the reference's, checked by fidelity",))
    label = None
    if row.get("reference_mode") == "edit":
        from fluxcat.qa.fidelity import reference_label_text

        cache_key = (row["reference_sha256"], placement.size, placement.box)
        if cache_key not in labels:
            labels[cache_key] = reference_label_text(placement, read_text)
        label = labels[cache_key]
    return replace(expects, mode=row.get("reference_mode"), product=placement, label_text=label, channel=channel)
