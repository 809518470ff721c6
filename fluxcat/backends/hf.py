"""Hugging Face Inference: POST the prompt, get image bytes back; 503 "model loading" waits `estimated_time`."""

from __future__ import annotations

import json

from fluxcat.backends.base import ImageRequest
from fluxcat.backends.hosted import HostedBackend, Output, ProviderError, parse_retry_after, provider_message


class HuggingFaceBackend(HostedBackend):
    """black-forest-labs/FLUX.1-{schnell,dev} on the serverless Inference API."""

    name = "hf"
    default_base_url = "https://api-inference.huggingface.co"
    models = {"schnell": "black-forest-labs/FLUX.1-schnell", "dev": "black-forest-labs/FLUX.1-dev"}

    def __init__(self, max_loading_wait: float = 60.0, wait_for_model: bool = False, **options):
        super().__init__(**options)
        self.max_loading_wait = float(max_loading_wait)  # longest single wait for a loading model
        self.wait_for_model = bool(wait_for_model)       # ask the API to hold the request while it loads

    def payload(self, request: ImageRequest) -> dict:
        return {"inputs": request.prompt,
                "parameters": {"num_inference_steps": request.steps, "guidance_scale": request.guidance,
                               "width": request.width, "height": request.height, "seed": request.seed}}

    async def produce(self, request: ImageRequest) -> Output:
        headers = {"Accept": "image/png"}
        if self.wait_for_model:
            headers["x-wait-for-model"] = "true"
        response = await self.request("POST", self.url(f"models/{self.models[request.model]}"),
                                      json=self.payload(request), headers=headers, what="inference")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type.startswith("image/") or content_type == "application/octet-stream":
            return Output(response.content)
        raise ProviderError(f"hf replied {content_type or 'untyped'} instead of an image: {provider_message(response)}")

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
