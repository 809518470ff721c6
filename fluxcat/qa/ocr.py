"""OCR for the text check: a pool of rapidocr engines (it ships its ONNX weights), one per QA thread, loaded on first
use and owned by the run that made it; on a machine whose onnxruntime has CUDA the engines run on the GPU."""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_SIDE = 768  # images are read at most this large (benchmarks/qa.py: 3x faster than full 1024x1024)


class TextReader:
    """Reads the text of images on up to `engines` threads at once. Each engine runs single-threaded on the CPU:
    N engines on N threads read N images at once, which is more images per second than one engine spreading
    each image over N cores (benchmarks/qa.py, throughput per core)."""

    def __init__(self, engines: int = 2, threads_per_engine: int = 1):
        self.size, self.threads_per_engine = max(1, engines), max(1, threads_per_engine)
        self._idle: queue.Queue = queue.Queue()
        self._made = 0
        self._lock = threading.Lock()

    def __call__(self, image: "Image") -> str:
        """All text found in the image, lines top to bottom."""
        import numpy as np

        small = image.convert("RGB")
        small.thumbnail((MAX_SIDE, MAX_SIDE))  # detection cost grows with pixels; label text survives this size
        engine = self._take()
        try:
            found, _ = engine(np.asarray(small), use_cls=False)  # upright text: no 180-degree classifier pass
        finally:
            self._idle.put(engine)
        return " ".join(text for _, text in sorted(_reading_order(found or [])))

    def _take(self):
        with self._lock:
            make = self._idle.empty() and self._made < self.size
            self._made += make
        return load_engine(self.threads_per_engine) if make else self._idle.get()

    def close(self) -> None:
        """Drop the engines (their ONNX sessions are freed with them)."""
        while not self._idle.empty():
            self._idle.get_nowait()


def load_engine(threads: int = 1):
    """One rapidocr engine: on CUDA when this onnxruntime offers it, else on `threads` CPU threads."""
    import onnxruntime
    from rapidocr_onnxruntime import RapidOCR

    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    # thread counts are global options (rapidocr copies them to each model); the device is per model
    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1,
                    **{f"{part}_use_cuda": cuda for part in ("det", "cls", "rec")})


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
