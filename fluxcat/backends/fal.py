"""fal: the queue API (submit, poll status, fetch result); images come back as URLs or base64 data URIs."""

from __future__ import annotations


from fluxcat.backends.base import ImageRequest
from fluxcat.backends.hosted import HostedBackend, Output, ProviderError

FAL_MAX_STEPS = {"schnell": 12, "dev": 50}  # fal's documented num_inference_steps ranges start at 1


class FalBackend(HostedBackend):
    """fal.ai's FLUX apps through the queue: POST {base}/{app}, GET status until COMPLETED, GET the result."""

    name = "fal"
    default_base_url = "https://queue.fal.run"
    models = {"schnell": "fal-ai/flux/schnell", "dev": "fal-ai/flux/dev"}
    auth_scheme = "Key"

    def __init__(self, enable_safety_checker: bool = True, sync_mode: bool = False, **options):
        super().__init__(**options)
        self.enable_safety_checker = bool(enable_safety_checker)
        self.sync_mode = bool(sync_mode)  # fal then returns data: URIs instead of URLs

    def unsupported(self, model, width, height, steps, guidance):
        reason = super().unsupported(model, width, height, steps, guidance)
        if reason is None and steps > FAL_MAX_STEPS[model]:
            reason = f"fal runs FLUX {model} with at most {FAL_MAX_STEPS[model]} inference steps, not {steps}"
        return reason

    def arguments(self, request: ImageRequest) -> dict:
        arguments = {"prompt": request.prompt, "image_size": {"width": request.width, "height": request.height},
                     "num_inference_steps": request.steps, "seed": request.seed, "num_images": 1,
                     "enable_safety_checker": self.enable_safety_checker, "sync_mode": self.sync_mode}
        if request.model == "dev":
            arguments["guidance_scale"] = request.guidance
        return arguments

    async def produce(self, request: ImageRequest) -> Output:
        app = self.models[request.model]
        submitted = self.json_of(await self.request("POST", self.url(app), json=self.arguments(request), what="submit"),
                                 "submit")
        request_id = submitted.get("request_id") if isinstance(submitted, dict) else None
        if not request_id:
            raise ProviderError(f"fal accepted the job but sent no request_id: {str(submitted)[:120]!r}")
        status_url = self.own_url(submitted.get("status_url"), f"{self._requests_root(app)}/{request_id}/status")
        response_url = self.own_url(submitted.get("response_url"), f"{self._requests_root(app)}/{request_id}")

        async def completed():
            status = self.json_of(await self.request("GET", status_url, what="status"), "status")
            state = status.get("status") if isinstance(status, dict) else None
            if state == "COMPLETED":
                return status
            if state not in ("IN_QUEUE", "IN_PROGRESS"):
                raise ProviderError(f"fal job {request_id} has unexpected status {state!r}")
            return None

        await self.wait_until(completed, f"job {request_id}")
        result = self.json_of(await self.request("GET", response_url, what="result"), "result")
        return self._output(result)

    def _output(self, result) -> Output:
        images = result.get("images") if isinstance(result, dict) else None
        if not images or not isinstance(images[0], dict) or not images[0].get("url"):
            raise ProviderError(f"fal result has no images[0].url: {str(result)[:160]!r}")
        nsfw = result.get("has_nsfw_concepts")
        details = {"has_nsfw_concepts": nsfw[0] if isinstance(nsfw, list) and nsfw else nsfw,
                   "provider_seed": result.get("seed"), "timings": result.get("timings")}
        return Output(images[0]["url"], details)

    def _requests_root(self, app: str) -> str:
        """fal's request URLs live under the app's owner/name: fal-ai/flux/schnell -> fal-ai/flux/requests."""
        owner_and_name = "/".join(app.split("/")[:2])
        return self.url(f"{owner_and_name}/requests")

