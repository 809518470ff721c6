"""Replicate: create a prediction (with `Prefer: wait`), poll it until it settles, download the output URL."""

from __future__ import annotations


from fluxcat.backends.base import ImageRequest
from fluxcat.backends.hosted import HostedBackend, Output, ProviderError

# Replicate's FLUX models take aspect_ratio + megapixels instead of a size; only these map to an exact size.
REPLICATE_SIZES: dict[tuple[int, int], tuple[str, str]] = {
    (1024, 1024): ("1:1", "1"),
    (512, 512): ("1:1", "0.25"),
}
REPLICATE_MAX_STEPS = {"schnell": 4, "dev": 50}
REPLICATE_GUIDANCE_RANGE = (0.0, 10.0)
SETTLED = {"succeeded", "failed", "canceled"}


class ReplicateBackend(HostedBackend):
    """black-forest-labs/flux-{schnell,dev} predictions on Replicate."""

    name = "replicate"
    default_base_url = "https://api.replicate.com"
    models = {"schnell": "black-forest-labs/flux-schnell", "dev": "black-forest-labs/flux-dev"}

    def __init__(self, prefer_wait: int = 60, output_format: str = "png", **options):
        super().__init__(**options)
        self.prefer_wait = int(prefer_wait)  # seconds the create call may block; 0 polls from the start
        self.output_format = output_format

    def unsupported(self, model, width, height, steps, guidance):
        reason = super().unsupported(model, width, height, steps, guidance)
        if reason:
            return reason
        if (width, height) not in REPLICATE_SIZES:
            offered = ", ".join(f"{w}x{h}" for w, h in REPLICATE_SIZES)
            return (f"replicate's FLUX takes an aspect ratio and megapixels, which give exactly {offered} only; "
                    f"{width}x{height} is not one (use image_size square_hd or square)")
        if steps > REPLICATE_MAX_STEPS[model]:
            return f"replicate runs FLUX {model} with at most {REPLICATE_MAX_STEPS[model]} steps, not {steps}"
        low, high = REPLICATE_GUIDANCE_RANGE
        if model == "dev" and not low <= guidance <= high:
            return f"replicate's flux-dev takes guidance {low:g}-{high:g}, not {guidance:g}"
        return None

    def inputs(self, request: ImageRequest) -> dict:
        aspect_ratio, megapixels = REPLICATE_SIZES[(request.width, request.height)]
        inputs = {"prompt": request.prompt, "aspect_ratio": aspect_ratio, "megapixels": megapixels, "num_outputs": 1,
                  "num_inference_steps": request.steps, "seed": request.seed, "output_format": self.output_format}
        if request.model == "dev":
            inputs["guidance"] = request.guidance
        return inputs

    async def produce(self, request: ImageRequest) -> Output:
        headers = {"Prefer": f"wait={self.prefer_wait}"} if self.prefer_wait > 0 else {}
        created = await self.request("POST", self.url(f"v1/models/{self.models[request.model]}/predictions"),
                                     json={"input": self.inputs(request)}, headers=headers, what="create prediction")
        prediction = self._prediction(created, "create prediction")
        if prediction.get("status") not in SETTLED:
            prediction = await self._poll(prediction)
        return self._output(prediction)

    def _prediction(self, response, what: str) -> dict:
        prediction = self.json_of(response, what)
        if not isinstance(prediction, dict) or "status" not in prediction:
            raise ProviderError(f"replicate {what} reply has no status: {str(prediction)[:120]!r}")
        return prediction

    async def _poll(self, prediction: dict) -> dict:
        prediction_id = prediction.get("id")
        if not prediction_id:
            raise ProviderError("replicate prediction has no id to poll")
        url = self.own_url((prediction.get("urls") or {}).get("get"), self.url(f"v1/predictions/{prediction_id}"))

        async def settled():
            current = self._prediction(await self.request("GET", url, what="get prediction"), "get prediction")
            return current if current.get("status") in SETTLED else None

        return await self.wait_until(settled, f"prediction {prediction_id}")

    def _output(self, prediction: dict) -> Output:
        status = prediction.get("status")
        if status != "succeeded":
            raise ProviderError(f"replicate prediction {status}: {prediction.get('error') or 'no error message'}",
                                circuit=False)
        output = prediction.get("output")
        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str) or not url:
            raise ProviderError(f"replicate prediction succeeded without an output URL: {str(output)[:120]!r}")
        metrics = prediction.get("metrics") or {}
        return Output(url, {"prediction_id": prediction.get("id"), "predict_time": metrics.get("predict_time")})

