"""Reading a reference image from any fsspec URL: its hash, its pixels and its product mask, or why it cannot be used."""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import fsspec

from fluxcat.errors import quote
from fluxcat.reference.mask import ReferenceRejected, Segmenter, product_alpha

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

MIN_REFERENCE_SIDE = 128  # shorter side of the reference, in pixels
MIN_PRODUCT_SIDE = 32  # longer side of the product's box in the reference
MAX_REFERENCE_BYTES = 50 * 2**20
DEFAULT_TOLERANCE = 8.0  # CIEDE2000 from the background colour that still counts as background (flood fill)
MASK_COVERAGE = (0.002, 0.98)  # share of the reference the product may cover: outside it, nothing was separated


@dataclass(frozen=True)
class Reference:
    """A reference image as planning and generation use it: every field follows from its bytes."""

    url: str
    sha256: str
    image: "Image"  # RGBA
    alpha: "np.ndarray"  # uint8 HxW: 255 product, 0 background (soft edges where the file's alpha is soft)
    mask_source: str  # "alpha", "flood" or "segmenter:<module:function>"
    box: tuple[int, int, int, int]  # the product's bounding box in the reference: x, y, w, h

    @property
    def coverage(self) -> float:
        return float((self.alpha >= 128).mean())


def resolve_reference_url(url: str, catalog_url: str) -> str:
    """A relative path is relative to the catalog's folder (so a catalog and its images move together); URLs with a
    protocol and absolute paths stand as they are. A local result is absolute, so resolving it again (generation
    reads what planning recorded) changes nothing."""
    if "://" in url:
        return url
    if url.startswith(("/", "~")):
        return os.path.expanduser(url)
    if "://" in catalog_url:
        protocol, path = catalog_url.split("://", 1)
        return f"{protocol}://{posixpath.normpath(posixpath.join(posixpath.dirname(path), url))}"
    return os.path.abspath(os.path.join(os.path.dirname(os.path.expanduser(catalog_url)), url))


def read_reference(url: str, storage_options: dict | None = None, tolerance: float = DEFAULT_TOLERANCE,
                   segmenter: "Segmenter | None" = None) -> Reference:
    """Fetch and check one reference; ReferenceRejected says why one cannot be used."""
    try:
        with fsspec.open(url, "rb", **(storage_options or {})) as handle:
            data = handle.read(MAX_REFERENCE_BYTES + 1)
    except FileNotFoundError:
        raise ReferenceRejected(f"reference_image {quote(url)} not found: check the path (relative paths are "
                                "relative to the catalog's folder)") from None
    except IsADirectoryError:
        raise ReferenceRejected(f"reference_image {quote(url)} is a folder: give the path of one image") from None
    except (OSError, ValueError, ImportError) as error:
        raise ReferenceRejected(f"reference_image {quote(url)} could not be read ({type(error).__name__}: "
                                f"{quote(str(error), 160)})") from None
    if len(data) > MAX_REFERENCE_BYTES:
        raise ReferenceRejected(f"reference_image {quote(url)} is over {MAX_REFERENCE_BYTES // 2**20} MB: "
                                "export the packshot smaller (a 2000-4000 px PNG or JPEG is plenty)")
    return decode_reference(data, url, tolerance, segmenter)


def decode_reference(data: bytes, url: str = "<bytes>", tolerance: float = DEFAULT_TOLERANCE,
                     segmenter: "Segmenter | None" = None) -> Reference:
    """Check a reference's bytes: an image, large enough, with a product that can be told from its background."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as error:
        raise ReferenceRejected(f"reference_image {quote(url)} is not an image fluxcat can read "
                                f"({type(error).__name__}: {quote(str(error), 120)}): use a PNG, JPEG or WebP") from None
    if min(image.size) < MIN_REFERENCE_SIDE:
        raise ReferenceRejected(f"reference_image {quote(url)} is {image.width}x{image.height}: too small, the "
                                f"shorter side must be at least {MIN_REFERENCE_SIDE} px")
    rgba = _rgba(image)
    try:
        alpha, source = product_alpha(rgba, tolerance, segmenter)
    except ReferenceRejected as rejected:
        raise ReferenceRejected(f"reference_image {quote(url)}: {rejected}") from None
    box = _check_mask(alpha, url, source)
    return Reference(url=url, sha256=hashlib.sha256(data).hexdigest(), image=rgba, alpha=alpha, mask_source=source,
                     box=box)


def _rgba(image: "Image") -> "Image":
    """RGBA in sRGB order; palette, greyscale and CMYK images included (transparency kept)."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)  # a phone photo's orientation tag
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("PA")
    return image.convert("RGBA")


def _check_mask(alpha: "np.ndarray", url: str, source: str) -> tuple[int, int, int, int]:
    import numpy as np

    product = alpha >= 128
    share = float(product.mean())
    how = {"alpha": "its alpha channel", "flood": "its plain background"}.get(source, source)
    if share < MASK_COVERAGE[0]:
        raise ReferenceRejected(f"reference_image {quote(url)}: no product found from {how} (it covers "
                                f"{share:.1%} of the image): use a packshot with transparency or on a plain light background")
    if share > MASK_COVERAGE[1]:
        raise ReferenceRejected(f"reference_image {quote(url)}: the product mask from {how} covers {share:.1%} of the "
                                "image, so no background was separated: use a packshot with transparency or with a plain "
                                "margin around the product")
    rows, cols = np.flatnonzero(product.any(axis=1)), np.flatnonzero(product.any(axis=0))
    x, y, w, h = int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
    if max(w, h) < MIN_PRODUCT_SIDE:
        raise ReferenceRejected(f"reference_image {quote(url)}: the product is only {w}x{h} px; it must be at least "
                                f"{MIN_PRODUCT_SIDE} px on its longer side")
    return x, y, w, h


class ReferenceReader:
    """Reads references for one run: the last few are kept decoded (rows and channels of one product share a
    packshot, and catalogs list a product's rows together); built per run, never shared between runs; its shards'
    threads share it."""

    def __init__(self, storage_options: dict | None = None, tolerance: float = DEFAULT_TOLERANCE,
                 segmenter: "Segmenter | None" = None, catalog_url: str = "", keep: int = 16):
        self.storage_options, self.tolerance, self.segmenter = storage_options, tolerance, segmenter
        self.catalog_url, self.keep = catalog_url, keep
        self._recent: OrderedDict[str, Reference | ReferenceRejected] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, url: str) -> Reference:
        resolved = resolve_reference_url(url, self.catalog_url) if self.catalog_url else url
        with self._lock:
            found = self._recent.pop(resolved, None)
        if found is None:  # read outside the lock: two threads may read one file at once, never wait on each other
            try:
                found = read_reference(resolved, self.storage_options, self.tolerance, self.segmenter)
            except ReferenceRejected as rejected:  # named as the catalog wrote it, and where that led
                found = ReferenceRejected(str(rejected).replace(quote(resolved), quote(url) + (
                    f" (at {resolved})" if resolved != url else ""), 1))
        with self._lock:
            self._recent[resolved] = found
            while len(self._recent) > self.keep:
                self._recent.popitem(last=False)
        if isinstance(found, ReferenceRejected):
            raise found
        return found
