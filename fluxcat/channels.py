"""Sales-channel image specs as data (fluxcat/data/channels.json, extended by the user's own file): size, aspect,
background rule, product fill, format and bytes per channel, checked once when loaded."""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from typing import Literal, Optional

import fsspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fluxcat.errors import UserError
from fluxcat.limits import MAX_SLOT_PIXELS

BACKGROUNDS = ("white", "light", "any")
# Backgrounds a generated scene cannot promise: a reference row is made as a white packshot for these channels.
PACKSHOT_BACKGROUNDS = ("white", "light")


class Guideline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    url: str
    checked_via: str = ""
    rules: str


class ChannelSpec(BaseModel):
    """One channel: what its images must be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    title: str
    size: Optional[tuple[int, int]] = None  # exact delivered size
    min_longest: Optional[int] = Field(None, ge=1)  # or: at least this many pixels on the longer side
    aspect: str  # "w:h"
    background: Literal[BACKGROUNDS]
    fill: tuple[float, float]
    format: Literal["jpeg", "png", "webp"]
    max_bytes: int = Field(gt=0)
    guideline: Guideline

    @field_validator("aspect")
    @classmethod
    def _aspect(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 2 or not all(p.strip().replace(".", "", 1).isdigit() and float(p) > 0 for p in parts):
            raise ValueError(f"aspect must be 'width:height' such as '4:5', got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "ChannelSpec":
        if (self.size is None) == (self.min_longest is None):
            raise ValueError("give exactly one of size [width, height] and min_longest")
        if self.size is not None and (min(self.size) < 1 or abs(math.log(self.size[0] / self.size[1] / self.ratio)) > 0.01):
            raise ValueError(f"size {self.size[0]}x{self.size[1]} does not have the aspect ratio {self.aspect}")
        low, high = self.fill
        if not 0 < low <= high <= 1:
            raise ValueError(f"fill must be [low, high] with 0 < low <= high <= 1, got {list(self.fill)}")
        return self

    @property
    def ratio(self) -> float:
        width, height = (float(p) for p in self.aspect.split(":"))
        return width / height

    @property
    def target_fill(self) -> float:
        """Where a packshot is placed: the middle of the channel's fill range."""
        return round(sum(self.fill) / 2, 4)

    @property
    def slot(self) -> tuple[float, float]:
        """The pixels the channel asks for (its exact size, or its minimum at its aspect ratio)."""
        if self.size is not None:
            return self.size
        if self.ratio >= 1:
            return float(self.min_longest), self.min_longest / self.ratio
        return self.min_longest * self.ratio, float(self.min_longest)

    def delivered_size(self, generated: tuple[int, int]) -> tuple[int, int]:
        """The size the stored image has: the channel's exact size, else the generated size if it meets the
        minimum, else the generated image scaled up to it."""
        if self.size is not None:
            return tuple(self.size)
        if max(generated) >= self.min_longest:
            return generated
        scale = self.min_longest / max(generated)
        return math.ceil(generated[0] * scale), math.ceil(generated[1] * scale)

    @property
    def packshot_only(self) -> bool:
        return self.background in PACKSHOT_BACKGROUNDS


class ChannelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    about: str = ""
    channels: dict[str, ChannelSpec]


def load_channels(user_file: str = "", storage_options: dict | None = None) -> dict[str, ChannelSpec]:
    """The bundled channels, with the user's file's entries added (or replacing bundled ones of the same name)."""
    channels = dict(bundled_channels())
    if user_file:
        try:
            with fsspec.open(user_file, "r", **(storage_options or {})) as handle:
                text = handle.read()
        except (OSError, ValueError) as error:
            raise UserError(f"channels_file {user_file} cannot be read ({type(error).__name__}: {error})") from None
        channels.update(_parse(text, user_file))
    return channels


@lru_cache(maxsize=1)
def bundled_channels() -> dict[str, ChannelSpec]:
    return _parse(resources.files("fluxcat.data").joinpath("channels.json").read_text(), "fluxcat/data/channels.json")


def _parse(text: str, where: str) -> dict[str, ChannelSpec]:
    try:
        parsed = ChannelFile.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise UserError(f"{where} is not a valid channels file: {problems}") from None
    return {name: spec.model_copy(update={"name": name}) for name, spec in parsed.channels.items()}


def parse_channel_names(value, known: dict[str, ChannelSpec]) -> tuple[str, ...]:
    """A `channels` value (comma-separated text or a list) as known channel names, in order, without repeats;
    ValueError names the unknown one and the choices."""
    if value is None:
        return ()
    names = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"channels must be text such as 'marketplace-main,social-feed-portrait', got {value!r}")
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown channel {unknown[0]!r}: choose from {', '.join(known)} (or add it to channels_file)")
    return tuple(dict.fromkeys(names))


def describe(spec: ChannelSpec) -> str:
    size = f"{spec.size[0]}x{spec.size[1]}" if spec.size else f">= {spec.min_longest} px longest side"
    return f"{spec.name}: {size}, {spec.aspect}, background {spec.background}, fill {spec.fill[0]:.0%}-{spec.fill[1]:.0%}"


def cap_note(spec: ChannelSpec, generated: tuple[int, int]) -> str | None:
    """The correction for a channel whose delivered image is larger than what is generated."""
    delivered = spec.delivered_size(generated)
    if delivered == tuple(generated):
        return None
    how = "upscaled" if delivered[0] * delivered[1] > generated[0] * generated[1] else "resized"
    return (f"channel {spec.name}: generated at {generated[0]}x{generated[1]} ({spec.aspect}, at most {MAX_SLOT_PIXELS} "
            f"pixels), {how} to {delivered[0]}x{delivered[1]} for delivery")

