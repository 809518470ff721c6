"""FLUX parameter limits, named sizes and model defaults, as data (from the /api/v1/flux/dev reference)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PROMPT_CHARS = 1000
NUM_IMAGES_RANGE = (1, 4)
GUIDANCE_RANGE = (1.0, 20.0)
STEPS_RANGE = (1, 50)
SEED_RANGE = (0, 2**32 - 1)
SIZE_RANGE = (256, 2048)
SIZE_MULTIPLE = 16
DEFAULT_SIZE = (1024, 1024)

NAMED_SIZES: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}

# A slot (display size x pixel ratio, or a sales channel) is generated at its own aspect ratio, covering it, with at
# most this many pixels (FLUX.1's native area: 1024x1024); a larger slot is shown upscaled.
MAX_SLOT_PIXELS = 1024 * 1024

QUALITIES = ("draft", "balanced", "high", "maximum")
# Steps for FLUX.1-dev by quality (the reference's speed/quality table); schnell always runs 4.
DEV_STEPS_BY_QUALITY = {"draft": 20, "balanced": 28, "high": 40, "maximum": 50}
SHORT_PROMPT_WORDS = 20


@dataclass(frozen=True)
class ModelSpec:
    name: str
    hub_id: str
    default_steps: int
    default_guidance: float
    max_sequence_length: int
    fixed_steps: bool  # schnell is distilled for exactly this many steps and ignores guidance


MODELS: dict[str, ModelSpec] = {
    "schnell": ModelSpec("schnell", "black-forest-labs/FLUX.1-schnell", 4, 0.0, 256, True),
    "dev": ModelSpec("dev", "black-forest-labs/FLUX.1-dev", 28, 3.5, 512, False),
}
MODEL_CHOICES = ("auto", *MODELS)  # what a row's `model` may name; reference modes pick the models below
# Models a reference row's mode picks (docs/reference.md). Fill's guidance is on its own scale (the diffusers
# pipeline's and the providers' default is 30); `packshot` is fluxcat's own compositing, versioned like weights.
REFERENCE_MODELS: dict[str, ModelSpec] = {
    "fill": ModelSpec("fill", "black-forest-labs/FLUX.1-Fill-dev", 28, 30.0, 512, False),
    "kontext": ModelSpec("kontext", "black-forest-labs/FLUX.1-Kontext-dev", 28, 2.5, 512, False),
    "packshot": ModelSpec("packshot", "fluxcat-packshot-v1", 0, 0.0, 0, True),
}
# Fill's guidance scale is its own (default 30; diffusers takes any, Replicate's schema 0-100, fal's 0-35).
FILL_GUIDANCE_RANGE = (1.0, 35.0)


def model_spec(name: str) -> ModelSpec:
    """A text-to-image or reference model's spec by fluxcat's name for it."""
    return MODELS[name] if name in MODELS else REFERENCE_MODELS[name]
