"""A backend that returns a ready-made image instantly: for measuring pipeline overhead and fast tests."""

from __future__ import annotations

import time
from typing import Iterator

from fluxcat.backends.base import Backend, ImageRequest, ImageResult


class FixedBackend(Backend):
    name = "fixed"

    def __init__(self, max_batch: int = 64, fail_prompts_containing: str | None = None):
        self.max_batch = max_batch
        self.fail_marker = fail_prompts_containing  # lets tests make chosen rows fail
        self._images: dict[tuple[int, int], object] = {}

    def model_id(self, model: str) -> str:
        return f"fixed/{model}"

    def cost_per_image(self, request: ImageRequest) -> float:
        return 0.0

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        for request in requests:
            start = time.perf_counter()
            if self.fail_marker and self.fail_marker in request.prompt:
                yield ImageResult(request.key, error=f"fixed backend told to fail on {self.fail_marker!r}", backend=self.name)
                continue
            yield ImageResult(request.key, image=self._image(request), seconds=time.perf_counter() - start, backend=self.name)

    def _image(self, request: ImageRequest):
        """One gradient image per size, made once: memory stays flat however many rows run."""
        size = (request.width, request.height)
        if size not in self._images:
            self._images[size] = gradient(*size)
        return self._images[size]

    def close(self) -> None:
        self._images.clear()


def gradient(width: int, height: int):
    """The fixed backend's image: a red gradient over a dark orange. Not a flat colour, which image QA would rightly
    take for a blanked result and reseed (and which PNG compresses far faster: benchmarks/overhead.py uses this)."""
    from PIL import Image

    size = (width, height)
    red = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (red, Image.new("L", size, 120), Image.new("L", size, 40)))
