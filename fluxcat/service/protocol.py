"""The /api/v1/flux/dev protocol: a request body checked with the planner's validators, one request per image, the reply."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from fluxcat.backends.base import Backend, ImageRequest
from fluxcat.errors import quote
from fluxcat.layout import IMAGE_EXTENSIONS, IMAGE_FORMATS
from fluxcat.limits import GUIDANCE_RANGE, NAMED_SIZES, NUM_IMAGES_RANGE, SEED_RANGE, STEPS_RANGE
from fluxcat.plan import PlannedRow, RowRejected, check_choice, check_number, check_prompt, check_whole, content_key
from fluxcat.safety import DEFAULT_FILTER, SafetyFilter

ENDPOINT = "/api/v1/flux/dev"
MODEL = "dev"  # the endpoint is flux/dev: every request runs FLUX.1-dev
# The reference's optional parameters and their defaults; "seed" defaults to a fresh random one.
DEFAULTS: dict[str, Any] = {"num_images": 1, "image_size": "landscape_4_3", "guidance_scale": 3.5,
                            "num_inference_steps": 28, "seed": None}
PARAMETERS = ("prompt", *DEFAULTS)
FORMAT_OF_EXTENSION = {extension: image_format for image_format, extension in IMAGE_EXTENSIONS.items()}
IMAGE_NAME = re.compile(rf"^([0-9a-f]{{32}})\.({'|'.join(FORMAT_OF_EXTENSION)})$")
ERROR_TYPES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 413: "request_too_large",
               429: "rate_limited", 500: "inference_failed", 503: "unavailable"}


class InvalidRequest(ValueError):
    """A request the protocol does not allow (answered with 400 and this message)."""


@dataclass(frozen=True)
class Generation:
    """A validated request body."""

    prompt: str
    num_images: int
    image_size: str
    guidance_scale: float
    num_inference_steps: int
    seed: int

    @property
    def size(self) -> tuple[int, int]:
        return NAMED_SIZES[self.image_size]


def parse_generation(body: Any, safety: SafetyFilter = DEFAULT_FILTER) -> Generation:
    """Check a request body against the reference's parameters, types and ranges (the planner's checks, prompt
    safety included); fill the defaults."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object, e.g. {\"prompt\": \"a red fox\"}")
    unknown = sorted(set(body) - set(PARAMETERS))
    if unknown:
        raise InvalidRequest(f"unknown parameter(s) {quote(', '.join(map(str, unknown)))}: accepted are {', '.join(PARAMETERS)}")
    if body.get("prompt") is None:
        raise InvalidRequest("prompt is required: a text description of the image to generate")
    values = {**DEFAULTS, **{k: v for k, v in body.items() if v is not None}}
    try:
        prompt = check_prompt(values["prompt"])
        unsafe = safety.check(prompt)
        if unsafe:
            raise RowRejected(unsafe)
        seed = check_whole(values, "seed", SEED_RANGE, None)
        return Generation(
            prompt=prompt,
            num_images=check_whole(values, "num_images", NUM_IMAGES_RANGE, DEFAULTS["num_images"]),
            image_size=check_choice(values, "image_size", tuple(NAMED_SIZES), DEFAULTS["image_size"]),
            guidance_scale=check_number(values, "guidance_scale", GUIDANCE_RANGE, DEFAULTS["guidance_scale"]),
            num_inference_steps=check_whole(values, "num_inference_steps", STEPS_RANGE, DEFAULTS["num_inference_steps"]),
            seed=secrets.randbelow(SEED_RANGE[1] + 1) if seed is None else seed,
        )
    except RowRejected as invalid:
        raise InvalidRequest(str(invalid)) from None


def backend_refusal(backend: Backend, generation: Generation) -> str | None:
    """What the backend's own planning checks say of the request, as `fluxcat run` asks them of every row: a hosted
    backend refuses personal information before it reaches a third party, whatever --private-data-check says."""
    checks = backend.row_checks
    if not checks:
        return None
    width, height = generation.size
    row = PlannedRow(row_number=0, id="request", prompt=generation.prompt, model=MODEL, width=width, height=height,
                     steps=generation.num_inference_steps, guidance=generation.guidance_scale, seed=generation.seed,
                     num_images=generation.num_images)
    return next((reason for reason in (check(row) for check in checks) if reason), None)


def decode_body(data: bytes) -> Any:
    """The body as JSON; anything else, or JSON nested deeper than the parser's recursion allows, is 400."""
    try:
        return json.loads(data, parse_constant=_not_json)
    except RecursionError:
        raise InvalidRequest("the request body is nested too deeply: send one flat JSON object of parameters") from None
    except ValueError:  # also UnicodeDecodeError
        raise InvalidRequest("the request body must be JSON, sent with 'Content-Type: application/json'") from None


def _not_json(constant: str):
    raise InvalidRequest(f"{constant} is not a JSON number: send a finite number")


def image_requests(backend: Backend, generation: Generation) -> list[ImageRequest]:
    """One request per image; image i uses seed + i, and its content key names its file."""
    width, height = generation.size
    requests = []
    for index in range(generation.num_images):
        seed = (generation.seed + index) % (SEED_RANGE[1] + 1)
        key = content_key(backend.model_id(MODEL), generation.prompt, width, height, generation.num_inference_steps,
                          generation.guidance_scale, seed, index)
        requests.append(ImageRequest(key=key, prompt=generation.prompt, model=MODEL, width=width, height=height,
                                     steps=generation.num_inference_steps, guidance=generation.guidance_scale, seed=seed))
    return requests


def reply(base_url: str, generation: Generation, requests: list[ImageRequest], image_format: str,
          inference_s: float) -> dict:
    """The reference's answer: absolute image URLs, the seed, NSFW flags and the inference time."""
    extension = IMAGE_EXTENSIONS[image_format]
    return {
        "images": [{"url": f"{base_url}/images/{r.key}.{extension}", "width": r.width, "height": r.height,
                    "content_type": IMAGE_FORMATS[image_format]} for r in requests],
        "seed": generation.seed,
        # Local backends run no NSFW classifier: nothing was detected because nothing looked.
        "has_nsfw_concepts": [False] * len(requests),
        "timings": {"inference": round(inference_s, 4)},
    }


def image_file(name: str) -> tuple[str, str] | None:
    """(content key, image format) of a served image name such as <32 hex>.jpg; None for any other name."""
    match = IMAGE_NAME.match(name)
    return (match.group(1), FORMAT_OF_EXTENSION[match.group(2)]) if match else None
