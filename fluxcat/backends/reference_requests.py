"""Request bodies of the hosted FLUX.1 Fill and FLUX.1 Kontext models on fal and Replicate, field for field as each
model's published input schema has them (the sources are named per model below); images travel as data URIs, which
both providers accept for file inputs. Pure functions: the hosted backends send what these build."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class HostedModel:
    provider: str
    model: str  # fluxcat's name: fill | kontext
    endpoint: str  # fal app id, or Replicate owner/name
    schema: str  # where the fields below were read


FAL = {
    "fill": HostedModel("fal", "fill", "fal-ai/flux-lora-fill",
                        "fal's FLUX.1 [dev] Fill model API (fal.ai/models/fal-ai/flux-lora-fill/api), as generated into "
                        "the fal Rust crate's FillInput (carlosdp/fal-rs src/endpoints/fal_ai/flux_lora_fill/mod.rs)"),
    "kontext": HostedModel("fal", "kontext", "fal-ai/flux-kontext/dev",
                           "fal's FLUX.1 Kontext [dev] model API, its published input schema "
                           "(fal.ai/models/fal-ai/flux-kontext/dev/api)"),
}
REPLICATE = {
    "fill": HostedModel("replicate", "fill", "black-forest-labs/flux-fill-dev",
                        "replicate.com/black-forest-labs/flux-fill-dev/versions/a053f841.../api (input schema)"),
    "kontext": HostedModel("replicate", "kontext", "black-forest-labs/flux-kontext-dev",
                           "replicate.com/black-forest-labs/flux-kontext-dev/versions/835a8c3b.../api (input schema)"),
}
# Replicate's Fill scales an image whose sides are not multiples of 32, and one beyond 1440x1440 (its schema's words):
# fluxcat plans Fill on Replicate at sizes it keeps as they are.
REPLICATE_FILL_MULTIPLE, REPLICATE_FILL_MAX_SIDE = 32, 1440


def data_uri(image: "Image", image_format: str = "png") -> str:
    """An image as a data URI (PNG: lossless, so the product's pixels reach the model unchanged)."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format.upper())
    return f"data:image/{image_format};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def fal_input(model: str, prompt: str, width: int, height: int, steps: int, guidance: float, seed: int,
              image: "Image", mask: "Image | None" = None, output_format: str = "png") -> dict:
    """fal: Fill takes image_url + mask_url (white: make, black: keep) and an image_size; Kontext takes image_url and
    makes the image at the input's size (resolution_mode match_input)."""
    body = {"prompt": prompt, "image_url": data_uri(image), "num_inference_steps": steps, "guidance_scale": guidance,
            "seed": seed, "num_images": 1, "output_format": output_format, "enable_safety_checker": True}
    if model == "fill":
        if mask is None or mask.size != image.size:
            raise ValueError("fal's Fill needs a mask of the image's size")
        return body | {"mask_url": data_uri(mask), "image_size": {"width": width, "height": height}}
    if model == "kontext":
        return body | {"resolution_mode": "match_input"}
    raise ValueError(f"fal serves no reference model {model!r}")


def replicate_input(model: str, prompt: str, width: int, height: int, steps: int, guidance: float, seed: int,
                    image: "Image", mask: "Image | None" = None, output_format: str = "png") -> dict:
    """Replicate: Fill takes image + mask at the size to make (megapixels match_input); Kontext takes input_image and
    matches its aspect ratio."""
    body = {"prompt": prompt, "num_inference_steps": steps, "guidance": guidance, "seed": seed,
            "output_format": output_format}
    if model == "fill":
        if mask is None or mask.size != image.size:
            raise ValueError("Replicate's Fill needs a mask of the image's size")
        if width % REPLICATE_FILL_MULTIPLE or height % REPLICATE_FILL_MULTIPLE or max(width, height) > REPLICATE_FILL_MAX_SIDE:
            raise ValueError(f"Replicate's Fill keeps only sizes in multiples of {REPLICATE_FILL_MULTIPLE} up to "
                             f"{REPLICATE_FILL_MAX_SIDE} px a side, not {width}x{height}")
        return body | {"image": data_uri(image), "mask": data_uri(mask), "megapixels": "match_input", "num_outputs": 1}
    if model == "kontext":
        return body | {"input_image": data_uri(image), "aspect_ratio": "match_input_image"}
    raise ValueError(f"Replicate serves no reference model {model!r}")
