"""What a backend can make (models, sizes, steps, guidance) and fitting a planned row to it, as data.

Planning asks the backend for its `Capabilities` and fits each row: a model it does not serve is replaced by one
at least as capable (schnell -> dev), a size it cannot make by the nearest one it can, each change recorded in
`corrections`; a row whose explicit numbers no model it serves accepts is rejected with the backend's limits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from fluxcat.errors import RowRejected
from fluxcat.limits import GUIDANCE_RANGE, SIZE_MULTIPLE, SIZE_RANGE, STEPS_RANGE


class FittableRow(Protocol):
    """What fitting needs of a planned row (fluxcat.plan.PlannedRow), without importing the planner."""

    model: str
    width: int
    height: int
    steps: int
    guidance: float
    corrections: list[str]

# A model may stand in for another only when it is at least as capable: dev renders everything schnell does.
STAND_INS: dict[str, tuple[str, ...]] = {"schnell": ("dev",), "dev": ()}


@dataclass(frozen=True)
class SizeRule:
    """Sizes one endpoint makes: any multiple of `step` within `low`-`high` on each side, or only `fixed` ones."""

    step: int = SIZE_MULTIPLE
    low: int = SIZE_RANGE[0]
    high: int = SIZE_RANGE[1]
    fixed: tuple[tuple[int, int], ...] = ()

    def serves(self, width: int, height: int) -> bool:
        if self.fixed:
            return (width, height) in self.fixed
        return all(self.low <= side <= self.high and side % self.step == 0 for side in (width, height))

    def nearest(self, width: int, height: int) -> tuple[int, int]:
        """The servable size closest in shape first, then in area."""
        if not self.fixed:
            return tuple(int(min(self.high, max(self.low, self.step * round(side / self.step)))) for side in (width, height))
        return min(self.fixed, key=lambda size: _distance(size, width, height))

    def describe(self) -> str:
        if self.fixed:
            return ", ".join(f"{w}x{h}" for w, h in self.fixed)
        return f"multiples of {self.step} within {self.low}-{self.high}"


def _distance(size: tuple[int, int], width: int, height: int) -> tuple[float, float]:
    shape = abs(math.log((size[0] / size[1]) / (width / height)))
    return (round(shape, 3), abs(math.log((size[0] * size[1]) / (width * height))))


@dataclass(frozen=True)
class ModelLimits:
    """What one backend accepts for one model."""

    sizes: tuple[SizeRule, ...] = (SizeRule(),)
    steps: tuple[int, int] = STEPS_RANGE
    guidance: tuple[float, float] = GUIDANCE_RANGE

    def refuses(self, model: str, width: int, height: int, steps: int, guidance: float) -> str | None:
        if not any(rule.serves(width, height) for rule in self.sizes):
            return f"{width}x{height} is not a size it makes for {model} ({'; '.join(r.describe() for r in self.sizes)})"
        if not self.steps[0] <= steps <= self.steps[1]:
            return f"it runs {model} with {self.steps[0]}-{self.steps[1]} steps, not {steps}"
        if guidance != 0 and not self.guidance[0] <= guidance <= self.guidance[1]:
            return f"it takes guidance {self.guidance[0]:g}-{self.guidance[1]:g} for {model}, not {guidance:g}"
        return None


@dataclass(frozen=True)
class Capabilities:
    """The models a backend serves and what each accepts."""

    backend: str
    models: dict[str, ModelLimits] = field(default_factory=dict)

    def refuses(self, model: str, width: int, height: int, steps: int, guidance: float) -> str | None:
        """Why this backend cannot make such an image, or None."""
        if model not in self.models:
            return f"{self.backend} does not offer FLUX {model} (it offers {', '.join(self.models)})"
        reason = self.models[model].refuses(model, width, height, steps, guidance)
        return f"{self.backend}: {reason}" if reason else None

    def fit_model(self, model: str, given: bool, corrections: list[str]) -> str:
        """The model to plan: the row's, or a stand-in at least as capable; RowRejected when there is none."""
        if model in self.models:
            return model
        stand_in = next((m for m in STAND_INS.get(model, ()) if m in self.models), None)
        if stand_in is None:
            asked = "this row asks for" if given else "planning picked"
            raise RowRejected(f"{self.backend} serves FLUX {', '.join(self.models)} only and {asked} {model}, which "
                              f"none of those can stand in for: use a backend that offers {model}")
        corrections.append(f"model {model} -> {stand_in} ({self.backend} does not serve {model})")
        return stand_in

    def fit_row(self, planned: FittableRow, given: set[str]) -> None:
        """Move size, steps and guidance onto what the backend makes, recording each change; numbers the row
        gave explicitly that the backend cannot take reject the row, naming the backend's range."""
        limits = self.models[planned.model]
        if not any(rule.serves(planned.width, planned.height) for rule in limits.sizes):
            size = min((rule.nearest(planned.width, planned.height) for rule in limits.sizes),
                       key=lambda s: _distance(s, planned.width, planned.height))
            planned.corrections.append(f"size {planned.width}x{planned.height} -> {size[0]}x{size[1]} "
                                       f"(the nearest {self.backend} makes for {planned.model})")
            planned.width, planned.height = size
        planned.steps = self._fit_number("num_inference_steps", planned.steps, limits.steps, given, planned)
        if planned.guidance != 0:
            planned.guidance = self._fit_number("guidance_scale", planned.guidance, limits.guidance, given, planned)

    def _fit_number(self, column: str, value, bounds, given: set[str], planned: FittableRow):
        if bounds[0] <= value <= bounds[1]:
            return value
        if column in given:
            raise RowRejected(f"{column} {value:g} is outside {self.backend}'s {bounds[0]:g}-{bounds[1]:g} for "
                              f"FLUX {planned.model}: set it within that range, or use another backend")
        fitted = type(value)(min(bounds[1], max(bounds[0], value)))
        planned.corrections.append(f"{column} {value:g} -> {fitted:g} ({self.backend}'s range for {planned.model})")
        return fitted

    @classmethod
    def union(cls, backend: str, parts: list["Capabilities"]) -> "Capabilities":
        """What any of several backends can make (the router's providers)."""
        models: dict[str, ModelLimits] = {}
        for part in parts:
            for model, limits in part.models.items():
                known = models.get(model)
                models[model] = limits if known is None else ModelLimits(
                    sizes=known.sizes + limits.sizes,
                    steps=(min(known.steps[0], limits.steps[0]), max(known.steps[1], limits.steps[1])),
                    guidance=(min(known.guidance[0], limits.guidance[0]), max(known.guidance[1], limits.guidance[1])))
        return cls(backend, dict(sorted(models.items())))
