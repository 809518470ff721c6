"""The fal and Replicate doubles (protocol_servers.py) extended with the hosted FLUX.1 Fill and Kontext models, each
validating what it is sent against the model's published input schema (the sources are named in
fluxcat/backends/reference_requests.py), never against fluxcat's code: required fields, types and ranges, data-URI
images that decode, a mask the image's size. Fill makes `image_size` (fal) or the input's size (Replicate);
Kontext makes the input's size (fal, match_input) or Replicate's size for the input's aspect ratio."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re

from PIL import Image

from tests.fluxcat.backends.hosted_helpers import secret_key
from tests.fluxcat.backends.protocol_servers import REPLICATE_ASPECT_RATIOS, FalServer, ReplicateServer

FAL_APPS = {"fal-ai/flux-lora-fill": "fill", "fal-ai/flux-kontext/dev": "kontext"}


def decode(uri, field: str) -> Image.Image:
    if not isinstance(uri, str):
        raise ValueError(f"{field} must be a string URL")
    match = re.fullmatch(r"data:image/(png|jpeg|webp|gif);base64,(.+)", uri, re.S)
    if match is None:
        raise ValueError(f"{field} must be an image URL (the double takes data URIs)")
    return Image.open(io.BytesIO(base64.b64decode(match.group(2))))


class ReferenceFalServer(FalServer):
    def route(self, handler, method, path, body):
        app = path.lstrip("/")
        if method == "POST" and app in FAL_APPS:
            return self.submit_reference(handler, FAL_APPS[app], app, json.loads(body))
        match = re.fullmatch(r"/(fal-ai/[a-z0-9-]+)/requests/([0-9a-f]+)(/status|/cancel)?", path)
        if match and match.group(1) != "fal-ai/flux":  # the reference apps' queue URLs: owner/app, no sub-path
            path = f"/fal-ai/flux/requests/{match.group(2)}{match.group(3) or ''}"
        return super().route(handler, method, path, body)

    def submit_reference(self, handler, model: str, app: str, args: dict) -> None:
        try:
            width, height = self.validate(model, args)
        except ValueError as error:
            return self.reply_json(handler, 422, {"detail": [{"loc": ["body"], "msg": str(error), "type": "value_error"}]})
        job = self.new_job(args["prompt"], width, height, args.get("seed"), args=args, app=app)
        root = f"{self.url}/{'/'.join(app.split('/')[:2])}/requests/{job}"
        self.reply_json(handler, 200, {"request_id": job, "response_url": root, "status_url": f"{root}/status",
                                       "cancel_url": f"{root}/cancel", "queue_position": 0})

    @staticmethod
    def validate(model: str, args: dict) -> tuple[int, int]:
        if not isinstance(args.get("prompt"), str):
            raise ValueError("prompt is required")
        image = decode(args.get("image_url"), "image_url")
        # The providers notes give Kontext [dev] no steps or guidance_scale range (fal.py's 10-50 is fluxcat's own
        # claim), so Kontext is held to no more than Fill's 1-50 here: the double must not echo fluxcat's limit back.
        if not 1 <= args.get("num_inference_steps", 28) <= 50:
            raise ValueError("num_inference_steps must be 1-50")
        if args.get("output_format", "jpeg") not in ("jpeg", "png") or args.get("num_images", 1) not in (1, 2, 3, 4):
            raise ValueError("output_format must be jpeg or png, num_images 1-4")
        if model == "kontext":
            if args.get("resolution_mode", "match_input") != "match_input":
                raise ValueError("the double makes match_input only")
            return image.size
        mask = decode(args.get("mask_url"), "mask_url")
        if mask.size != image.size:
            raise ValueError("mask_url must match the dimensions of image_url")
        size = args.get("image_size")
        if not (isinstance(size, dict) and {"width", "height"} <= set(size)):
            raise ValueError("image_size must be {width, height}")
        return size["width"], size["height"]


class ReferenceReplicateServer(ReplicateServer):
    MODELS = {"black-forest-labs/flux-fill-dev": "fill", "black-forest-labs/flux-kontext-dev": "kontext"}

    def route(self, handler, method, path, body):
        match = re.fullmatch(r"/v1/models/(black-forest-labs/flux-(?:fill|kontext)-dev)/predictions", path)
        if method == "POST" and match:
            return self.create_reference(handler, self.MODELS[match.group(1)], json.loads(body))
        return super().route(handler, method, path, body)

    def create_reference(self, handler, model: str, body: dict) -> None:
        inputs = body.get("input") or {}
        try:
            width, height = self.validate(model, inputs)
        except ValueError as error:
            return self.reply_json(handler, 422, {"title": "Input validation failed", "detail": str(error), "status": 422})
        job = self.new_job(inputs["prompt"], width, height, inputs.get("seed"), input=inputs, model=f"{model}-dev",
                           single_output=(model == "kontext"))
        self.reply_json(handler, 201, self.prediction(job, "succeeded" if handler.headers.get("Prefer") else "starting"))

    @staticmethod
    def validate(model: str, inputs: dict) -> tuple[int, int]:
        if not isinstance(inputs.get("prompt"), str):
            raise ValueError("input.prompt is required")
        if inputs.get("output_format", "webp") not in ("webp", "jpg", "png"):
            raise ValueError("input.output_format must be one of webp, jpg, png")
        if model == "kontext":
            image = decode(inputs.get("input_image"), "input.input_image")
            if not 4 <= inputs.get("num_inference_steps", 30) <= 50 or not 0 <= inputs.get("guidance", 2.5) <= 10:
                raise ValueError("input.num_inference_steps must be 4-50 and input.guidance 0-10")
            if inputs.get("aspect_ratio", "match_input_image") != "match_input_image":
                raise ValueError("the double makes match_input_image only")
            ratio = image.width / image.height
            return min(REPLICATE_ASPECT_RATIOS.values(), key=lambda s: abs(s[0] / s[1] - ratio))
        image, mask = decode(inputs.get("image"), "input.image"), decode(inputs.get("mask"), "input.mask")
        if mask.size != image.size:
            raise ValueError("input.mask must have the same size as image")
        if not 1 <= inputs.get("num_inference_steps", 28) <= 50 or not 0 <= inputs.get("guidance", 30) <= 100:
            raise ValueError("input.num_inference_steps must be 1-50 and input.guidance 0-100")
        if inputs.get("megapixels", "1") != "match_input" or image.width % 32 or image.height % 32 or max(image.size) > 1440:
            raise ValueError("the double keeps the input's size only: megapixels match_input, sides multiples of 32 <= 1440")
        return image.size

    def prediction(self, job_id: str, status: str) -> dict:
        prediction = super().prediction(job_id, status)
        job = self.jobs[job_id]
        prediction["model"] = f"black-forest-labs/flux-{job['model']}"
        if job.get("single_output") and prediction["output"]:  # Kontext's output schema: one URI, not a list
            prediction["output"] = prediction["output"][0]
        return prediction


@contextlib.contextmanager
def reference_doubles(backend: str, monkeypatch):
    """Backend options pointing fal, replicate or a router of both at these doubles, keys in the environment."""
    doubles = {"fal": (ReferenceFalServer, "FAL_KEY"), "replicate": (ReferenceReplicateServer, "REPLICATE_API_TOKEN")}
    names = ["fal", "replicate"] if backend == "router" else [backend]
    with contextlib.ExitStack() as stack:
        options = {} if backend == "router" else {"monthly_limit": "none"}
        for name in names:
            server_class, env = doubles[name]
            key = secret_key()
            monkeypatch.setenv(env, key)
            server = stack.enter_context(server_class(key))
            options[f"{name}_base_url" if backend == "router" else "base_url"] = server.url
        if backend == "router":
            options |= {"providers": ",".join(names), "fal_monthly_limit": "none", "replicate_monthly_limit": "none"}
        yield options
