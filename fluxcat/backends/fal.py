"""fal: the queue API (submit, poll status, fetch result, cancel), as fal-client 1.0.3 speaks it; FLUX.1 schnell and
dev, and for reference images FLUX.1 Fill (flux-lora-fill) and Kontext [dev] (reference_requests.py builds their
bodies)."""

from __future__ import annotations

from fluxcat.backends.base import BackendConfigError, ImageRequest
from fluxcat.backends.capabilities import ModelLimits
from fluxcat.backends.hosted import HostedBackend, JobFailed, Output, ProviderError
from fluxcat.backends.hosted.secrets import excerpt
from fluxcat.backends.hosted.settings import flag
from fluxcat.backends.reference_requests import FAL, fal_input

# fal's documented num_inference_steps ranges (Kontext [dev]: 10-50 as its schema is listed; Fill: 1-50)
FAL_STEPS = {"schnell": (1, 12), "dev": (1, 50), "fill": (1, 50), "kontext": (10, 50)}
FAL_GUIDANCE = {"schnell": (1.0, 20.0), "dev": (1.0, 20.0), "fill": (1.0, 35.0), "kontext": (1.0, 20.0)}
OUTPUT_FORMATS = ("png", "jpeg")
WAITING = ("IN_QUEUE", "IN_PROGRESS")


class FalBackend(HostedBackend):
    """fal.ai's FLUX apps through the queue: POST {base}/{app}, GET status until COMPLETED, GET the result;
    PUT cancel when max_wait runs out. A job's request_id is journalled before waiting."""

    name = "fal"
    default_base_url = "https://queue.fal.run"
    models = {"schnell": "fal-ai/flux/schnell", "dev": "fal-ai/flux/dev",
              **{model: hosted.endpoint for model, hosted in FAL.items()}}
    auth_scheme = "Key"

    def __init__(self, enable_safety_checker: bool = True, sync_mode: bool = False, output_format: str = "png",
                 **options):
        super().__init__(**options)
        if output_format not in OUTPUT_FORMATS:
            raise BackendConfigError(f"fal: output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
        self.enable_safety_checker = flag(enable_safety_checker)
        self.sync_mode = flag(sync_mode)  # fal then returns data: URIs instead of URLs
        self.output_format = output_format

    def model_limits(self, model: str) -> ModelLimits:
        return ModelLimits(steps=FAL_STEPS[model], guidance=FAL_GUIDANCE[model])

    def arguments(self, request: ImageRequest) -> dict:
        if request.model in FAL:  # Fill and Kontext: the placed packshot (and Fill's mask) as data URIs
            return fal_input(request.model, request.prompt, request.width, request.height, request.steps,
                             request.guidance, request.seed, request.image, request.mask, self.output_format) | {
                "enable_safety_checker": self.enable_safety_checker, "sync_mode": self.sync_mode}
        arguments = {"prompt": request.prompt, "image_size": {"width": request.width, "height": request.height},
                     "num_inference_steps": request.steps, "seed": request.seed, "num_images": 1,
                     "enable_safety_checker": self.enable_safety_checker, "sync_mode": self.sync_mode,
                     "output_format": self.output_format}
        if request.model == "dev":
            arguments["guidance_scale"] = request.guidance
        return arguments

    async def submit(self, request: ImageRequest) -> dict:
        app = self.models[request.model]
        reply = await self.request("POST", self.url(app), json=self.arguments(request), what="submit", creates=True)
        submitted = self.json_of(reply, "submit")
        request_id = submitted.get("request_id") if isinstance(submitted, dict) else None
        if not request_id:
            raise ProviderError(f"fal accepted the job but sent no request_id: {excerpt(submitted)}")
        root = f"{self._requests_root(app)}/{request_id}"
        return {"id": request_id, "status_url": self.own_url(submitted.get("status_url"), f"{root}/status"),
                "response_url": self.own_url(submitted.get("response_url"), root),
                "cancel_url": self.own_url(submitted.get("cancel_url"), f"{root}/cancel")}

    async def await_job(self, job: dict) -> Output:
        async def completed():
            reply = await self.request("GET", job["status_url"], params={"logs": "0"}, what="status")
            status = self.json_of(reply, "status")
            state = status.get("status") if isinstance(status, dict) else None
            if state == "COMPLETED":
                return status
            if state not in WAITING:
                raise ProviderError(f"fal job {job['id']} has unexpected status {state!r}")
            return None

        async def cancel():
            await self.request("PUT", job["cancel_url"], what="cancel")

        status = await self.wait_until(completed, f"job {job['id']}", on_timeout=cancel)
        if status.get("error") or status.get("error_type"):
            raise JobFailed(f"fal job {job['id']} failed: {status.get('error_type') or 'error'}: "
                            f"{status.get('error') or 'no message'}", circuit=False)
        result = self.json_of(await self.request("GET", job["response_url"], what="result"), "result")
        return self._output(result)

    def error_for(self, response) -> ProviderError:
        """fal says whether an error is worth retrying in X-Fal-Retryable; that wins over the status code."""
        error = super().error_for(response)
        retryable = response.headers.get("x-fal-retryable")
        if retryable is not None:
            error.retryable = retryable.strip().lower() == "true"
            error.safe_to_resend = error.safe_to_resend or error.retryable
        kind = response.headers.get("x-fal-error-type")
        if kind:
            error.args = (f"{error.args[0]} [{kind}]",)
        return error

    def _output(self, result) -> Output:
        images = result.get("images") if isinstance(result, dict) else None
        if not images or not isinstance(images[0], dict) or not images[0].get("url"):
            raise ProviderError(f"fal result has no images[0].url: {excerpt(result, 160)}")
        nsfw = result.get("has_nsfw_concepts")
        details = {"has_nsfw_concepts": nsfw[0] if isinstance(nsfw, list) and nsfw else nsfw,
                   "provider_seed": result.get("seed"), "timings": result.get("timings")}
        return Output(images[0]["url"], details)

    def _requests_root(self, app: str) -> str:
        """fal's request URLs live under the app's owner/name: fal-ai/flux/schnell -> fal-ai/flux/requests."""
        owner_and_name = "/".join(app.split("/")[:2])
        return self.url(f"{owner_and_name}/requests")
