"""The backend contract: what every generator (local GPU, tiny CPU model, hosted API) implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from PIL.Image import Image

    from fluxcat.backends.capabilities import Capabilities
    from fluxcat.store import Store


class BackendConfigError(ValueError):
    """The backend cannot run as configured (missing weights, key, bad option): raised before any work."""


@dataclass(frozen=True)
class ImageRequest:
    """One image to make: everything that decides its pixels, plus the key it will be stored under."""

    key: str
    prompt: str
    model: str  # "schnell" | "dev"
    width: int
    height: int
    steps: int
    guidance: float
    seed: int

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
    """Base of every generator. Construction validates configuration cheaply; weights and connections are opened
    lazily on the first `generate`. Subclasses implement `generate` and override the defaults they need."""

    name = "backend"
    max_batch = 1  # how many requests one `generate` call is given at most

    def model_id(self, model: str) -> str:
        """Identity of the weights behind a model name, part of every content key."""
        return f"{self.name}:{model}"

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        """Yield one result per request, in any order, as each finishes; never raise for one bad request."""
        raise NotImplementedError

    def cost_per_image(self, request: ImageRequest) -> float:
        """Expected price in USD (0 for local generation)."""
        return 0.0

    def capabilities(self) -> "Capabilities | None":
        """What this backend can make (models, sizes, steps, guidance); None means anything FLUX can."""
        return None

    @property
    def row_checks(self) -> list[Callable]:
        """Planning checks (PlannedRow -> rejection reason or None) beyond what `capabilities` says."""
        return []

    def attach_store(self, store: "Store") -> None:
        """Keep run state (quota usage, submitted jobs) in this output store; called before generating."""

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
