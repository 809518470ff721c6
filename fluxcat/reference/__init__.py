"""Reference images, the catalog's own product photo: read and checked, masked, placed in the frame, composited back.

`background` keeps the product's own pixels and lets FLUX.1 Fill make the scene around them (the product is
composited back, so it is unchanged by construction); `edit` hands the placed packshot to FLUX.1 Kontext; `white`
places it on pure white with no generation. Everything here is a pure function of the reference's bytes."""

from fluxcat.reference.load import (
    DEFAULT_TOLERANCE, MIN_PRODUCT_SIDE, MIN_REFERENCE_SIDE, Reference, ReferenceRejected, ReferenceReader,
    decode_reference, read_reference, resolve_reference_url,
)
from fluxcat.reference.mask import Segmenter, load_segmenter, product_alpha
from fluxcat.reference.place import (
    Placement, composite, deliver, fill_inputs, kontext_input, place, white_packshot,
)

MODES = ("background", "edit", "white")
DEFAULT_MODE = "background"  # when a row gives a reference and no mode
# What each mode asks of a backend: the FLUX model that makes it (None: fluxcat makes it itself, free).
MODE_MODELS = {"background": "fill", "edit": "kontext", "white": None}
# How much of the frame the product fills (its longer extent) when no channel says: a scene leaves room around it.
DEFAULT_FILL = {"background": (0.45, 0.65), "edit": (0.6, 0.8), "white": (0.8, 0.9)}

__all__ = [
    "DEFAULT_FILL", "DEFAULT_MODE", "DEFAULT_TOLERANCE", "MIN_PRODUCT_SIDE", "MIN_REFERENCE_SIDE", "MODES",
    "MODE_MODELS", "Placement", "Reference", "ReferenceReader", "ReferenceRejected", "Segmenter", "composite",
    "decode_reference", "deliver", "fill_inputs", "kontext_input", "load_segmenter", "place", "product_alpha", "read_reference",
    "resolve_reference_url", "white_packshot",
]
