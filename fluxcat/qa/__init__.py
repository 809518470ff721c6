"""Image QA, pure: (image, expectation) -> verdict on text fidelity (OCR), blank images and colour fidelity.
Retrying with the next seed is generation's job (fluxcat/generate.py); QA never calls a backend."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QaSettings:
    """Thresholds and retries of the QA stage; the defaults are documented in docs/qa.md."""

    retries: int = 2  # regenerations with the next seed after a failed text or blank check
    text_similarity: float = 0.9  # normalised edit similarity of OCR text to the expected text
    colour_delta_e: float = 20.0  # CIEDE2000 distance of the product colour from the expected one
    blank_std: float = 3.0  # colour standard deviation (RGB distance from the mean colour) below which it is uniform
    dark_mean: float = 8.0  # every channel's mean below this: near-black
    light_mean: float = 248.0  # every channel's mean above this: near-white
    threads: int = 2  # threads judging images while the backend makes the next batch; one OCR engine each

    def __post_init__(self):
        if not 0 <= self.retries <= 10:
            raise ValueError(f"qa_retries must be 0-10, got {self.retries}")
        if self.threads < 1:
            raise ValueError(f"QA threads must be at least 1, got {self.threads}")
