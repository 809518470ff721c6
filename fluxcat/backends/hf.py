"""Hugging Face Inference through its router (as huggingface_hub's InferenceClient): POST the prompt, get image bytes."""

from __future__ import annotations

import json
import urllib.parse

from fluxcat.backends.base import BackendConfigError, ImageRequest
from fluxcat.backends.capabilities import ModelLimits, SizeRule
from fluxcat.backends.hosted import HostedBackend, Output, ProviderError, parse_retry_after, provider_message
from fluxcat.backends.hosted.results import content_type_of, is_image_type
from fluxcat.backends.hosted.settings import flag

RETIRED_HOST = "api-inference.huggingface.co"  # answers 410 Gone since the move to the router
HF_SIZES = SizeRule(step=16, low=256, high=2048)


class HuggingFaceBackend(HostedBackend):
    """black-forest-labs/FLUX.1-{schnell,dev} at {base}/models/{model_id}; base defaults to the hf-inference route
    of the router. HF bills monthly credits, then pay-as-you-go: a 402 opens the circuit."""

    name = "hf"
    default_base_url = "https://router.huggingface.co/hf-inference"
    models = {"schnell": "black-forest-labs/FLUX.1-schnell", "dev": "black-forest-labs/FLUX.1-dev"}

    def __init__(self, max_loading_wait: float = 60.0, wait_for_model: bool = False, **options):
        super().__init__(**options)
        if urllib.parse.urlsplit(self.base_url).hostname == RETIRED_HOST:
            raise BackendConfigError(f"hf: {RETIRED_HOST} is retired (410 Gone); use {self.default_base_url} "
                                     f"(unset HF_BASE_URL, or set it to that)")
        self.max_loading_wait = float(max_loading_wait)  # longest single wait for a loading model (legacy 503s)
        self.wait_for_model = flag(wait_for_model)       # ask the API to hold the request while it loads

    def model_limits(self, model: str) -> ModelLimits:
        return ModelLimits(sizes=(HF_SIZES,))

    def payload(self, request: ImageRequest) -> dict:
        parameters = {"num_inference_steps": request.steps, "width": request.width, "height": request.height,
                      "seed": request.seed}
        if request.model == "dev":
            parameters["guidance_scale"] = request.guidance
        return {"inputs": request.prompt, "parameters": parameters}

    async def produce(self, request: ImageRequest) -> Output:
        headers = {"Accept": "image/png"}
        if self.wait_for_model:
            headers["x-wait-for-model"] = "true"
        response = await self.request("POST", self.url(f"models/{self.models[request.model]}"),
                                      json=self.payload(request), headers=headers, what="inference")
        if is_image_type(content_type_of(response)):
            return Output(response.content)
        raise ProviderError(f"hf replied {content_type_of(response) or 'untyped'} instead of an image: "
                            f"{provider_message(response)}")

    def error_for(self, response) -> ProviderError:
        if response.status_code == 503:
            try:
                body = json.loads(response.text)
            except ValueError:
                body = None
            if isinstance(body, dict) and body.get("estimated_time") is not None:
                wait = min(float(body["estimated_time"]), self.max_loading_wait)
                header = parse_retry_after(response.headers.get("retry-after"))
                return ProviderError(f"hf model is loading (estimated {float(body['estimated_time']):g}s): "
                                     f"{provider_message(response)}", retryable=True,
                                     retry_after=wait if header is None else header, status=503)
        return super().error_for(response)
