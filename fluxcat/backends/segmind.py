"""Segmind: JSON in with each model's own field names; image bytes back (or base64 JSON, or an image URL)."""

from __future__ import annotations

from fluxcat.backends.base import ImageRequest
from fluxcat.backends.capabilities import ModelLimits, SizeRule
from fluxcat.backends.hosted import HostedBackend, Output, ProviderError, decode_base64
from fluxcat.backends.hosted.results import content_type_of
from fluxcat.backends.hosted.secrets import excerpt
from fluxcat.backends.replicate import ASPECT_RATIO_SIZES

# flux-schnell: width/height 512-2048 in multiples of 8, steps 1-8. flux-dev takes an aspect_ratio and no size;
# its sizes are those of the 1-megapixel FLUX aspect ratios.
SCHNELL_SIZES = SizeRule(step=8, low=512, high=2048)
DEV_ASPECT_RATIOS = {size: ratio for ratio, size in ASPECT_RATIO_SIZES.items()}
SEGMIND_STEPS = {"schnell": (1, 8), "dev": (1, 50)}


class SegmindBackend(HostedBackend):
    """POST {base}/v1/flux-{schnell,dev} with the x-api-key header; 406 (out of credits) opens the circuit."""

    name = "segmind"
    default_base_url = "https://api.segmind.com"
    models = {"schnell": "flux-schnell", "dev": "flux-dev"}
    auth_header, auth_scheme = "x-api-key", ""

    def __init__(self, output_format: str = "png", **options):
        super().__init__(**options)
        self.output_format = output_format

    def model_limits(self, model: str) -> ModelLimits:
        sizes = SCHNELL_SIZES if model == "schnell" else SizeRule(fixed=tuple(DEV_ASPECT_RATIOS))
        return ModelLimits(sizes=(sizes,), steps=SEGMIND_STEPS[model])

    def payload(self, request: ImageRequest) -> dict:
        if request.model == "schnell":
            return {"prompt": request.prompt, "steps": request.steps, "width": request.width, "height": request.height,
                    "seed": request.seed, "samples": 1}
        return {"prompt": request.prompt, "steps": request.steps, "guidance": request.guidance, "seed": request.seed,
                "aspect_ratio": DEV_ASPECT_RATIOS[(request.width, request.height)], "output_format": self.output_format}

    async def produce(self, request: ImageRequest) -> Output:
        response = await self.request("POST", self.url(f"v1/{self.models[request.model]}"), json=self.payload(request),
                                      what="generate")
        details = {"credits_remaining": response.headers.get("x-remaining-credits")}
        if content_type_of(response).startswith("image/"):
            return Output(response.content, details)
        body = self.json_of(response, "generate")
        image = _first_image(body)
        if image is None:
            raise ProviderError(f"segmind reply has no image, image_url or images: {excerpt(body)}")
        if image.startswith(("http://", "https://", "data:")):
            return Output(image, details)
        return Output(decode_base64(image), details)


def _first_image(body) -> str | None:
    if not isinstance(body, dict):
        return None
    for key in ("image", "image_url", "output"):
        if isinstance(body.get(key), str) and body[key]:
            return body[key]
    images = body.get("images")
    if isinstance(images, list) and images and isinstance(images[0], str):
        return images[0]
    return None
