"""Replicate: create a prediction (with `Prefer: wait`), poll it until it settles, download the output URL. FLUX.1
schnell and dev, and for reference images flux-fill-dev and flux-kontext-dev (reference_requests.py builds their
inputs)."""

from __future__ import annotations

from fluxcat.backends.base import BackendConfigError, ImageRequest
from fluxcat.backends.capabilities import ModelLimits, SizeRule
from fluxcat.backends.hosted import HostedBackend, JobFailed, Output, ProviderError
from fluxcat.backends.hosted.secrets import excerpt
from fluxcat.backends.hosted.settings import flag
from fluxcat.backends.reference_requests import REPLICATE, REPLICATE_FILL_MAX_SIDE, REPLICATE_FILL_MULTIPLE, replicate_input

# Replicate's FLUX models take aspect_ratio + megapixels, not a size. The sizes each pair makes, as the models'
# published code (cog-flux) computes them: 1 megapixel per ratio, "0.25" halves each side.
ASPECT_RATIO_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "3:2": (1216, 832), "2:3": (832, 1216),
    "4:5": (896, 1088), "5:4": (1088, 896), "3:4": (896, 1152), "4:3": (1152, 896), "9:16": (768, 1344),
    "9:21": (640, 1536),
}
MEGAPIXELS = {"1": 1, "0.25": 2}  # megapixels option -> divisor of each side
REPLICATE_SIZES: dict[tuple[int, int], tuple[str, str]] = {
    (w // d, h // d): (ratio, mp) for ratio, (w, h) in ASPECT_RATIO_SIZES.items() for mp, d in MEGAPIXELS.items()
}
REPLICATE_STEPS = {"schnell": (1, 4), "dev": (1, 50), "fill": (1, 50), "kontext": (4, 50)}
REPLICATE_GUIDANCE = {"schnell": (0.0, 10.0), "dev": (0.0, 10.0), "fill": (0.0, 100.0), "kontext": (0.0, 10.0)}
# Fill keeps an input whose sides are multiples of 32 up to 1440 (megapixels match_input); Kontext makes its
# 1-megapixel size for the input's aspect ratio (aspect_ratio match_input_image).
REFERENCE_SIZES = {
    "fill": SizeRule(step=REPLICATE_FILL_MULTIPLE, low=256, high=REPLICATE_FILL_MAX_SIDE),
    "kontext": SizeRule(fixed=tuple(ASPECT_RATIO_SIZES.values())),
}
SETTLED = {"succeeded", "failed", "canceled", "aborted"}
PREFER_WAIT_RANGE = (1, 60)


class ReplicateBackend(HostedBackend):
    """black-forest-labs/flux-{schnell,dev} predictions on Replicate, with go_fast off so a seed reproduces its
    image. A create is never resent after an ambiguous failure (as the official client); a prediction's id is
    journalled before polling, and a prediction past max_wait is cancelled."""

    name = "replicate"
    default_base_url = "https://api.replicate.com"
    models = {"schnell": "black-forest-labs/flux-schnell", "dev": "black-forest-labs/flux-dev",
              **{model: hosted.endpoint for model, hosted in REPLICATE.items()}}

    def __init__(self, prefer_wait: int = 60, output_format: str = "png", go_fast: bool = False, **options):
        super().__init__(**options)
        self.prefer_wait = int(prefer_wait)  # seconds the create call may block; 0 sends no Prefer header
        if self.prefer_wait and not PREFER_WAIT_RANGE[0] <= self.prefer_wait <= PREFER_WAIT_RANGE[1]:
            raise BackendConfigError(f"replicate: prefer_wait must be 0 (poll) or 1-60 seconds, got {prefer_wait}")
        self.output_format = output_format
        self.go_fast = flag(go_fast)  # true runs FP8: faster, but the same seed no longer gives the same image

    def model_limits(self, model: str) -> ModelLimits:
        sizes = REFERENCE_SIZES.get(model, SizeRule(fixed=tuple(REPLICATE_SIZES)))
        return ModelLimits(sizes=(sizes,), steps=REPLICATE_STEPS[model], guidance=REPLICATE_GUIDANCE[model])

    def inputs(self, request: ImageRequest) -> dict:
        if request.model in REPLICATE:  # Fill and Kontext: the placed packshot (and Fill's mask) as data URIs
            return replicate_input(request.model, request.prompt, request.width, request.height, request.steps,
                                   request.guidance, request.seed, request.image, request.mask, self.output_format)
        aspect_ratio, megapixels = REPLICATE_SIZES[(request.width, request.height)]
        inputs = {"prompt": request.prompt, "aspect_ratio": aspect_ratio, "megapixels": megapixels, "num_outputs": 1,
                  "num_inference_steps": request.steps, "seed": request.seed, "output_format": self.output_format,
                  "go_fast": self.go_fast}
        if request.model == "dev":
            inputs["guidance"] = request.guidance
        return inputs

    async def submit(self, request: ImageRequest) -> dict:
        headers = {"Prefer": f"wait={self.prefer_wait}"} if self.prefer_wait else {}
        created = await self.request("POST", self.url(f"v1/models/{self.models[request.model]}/predictions"),
                                     json={"input": self.inputs(request)}, headers=headers, what="create prediction",
                                     creates=True)
        prediction = self._prediction(created, "create prediction")
        if not prediction.get("id"):
            raise ProviderError("replicate created a prediction without an id")
        urls = prediction.get("urls") or {}
        return {"id": prediction["id"], "get": self.own_url(urls.get("get"), self.url(f"v1/predictions/{prediction['id']}")),
                "cancel": self.own_url(urls.get("cancel"), self.url(f"v1/predictions/{prediction['id']}/cancel")),
                "created": prediction if prediction.get("status") in SETTLED else None}

    async def await_job(self, job: dict) -> Output:
        prediction = job.get("created")

        async def settled():
            current = self._prediction(await self.request("GET", job["get"], what="get prediction"), "get prediction")
            return current if current.get("status") in SETTLED else None

        async def cancel():
            await self.request("POST", job["cancel"], what="cancel prediction")

        if prediction is None:
            prediction = await self.wait_until(settled, f"prediction {job['id']}", on_timeout=cancel)
        return self._output(prediction)

    def _prediction(self, response, what: str) -> dict:
        prediction = self.json_of(response, what)
        if not isinstance(prediction, dict) or "status" not in prediction:
            raise ProviderError(f"replicate {what} reply has no status: {excerpt(prediction)}")
        return prediction

    def _output(self, prediction: dict) -> Output:
        status = prediction.get("status")
        if status != "succeeded":
            raise JobFailed(f"replicate prediction {status}: {prediction.get('error') or 'no error message'}",
                            circuit=False)
        output = prediction.get("output")
        url = output[0] if isinstance(output, list) and output else output
        if not isinstance(url, str) or not url:
            raise ProviderError(f"replicate prediction succeeded without an output URL: {excerpt(output)}")
        metrics = prediction.get("metrics") or {}
        return Output(url, {"prediction_id": prediction.get("id"), "predict_time": metrics.get("predict_time")})
