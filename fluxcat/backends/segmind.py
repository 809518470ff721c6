"""Segmind: JSON in; the image comes back as bytes, base64 JSON or an image URL."""

from __future__ import annotations

from fluxcat.backends.base import ImageRequest
from fluxcat.backends.hosted import HostedBackend, Output, ProviderError, decode_base64


class SegmindBackend(HostedBackend):
    """POST {base}/v1/flux-{schnell,dev} with the x-api-key header."""

    name = "segmind"
    default_base_url = "https://api.segmind.com"
    models = {"schnell": "flux-schnell", "dev": "flux-dev"}
    auth_header, auth_scheme = "x-api-key", ""

    def __init__(self, base64: bool = False, **options):
        super().__init__(**options)
        self.base64 = bool(base64)  # ask for {"image": "<base64>"} instead of raw bytes

    def payload(self, request: ImageRequest) -> dict:
        return {"prompt": request.prompt, "samples": 1, "num_inference_steps": request.steps,
                "guidance_scale": request.guidance, "seed": request.seed, "img_width": request.width,
                "img_height": request.height, "base64": self.base64}

    async def produce(self, request: ImageRequest) -> Output:
        response = await self.request("POST", self.url(f"v1/{self.models[request.model]}"), json=self.payload(request),
                                      what="generate")
        details = {"credits_remaining": response.headers.get("x-remaining-credits")}
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type.startswith("image/"):
            return Output(response.content, details)
        body = self.json_of(response, "generate")
        image = _first_image(body)
        if image is None:
            raise ProviderError(f"segmind reply has no image, image_url or images: {str(body)[:120]!r}")
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
