"""`flux-api`: any server speaking the /api/v1/flux/dev protocol (`fluxcat serve`, or a hosted one), one image a call."""

from __future__ import annotations

from typing import Any

from fluxcat.backends.base import ImageRequest
from fluxcat.backends.capabilities import ModelLimits, SizeRule
from fluxcat.backends.hosted import HostedBackend, Output, ProviderError
from fluxcat.backends.hosted.secrets import excerpt
from fluxcat.backends.provider_facts import register_provider_facts
from fluxcat.limits import GUIDANCE_RANGE, NAMED_SIZES, STEPS_RANGE

ENDPOINT = "/api/v1/flux/dev"
SIZE_NAMES = {size: name for name, size in NAMED_SIZES.items()}  # (width, height) -> image_size

# The reference publishes no price ("our standard image generation rate") and no free tier: price 0 and no
# monthly limit unless set with price_dev= / monthly_limit=. Its quoted inference time is 0.5-2 s.
register_provider_facts("flux-api", prices={"schnell": 0.0, "dev": 0.0}, monthly_limit=None, typical_seconds=1.25,
                        concurrency=3, key_env="FLUX_API_KEY", base_url_env="FLUX_API_BASE_URL")


class FluxApiBackend(HostedBackend):
    """POST {base_url}/api/v1/flux/dev with Bearer FLUX_API_KEY; one request per image so each keeps its own seed.

    The endpoint is FLUX.1-dev with the protocol's six named `image_size`s: planning moves schnell rows to dev
    and other sizes to the nearest named one, recording each change in `corrections`."""

    name = "flux-api"
    models = {"dev": "flux/dev"}

    def _base_url(self, option: str | None) -> str:
        # Accept the endpoint's full URL too: the reference's examples quote it that way.
        url = super()._base_url(option)
        return url[: -len(ENDPOINT)] if url.endswith(ENDPOINT) else url

    def model_limits(self, model: str) -> ModelLimits:
        return ModelLimits(sizes=(SizeRule(fixed=tuple(SIZE_NAMES)),), steps=STEPS_RANGE, guidance=GUIDANCE_RANGE)

    async def produce(self, request: ImageRequest) -> Output:
        payload = request_body(request)
        response = await self.request("POST", self.url(ENDPOINT), json=payload, what="generate")
        return parse_response(self.json_of(response, "generate"), request)


def request_body(request: ImageRequest) -> dict[str, Any]:
    """fluxcat's planned parameters in the protocol's names and units."""
    return {"prompt": request.prompt, "num_images": 1, "image_size": SIZE_NAMES[(request.width, request.height)],
            "guidance_scale": request.guidance, "num_inference_steps": request.steps, "seed": request.seed}


def parse_response(body: Any, request: ImageRequest) -> Output:
    """The image URL and the provider facts of a reply; a reply of the wrong shape fails the image."""
    images = body.get("images") if isinstance(body, dict) else None
    if not isinstance(images, list) or not images or not isinstance(images[0], dict) or not isinstance(images[0].get("url"), str):
        raise ProviderError(f"flux-api reply has no images[0].url: {excerpt(body)}")
    if body.get("seed") is not None and body["seed"] != request.seed:
        # The content key promises this seed's pixels; a server that ignores the seed cannot keep that promise.
        raise ProviderError(f"flux-api answered with seed {body['seed']} for seed {request.seed}", circuit=False)
    nsfw = body.get("has_nsfw_concepts")
    timings = body.get("timings")
    return Output(images[0]["url"], details={
        "has_nsfw_concepts": bool(nsfw[0]) if isinstance(nsfw, list) and nsfw else None,
        "provider_inference_s": timings.get("inference") if isinstance(timings, dict) else None,
        "provider_content_type": images[0].get("content_type"),
    })
