"""The backend contract: what every generator (local GPU, tiny CPU model, hosted API) implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from fluxcat.errors import BackendConfigError  # noqa: F401  (backends raise it; its home is errors)

if TYPE_CHECKING:
    from PIL.Image import Image
    from pydantic import BaseModel

    from fluxcat.backends.capabilities import Capabilities
    from fluxcat.ledger import Ledger


@dataclass(frozen=True)
class ImageRequest:
    """One attempt at one image: everything that decides its pixels, plus the key the image is stored under. QA's
    retries keep the key and change the seed, so (key, seed) names an attempt. New optional inputs (a reference
    image, a mask) are added as fields with defaults, so every backend keeps working."""

    key: str
    prompt: str
    model: str  # "schnell" | "dev" | "fill" | "kontext"
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    # fill and kontext: the product placed where the planner put it, on white, at this size (fluxcat/delivery.py)
    image: "Image | None" = field(default=None, compare=False, repr=False)
    mask: "Image | None" = field(default=None, compare=False, repr=False)  # fill: white = make, black = keep

    @property
    def batch_key(self) -> tuple:
        """Requests sharing this can run in one batched call."""
        return (self.model, self.width, self.height, self.steps, self.guidance)


@dataclass
class ImageResult:
    """The outcome of one request: an image, or an error that says why there is none."""

    key: str
    image: "Image | None" = None
    error: str | None = None
    seconds: float = 0.0
    cost_usd: float = 0.0
    backend: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # provider facts: nsfw flags, providers tried

    @property
    def ok(self) -> bool:
        return self.image is not None and self.error is None


class Backend:
    """Base of every generator. Construction takes explicit keyword options and validates them cheaply; weights and
    connections are opened lazily on the first `generate`. One instance belongs to one run (its RunContext builds
    and closes it); only fluxcat/generate.py calls `generate`. Subclasses implement `generate` and override the
    defaults they need, and pass tests/fluxcat/backends/contract.py."""

    name = "backend"
    max_batch = 1  # how many requests one `generate` call is given at most
    kwargs_to_base = True  # a constructor's **kwargs go on to its base class's (its options include the base's)

    def model_id(self, model: str) -> str:
        """Identity of the weights behind a model name, part of every content key."""
        return f"{self.name}:{model}"

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        """Yield one result per request, in any order, as each finishes; never raise for one bad request."""
        raise NotImplementedError

    def cost_per_image(self, request: ImageRequest) -> float:
        """The most this image can cost in USD (0 for local generation; a router: its dearest provider able to make
        it). The run's budget reserves this before submitting and settles to `ImageResult.cost_usd` after."""
        return 0.0

    def capabilities(self) -> "Capabilities | None":
        """What this backend can make (models, sizes, steps, guidance); None means anything FLUX can."""
        return None

    @property
    def row_checks(self) -> list[Callable]:
        """Planning checks (PlannedRow -> rejection reason or None) beyond what `capabilities` says."""
        return []

    @classmethod
    def options(cls) -> type["BaseModel"]:
        """The options this backend takes, as a typed, closed model: its constructor's keyword parameters plus
        `more_options()` (fluxcat/backends/options.py)."""
        from fluxcat.backends.options import options_model

        return options_model(cls)

    @classmethod
    def more_options(cls) -> dict[str, tuple[Any, Any]]:
        """Options the constructor takes through **kwargs: name -> (type, default)."""
        return {}

    def check_ready(self) -> None:
        """What making images needs beyond the options (a hosted provider's key), checked before a run's first
        image; planning and cost estimates do without it."""

    def attach(self, ledger: "Ledger") -> None:
        """Called once by the run that owns this instance, before generating: billed jobs are recorded in (and
        re-attached from) the run's ledger, quota usage in its output store. Local backends need neither."""

    def close(self) -> None:
        """Release weights, connections and threads."""


def batches(requests: Iterable[ImageRequest], size: int) -> Iterator[list[ImageRequest]]:
    """Group requests that can share a call, in chunks of at most `size`, keeping first-seen order."""
    groups: dict[tuple, list[ImageRequest]] = {}
    for request in requests:
        groups.setdefault(request.batch_key, []).append(request)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start:start + size]
