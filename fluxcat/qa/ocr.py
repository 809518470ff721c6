"""The OCR engine, loaded once per process on first use (rapidocr-onnxruntime ships its ONNX weights)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_SIDE = 768  # images are read at most this large (benchmarks/qa.py: 3x faster than full 1024x1024)
_engine = None
_lock = threading.Lock()  # one recognition at a time: onnxruntime already spreads each over the cores


def read_text(image: "Image") -> str:
    """All text found in the image, lines top to bottom."""
    import numpy as np

    small = image.convert("RGB")
    small.thumbnail((MAX_SIDE, MAX_SIDE))  # detection cost grows with pixels; label text survives this size
    with _lock:
        found, _ = _load()(np.asarray(small), use_cls=False)  # upright text: no 180-degree classifier pass
    return " ".join(text for _, text in sorted(_reading_order(found or [])))


def _reading_order(found: list) -> list[tuple[tuple[int, float], str]]:
    """(line number, x) for each box: a box whose centre lies within the previous box's height joins its line."""
    boxes = sorted(((sum(p[1] for p in box) / 4, box[0][0], box[2][1] - box[0][1], text) for box, text, _ in found))
    ordered, line, line_centre, line_height = [], 0, None, 0.0
    for centre, left, height, text in boxes:
        if line_centre is not None and abs(centre - line_centre) > max(line_height, height) / 2:
            line += 1
        line_centre, line_height = centre, height
        ordered.append(((line, left), text))
    return ordered


def _load():
    global _engine
    if _engine is None:
        from rapidocr_onnxruntime import RapidOCR

        _engine = RapidOCR()
    return _engine
