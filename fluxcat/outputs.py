"""Per-output planning for reference images and sales channels: a row's `reference_image`, `reference_mode` and
`channels` checked, its model picked by mode (with the reason recorded), and one output per channel, generated at the
channel's aspect ratio and delivered at its size, with the product's box (product_box) in output pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from fluxcat.channels import ChannelSpec, bundled_channels, cap_note, parse_channel_names
from fluxcat.errors import RowRejected, quote
from fluxcat.limits import (
    DEV_STEPS_BY_QUALITY, FILL_GUIDANCE_RANGE, GUIDANCE_RANGE, QUALITIES, REFERENCE_MODELS, STEPS_RANGE,
)
from fluxcat.plan import PlannedRow, _choice, _float_in, _given, _int_in, _missing, size_for_slot
from fluxcat.reference import DEFAULT_FILL, DEFAULT_MODE, MODE_MODELS, MODES, ReferenceRejected
from fluxcat.reference.place import box_for

if TYPE_CHECKING:
    from fluxcat.backends.capabilities import Capabilities
    from fluxcat.reference import ReferenceReader

PACKSHOT = "packshot"  # white mode's "model": fluxcat composes the packshot itself, no backend is asked
MODEL_NAMES = {"fill": "FLUX.1 Fill", "kontext": "FLUX.1 Kontext"}
MODEL_REASONS = {
    "fill": "reference_mode background: FLUX.1 Fill makes the scene around the product's own pixels",
    "kontext": "reference_mode edit: FLUX.1 Kontext re-renders the product under the prompt's instruction",
    "packshot": "reference_mode white: the packshot placed on pure white, nothing generated",
}


@dataclass(frozen=True)
class ReferencePlan:
    """A row's reference image as planned: what its outputs' content keys and the manifest record."""

    url: str  # resolved against the catalog's folder
    sha256: str
    mode: str
    mask_source: str
    box: tuple[int, int, int, int]  # the product's box in the reference's pixels


@dataclass(frozen=True)
class OutputOptions:
    """What per-output planning needs besides the row: built per run (the reader holds the run's references)."""

    reader: "ReferenceReader | None" = None
    default_mode: str = DEFAULT_MODE
    channels: Mapping[str, ChannelSpec] = field(default_factory=bundled_channels)
    default_channels: tuple[str, ...] = ()

    def read_columns(self, planned: PlannedRow, row: Mapping[str, Any]) -> None:
        """fluxcat.plan.ReferenceColumns: the row's reference and channels, read while it is planned."""
        read_reference_columns(planned, row, self)


@dataclass
class OutputPlan:
    """One output of a row (per channel, or the row's own size): what to generate and what to deliver."""

    channel: str | None
    mode: str | None  # None: text to image
    model: str
    width: int  # generated
    height: int
    delivered: tuple[int, int]  # the stored image's size
    product_box: tuple[int, int, int, int] | None = None  # x, y, w, h in delivered pixels
    image_format: str | None = None  # the channel's; None: the run's
    corrections: list[str] = field(default_factory=list)
    steps: int = 0  # the row's, fitted to the backend (a packshot has none)
    guidance: float = 0.0

    def key_extra(self, reference: ReferencePlan | None) -> dict[str, Any] | None:
        """Content-key material beyond the text-to-image parameters (None keeps a plain image's key)."""
        extra: dict[str, Any] = {}
        if reference is not None:
            extra = {"reference": reference.sha256, "mode": self.mode, "mask": reference.mask_source,
                     "product_box": list(self.product_box)}
        if self.delivered != (self.width, self.height):
            extra["delivered"] = list(self.delivered)
        return extra or None

    def columns(self, reference: ReferencePlan | None, run_format: str) -> dict[str, Any]:
        """This output's manifest columns (fluxcat.schema.OUTPUT_FIELDS)."""
        return {"channel": self.channel, "reference_image": reference.url if reference else None,
                "reference_sha256": reference.sha256 if reference else None, "reference_mode": self.mode,
                "mask_source": reference.mask_source if reference else None,
                "product_box": list(self.product_box) if self.product_box else None,
                "delivered_width": self.delivered[0], "delivered_height": self.delivered[1],
                "image_format": self.image_format or run_format}


def read_reference_columns(planned: PlannedRow, row: Mapping[str, Any], options: OutputOptions) -> None:
    """Check the row's reference and channel columns and record them on `planned`; a reference row's model,
    steps and guidance become its mode's, the reason recorded. Raises RowRejected with the reason."""
    planned.channels = _channels(row, options)
    url, mode = row.get("reference_image"), row.get("reference_mode")
    if _missing(url):
        if not _missing(mode):
            raise RowRejected(f"reference_mode {quote(mode)} needs a reference_image: give the product photo's URL, "
                              "or leave reference_mode empty")
        return
    if not isinstance(url, str) or not url.strip():
        raise RowRejected(f"reference_image must be a URL or path of an image, got {quote(url)}")
    mode = _choice(row, "reference_mode", MODES, default=options.default_mode)
    if options.reader is None:
        raise RowRejected("reference_image needs the run's reference reader (fluxcat.outputs.OutputOptions.reader)")
    try:
        reference = options.reader(url.strip())
    except ReferenceRejected as rejected:
        raise RowRejected(str(rejected)) from None
    planned.reference = ReferencePlan(reference.url, reference.sha256, mode, reference.mask_source, reference.box)
    _model_for_mode(planned, row, mode)


def _channels(row: Mapping[str, Any], options: OutputOptions) -> tuple[str, ...]:
    value = row.get("channels")
    if _missing(value) or (isinstance(value, str) and not value.strip()):
        return options.default_channels
    try:
        return parse_channel_names(value, options.channels)
    except ValueError as error:
        raise RowRejected(str(error)) from None


def _model_for_mode(planned: PlannedRow, row: Mapping[str, Any], mode: str) -> None:
    model = MODE_MODELS[mode] or PACKSHOT
    asked = row.get("model")
    change = f"model {planned.model} -> {model}" if not _missing(asked) and asked != "auto" else f"model {model}"
    planned.corrections.append(f"{change} ({MODEL_REASONS[model]})")
    planned.model = model
    spec = REFERENCE_MODELS[model]
    if spec.fixed_steps:
        planned.steps, planned.guidance = spec.default_steps, spec.default_guidance
        return
    quality = _choice(row, "quality", QUALITIES, default="balanced")
    steps = _int_in(row, "num_inference_steps", STEPS_RANGE, default=None)
    planned.steps = DEV_STEPS_BY_QUALITY[quality] if steps is None else steps
    guidance = _float_in(row, "guidance_scale", FILL_GUIDANCE_RANGE if model == "fill" else GUIDANCE_RANGE, default=None)
    planned.guidance = spec.default_guidance if guidance is None else guidance


def plan_outputs(planned: PlannedRow, options: OutputOptions) -> list[OutputPlan]:
    """One output per channel of the row (or one at the row's own size), each at its channel's aspect ratio."""
    if not planned.channels:
        return [_own_size_output(planned)]
    return [_channel_output(planned, options.channels[name]) for name in planned.channels]


def _own_size_output(planned: PlannedRow) -> OutputPlan:
    reference = planned.reference
    size = (planned.width, planned.height)
    output = OutputPlan(None, reference.mode if reference else None, planned.model, *size, delivered=size)
    if reference is not None:
        output.product_box = box_for(reference.box, size, _middle(DEFAULT_FILL[reference.mode]))
    return output


def expand_outputs(planned: PlannedRow, row: Mapping[str, Any], options: OutputOptions,
                   capabilities: "Capabilities | None" = None) -> list[OutputPlan]:
    """The row's outputs (plan_outputs), each with its steps and guidance, and every generated one that a channel or
    a reference sized fitted to what the backend makes; RowRejected when the backend cannot make one of them."""
    given = {column for column in ("num_inference_steps", "guidance_scale") if _given(row, column)}
    outputs = plan_outputs(planned, options)
    for output in outputs:
        if output.model == PACKSHOT:
            continue  # composed by fluxcat at the delivered size: no steps, no guidance, no backend
        output.steps, output.guidance = planned.steps, planned.guidance
        if capabilities is not None and (output.mode or output.channel):  # a text-only row's own size is fitted
            _fit(output, capabilities, given)
    return outputs


def _fit(output: OutputPlan, capabilities: "Capabilities", given: set[str]) -> None:
    if output.model not in capabilities.models:
        needs = f"reference_mode {output.mode} needs {MODEL_NAMES.get(output.model, output.model)}"
        raise RowRejected(f"{needs}, which {capabilities.backend} does not offer (it offers "
                          f"{', '.join(capabilities.models)}): use a backend that does (docs/reference.md lists them), "
                          "or reference_mode white")
    capabilities.fit_row(output, given)  # the generated size only: the delivered size and product_box stay


def _channel_output(planned: PlannedRow, spec: ChannelSpec) -> OutputPlan:
    reference = planned.reference
    mode, model, corrections = (reference.mode if reference else None), planned.model, []
    if reference is not None and spec.packshot_only and mode != "white":
        corrections.append(f"channel {spec.name} needs a {spec.background} background: reference_mode {mode} -> white "
                           f"(the packshot on pure white, nothing generated)")
        mode, model = "white", PACKSHOT
    if mode == "white":  # nothing is generated: composed straight at the delivered size, no pixel cap
        delivered = spec.size or spec.delivered_size(tuple(math.ceil(side) for side in spec.slot))
        generated = delivered
    else:
        generated = size_for_slot(*spec.slot)
        delivered = spec.delivered_size(generated)
        note = cap_note(spec, generated)
        if note:
            corrections.append(note)
    output = OutputPlan(spec.name, mode, model, *generated, delivered=tuple(delivered), image_format=spec.format,
                        corrections=corrections)
    if reference is not None:
        output.product_box = box_for(reference.box, output.delivered, spec.target_fill)
    return output


def _middle(bounds: tuple[float, float]) -> float:
    return round(sum(bounds) / 2, 4)
