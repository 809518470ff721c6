"""Adaptive per-row planning: model, resolution, steps, guidance, seed and content keys; pure functions."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from fluxcat.dedupe import normalise_prompt
from fluxcat.errors import RowRejected, quote
from fluxcat.limits import (
    DEFAULT_SIZE, DEV_STEPS_BY_QUALITY, GUIDANCE_RANGE, MAX_PROMPT_CHARS, MAX_SLOT_PIXELS, MODEL_CHOICES, MODELS,
    NAMED_SIZES, NUM_IMAGES_RANGE, QUALITIES, SEED_RANGE, SHORT_PROMPT_WORDS, SIZE_MULTIPLE, SIZE_RANGE, STEPS_RANGE,
)
from fluxcat.safety import DEFAULT_FILTER, SafetyFilter

if TYPE_CHECKING:
    from fluxcat.backends.capabilities import Capabilities

# Columns the planner reads; every other catalog column passes through to the manifest untouched.
PLAN_COLUMNS = (
    "id", "prompt", "model", "width", "height", "image_size", "display_width", "display_height",
    "device_pixel_ratio", "num_images", "seed", "guidance_scale", "num_inference_steps", "quality",
    "realtime", "text_rendering", "reference_image", "reference_mode", "channels",
)


@dataclass
class PlannedRow:
    """One catalog row after planning: either every generation parameter, or the reason it was rejected."""

    row_number: int
    id: str
    prompt: str | None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None
    num_images: int = 1
    corrections: list[str] = field(default_factory=list)
    rejected: str | None = None
    normalised: str | None = None  # the prompt as exact dedupe and seeds see it
    seed_group: str | None = None  # the `group` whose seed this row shares (variants stay one shot)
    reference: Any = None  # fluxcat.outputs.ReferencePlan: the row's product photo and mode (fluxcat/outputs.py)
    channels: tuple[str, ...] = ()  # sales channels: one output each
    outputs: list = field(default_factory=list)  # fluxcat.outputs.OutputPlan per output, once expanded (shards.py)

    @property
    def params(self) -> str:
        """The generation parameters that, with the prompt, decide the pixels (dedupe groups on this): two rows
        with different reference images or channels are never one image."""
        params = f"{self.model}|{self.width}x{self.height}|{self.steps}|{self.guidance:g}|{self.num_images}"
        if self.reference is not None:
            params += f"|{self.reference.sha256}|{self.reference.mode}|{self.reference.mask_source}"
        return params + (f"|{','.join(self.channels)}" if self.channels else "")

    def image_seeds(self) -> list[int]:
        return [(self.seed + index) % (SEED_RANGE[1] + 1) for index in range(self.num_images)]


class ReferenceColumns(Protocol):
    """Reads a row's reference image and channels onto its plan (fluxcat.outputs.OutputOptions, which builds on
    this module): a reference row takes its mode's model, steps and guidance; RowRejected says why a row cannot."""

    def read_columns(self, planned: PlannedRow, row: Mapping[str, Any]) -> None: ...


def plan_row(row: Mapping[str, Any], row_number: int, capabilities: "Capabilities | None" = None,
             safety: SafetyFilter = DEFAULT_FILTER, outputs: ReferenceColumns | None = None) -> PlannedRow:
    """Plan one catalog row (fitted to the backend's capabilities, if given; prompt safety for every backend; with
    `outputs`, its reference image and channels too, see fluxcat/outputs.py); a bad row comes back with `rejected`
    set instead of raising."""
    row = {**row, "prompt": _text(row.get("prompt"))}
    row_id = _row_id(row)
    prompt = row["prompt"]
    # The manifest's prompt column is text: a prompt of another type is named in the reason instead.
    planned = PlannedRow(row_number=row_number, id=row_id, prompt=prompt if isinstance(prompt, str) else None)
    try:
        _plan_into(planned, row, capabilities, safety, outputs)
    except RowRejected as error:
        planned.rejected = str(error)
    return planned


def _text(value: Any) -> Any:
    """Parquet BINARY columns holding UTF-8 text (written without the string annotation) read as text."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def _row_id(row: Mapping[str, Any]) -> str:
    value = row.get("id")
    if _missing(value):
        prompt = row.get("prompt") if isinstance(row.get("prompt"), str) else ""
        return "p-" + hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return str(value)


def _plan_into(planned: PlannedRow, row: Mapping[str, Any], capabilities: "Capabilities | None" = None,
               safety: SafetyFilter = DEFAULT_FILTER, outputs: ReferenceColumns | None = None) -> None:
    planned.prompt = _prompt(row.get("prompt"))
    unsafe = safety.check(planned.prompt)
    if unsafe:
        raise RowRejected(unsafe)
    planned.normalised = normalise_prompt(planned.prompt)
    quality = _choice(row, "quality", QUALITIES, default="balanced")
    planned.model = _model(row, planned.prompt, quality)
    if outputs is not None:
        outputs.read_columns(planned, row)  # a reference row takes its mode's model, steps and guidance
    text_only = planned.reference is None
    if capabilities is not None and text_only:
        planned.model = capabilities.fit_model(planned.model, _given(row, "model"), planned.corrections)
    planned.width, planned.height = _size(row, planned.corrections)
    planned.num_images = _int_in(row, "num_images", NUM_IMAGES_RANGE, default=1)
    if text_only:
        planned.steps, planned.guidance = _steps_and_guidance(row, planned.model, quality, planned.corrections)
    if capabilities is not None and text_only:
        capabilities.fit_row(planned, {c for c in ("num_inference_steps", "guidance_scale") if _given(row, c)})
    seed = _int_in(row, "seed", SEED_RANGE, default=None)
    if seed is None and not _missing(row.get("group")):  # variants of one product: one seed, the same shot
        seed, planned.seed_group = group_seed(row["group"]), str(row["group"])
    planned.seed = derive_seed(planned) if seed is None else seed


def _prompt(value: Any) -> str:
    if _missing(value):
        raise RowRejected("prompt is empty: every row needs a text prompt")
    if isinstance(value, bytes):
        raise RowRejected(f"prompt is binary data that is not UTF-8 text: {quote(value)}")
    if not isinstance(value, str):
        raise RowRejected(f"prompt must be text, got {type(value).__name__} {quote(value)}")
    if not value.strip():
        raise RowRejected(f"prompt is {'empty' if not value else 'blank'}: every row needs a text prompt")
    if len(value) > MAX_PROMPT_CHARS:
        raise RowRejected(f"prompt is {len(value)} characters; FLUX APIs accept at most {MAX_PROMPT_CHARS}")
    return value


def _model(row: Mapping[str, Any], prompt: str, quality: str) -> str:
    model = _choice(row, "model", MODEL_CHOICES, default="auto")
    if model != "auto":
        return model
    return select_model(prompt, quality, realtime=_flag(row, "realtime"), text_rendering=_flag(row, "text_rendering"))


def select_model(prompt: str, quality: str, realtime: bool, text_rendering: bool) -> str:
    """The guide's adaptive model choice: fast schnell unless the row needs dev's quality."""
    if realtime or quality == "draft":
        return "schnell"
    if text_rendering:
        return "dev"
    return "schnell" if len(prompt.split()) < SHORT_PROMPT_WORDS else "dev"


def _size(row: Mapping[str, Any], corrections: list[str]) -> tuple[int, int]:
    width, height = row.get("width"), row.get("height")
    if not _missing(width) or not _missing(height):
        if _missing(width) or _missing(height):
            raise RowRejected("give both width and height, or neither (then image_size or display size decide)")
        return snap_size(_positive(width, "width"), _positive(height, "height"), corrections)
    name = row.get("image_size")
    if not _missing(name):
        if not isinstance(name, str) or name not in NAMED_SIZES:
            raise RowRejected(f"unknown image_size {name!r}: choose one of {', '.join(NAMED_SIZES)}")
        return NAMED_SIZES[name]
    display_w, display_h = row.get("display_width"), row.get("display_height")
    if not _missing(display_w) or not _missing(display_h):
        if _missing(display_w) or _missing(display_h):
            raise RowRejected("give both display_width and display_height, or neither")
        ratio = 1.0 if _missing(row.get("device_pixel_ratio")) else _positive(row["device_pixel_ratio"], "device_pixel_ratio")
        return _display_resolution(_positive(display_w, "display_width"), _positive(display_h, "display_height"), ratio,
                                   corrections)
    return DEFAULT_SIZE


def _display_resolution(width: float, height: float, ratio: float, corrections: list[str]) -> tuple[int, int]:
    chosen = resolution_for_display(width, height, ratio)
    note = slot_note(width * ratio, height * ratio, chosen)
    if note:
        corrections.append(f"display size {_fmt(width)}x{_fmt(height)} at pixel ratio {_fmt(ratio)} -> "
                           f"{chosen[0]}x{chosen[1]} ({note})")
    return chosen


def snap_size(width: float, height: float, corrections: list[str]) -> tuple[int, int]:
    """Clamp to FLUX's range and round to its 16-pixel grid, recording any change."""
    snapped = tuple(_snap(value) for value in (width, height))
    if snapped != (width, height):
        corrections.append(f"size {_fmt(width)}x{_fmt(height)} -> {snapped[0]}x{snapped[1]} "
                           f"(multiples of {SIZE_MULTIPLE} within {SIZE_RANGE[0]}-{SIZE_RANGE[1]})")
    return snapped


def _snap(value: float) -> int:
    low, high = SIZE_RANGE
    return int(min(high, max(low, SIZE_MULTIPLE * round(value / SIZE_MULTIPLE))))


def resolution_for_display(display_width: float, display_height: float, pixel_ratio: float = 1.0) -> tuple[int, int]:
    """The size to generate for a display slot: its own aspect ratio (never squared), see `size_for_slot`."""
    return size_for_slot(display_width * pixel_ratio, display_height * pixel_ratio)


def size_for_slot(width: float, height: float, max_pixels: int = MAX_SLOT_PIXELS) -> tuple[int, int]:
    """The FLUX size (multiples of 16 within range) closest to the slot's aspect ratio that covers it with the fewest
    pixels; a slot over `max_pixels` gets the largest such size within them (it will be shown upscaled)."""
    ratio = width / height
    sizes = [size for size in _grid_sizes(ratio) if size[0] * size[1] <= max_pixels] or [_grid_sizes(ratio)[0]]
    covering = [size for size in sizes if size[0] >= width and size[1] >= height]
    if covering:
        return min(covering, key=lambda size: (_ratio_error(size, ratio), size[0] * size[1]))
    return min(sizes, key=lambda size: (_ratio_error(size, ratio), -size[0] * size[1]))


def _grid_sizes(ratio: float) -> list[tuple[int, int]]:
    """Every grid size nearest to `ratio` for each grid height (widths rounded down and up), smallest first."""
    low, high = SIZE_RANGE
    sizes = set()
    for side in range(low, high + 1, SIZE_MULTIPLE):
        for other in (math.floor(side * ratio / SIZE_MULTIPLE), math.ceil(side * ratio / SIZE_MULTIPLE)):
            other = min(high, max(low, other * SIZE_MULTIPLE))
            sizes.add((other, side))
    return sorted(sizes, key=lambda size: (size[0] * size[1], size))


def _ratio_error(size: tuple[int, int], ratio: float) -> float:
    """How far a size is from the slot's shape, in steps of 1% (closer than that counts as the same shape)."""
    return round(abs(math.log(size[0] / size[1] / ratio)), 2)


def slot_note(width: float, height: float, size: tuple[int, int]) -> str | None:
    """What a correction says of a slot generated at `size`: the aspect ratio kept (or how near), and any upscaling."""
    if (size[0], size[1]) == (width, height):
        return None
    shape = _aspect(width, height)
    kept = (f"its {shape} aspect ratio kept" if _ratio_error(size, width / height) == 0
            else f"the nearest to its {shape} aspect ratio FLUX makes")
    if size[0] >= width and size[1] >= height:
        return f"{kept}, the smallest size on FLUX's {SIZE_MULTIPLE}-pixel grid that covers it"
    return (f"{kept}, capped at {MAX_SLOT_PIXELS} pixels: the image will be upscaled for display"
            if size[0] * size[1] <= MAX_SLOT_PIXELS else f"{kept}: the image will be upscaled for display")


def _aspect(width: float, height: float) -> str:
    """A slot's shape as the simplest ratio of small whole numbers within 1% (3:2, 4:5), else as a decimal."""
    for denominator in range(1, 17):
        numerator = round(width / height * denominator)
        if numerator and abs(math.log(numerator / denominator / (width / height))) < 0.01:
            return f"{numerator}:{denominator}"
    return f"{width / height:.3f}:1"


def _steps_and_guidance(row: Mapping[str, Any], model: str, quality: str, corrections: list[str]) -> tuple[int, float]:
    spec = MODELS[model]
    steps = _int_in(row, "num_inference_steps", STEPS_RANGE, default=None)
    guidance = row.get("guidance_scale")
    # 0 is how callers say "no guidance" to schnell; any other value must be in the API's range.
    guidance = 0.0 if spec.fixed_steps and guidance == 0 else _float_in(row, "guidance_scale", GUIDANCE_RANGE, default=None)
    if spec.fixed_steps:
        if steps is not None and steps != spec.default_steps:
            corrections.append(f"num_inference_steps {steps} -> {spec.default_steps} ({model} is distilled for {spec.default_steps})")
        if guidance is not None and guidance != spec.default_guidance:
            corrections.append(f"guidance_scale {guidance:g} -> {spec.default_guidance:g} ({model} ignores guidance)")
        return spec.default_steps, spec.default_guidance
    steps = DEV_STEPS_BY_QUALITY[quality] if steps is None else steps
    return steps, spec.default_guidance if guidance is None else guidance


def derive_seed(planned: PlannedRow) -> int:
    """A seed from the normalised prompt and parameters (not the id), so identical rows share one image."""
    normalised = planned.normalised or normalise_prompt(planned.prompt)
    material = f"{normalised}|{planned.model}|{planned.width}x{planned.height}|{planned.steps}|{planned.guidance:g}"
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:4], "big")


def group_seed(group: Any) -> int:
    """The seed every row of a `group` (e.g. a parent SKU) shares, so its variants come out as one shot."""
    return int.from_bytes(hashlib.sha256(f"group|{group}".encode()).digest()[:4], "big")


def content_key(model_id: str, prompt: str, width: int, height: int, steps: int, guidance: float, seed: int, index: int,
                extra: Mapping[str, Any] | None = None) -> str:
    """A hash of everything that decides an image's pixels; it, never an id or a prompt, names files. `extra` holds
    what else does for an output (a reference's hash, mode, mask source, product_box, delivered size); text-only
    images keep the keys they always had."""
    material = [model_id, prompt, width, height, steps, float(guidance), seed, index]
    if extra:
        material.append(dict(sorted(extra.items())))
    material = json.dumps(material, ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _choice(row: Mapping[str, Any], column: str, choices: tuple[str, ...], default: str) -> str:
    value = row.get(column)
    if _missing(value):
        return default
    if not isinstance(value, str) or value not in choices:
        raise RowRejected(f"unknown {column} {quote(value)}: choose one of {', '.join(choices)}")
    return value


def _int_in(row: Mapping[str, Any], column: str, bounds: tuple[int, int], default: int | None) -> int | None:
    value = row.get(column)
    if _missing(value):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowRejected(f"{column} must be a whole number, got {quote(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RowRejected(f"{column} must be a finite whole number, got {value!r}")
    if value != int(value):  # exact for ints of any size: no float round trip
        raise RowRejected(f"{column} must be a whole number, got {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise RowRejected(f"{column} {_fmt(value)} is out of range {bounds[0]}-{bounds[1]}")
    return int(value)


def _float_in(row: Mapping[str, Any], column: str, bounds: tuple[float, float], default: float | None) -> float | None:
    value = row.get(column)
    if _missing(value):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowRejected(f"{column} must be a number, got {quote(value)}")
    if not math.isfinite(value):
        raise RowRejected(f"{column} must be a finite number, got {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise RowRejected(f"{column} {value:g} is out of range {bounds[0]:g}-{bounds[1]:g}")
    return float(value)


# The row validators, shared with the other way in (`fluxcat serve` checks a request body with them).
check_prompt, check_choice, check_whole, check_number = _prompt, _choice, _int_in, _float_in


def _positive(value: Any, column: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise RowRejected(f"{column} must be a positive number, got {quote(value)}")
    return value


def _given(row: Mapping[str, Any], column: str) -> bool:
    """Did the row set this column itself (not left it to planning)?"""
    value = row.get(column)
    return not _missing(value) and value != "auto"


_FLAG_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _flag(row: Mapping[str, Any], column: str) -> bool:
    value = row.get(column)
    if _missing(value):
        return False
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _FLAG_WORDS:
        return _FLAG_WORDS[value.strip().lower()]
    raise RowRejected(f"{column} must be true or false, got {quote(value)}")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: float) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 80 else f"{text[:80]}... ({len(text)} digits)"  # a huge number is quoted short
