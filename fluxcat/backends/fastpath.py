"""The diffusers backend's fast path: per-bucket batch sizes, regional torch.compile (one graph with symbolic sizes
for every size, or one static graph per size), channels_last + compiled VAE decode, and FP8 (torchao, lossy) behind
an explicit option."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from fluxcat.backends.base import BackendConfigError, ImageRequest

# Pixel budget of one denoising batch on CUDA: 2 images at 1024², 8 at 512². Batch sizes are powers of two so
# that a call of `max_batch` requests (also a power of two) splits into full batches.
CUDA_BATCH_PIXELS = 2 * 1024 * 1024
# Graphs one compiled block may hold before dynamo runs it eagerly (with `dynamic=False`: a catalog's sizes x 2 models).
RECOMPILE_LIMIT = 64
FP8_MIN_CAPABILITY = (8, 9)  # float8 matmuls: Ada (8.9), Hopper (9.0) and newer
COMPILE_SHAPES = ("dynamic", "static")
SWITCH_WORDS = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False,
                "0": False, "auto": None}


@dataclass(frozen=True)
class FastPath:
    """What the fast path does on one device; `resolve` fills in the CUDA-only defaults."""

    compile: bool = False            # regional compile of the transformer blocks + VAE decoder
    # One graph with symbolic sizes serves every size (compiled about twice, then never); static graphs compile once
    # per size and run 2-5% faster at sizes after the first (benchmarks/RESULTS.md, compile across sizes).
    dynamic: bool = True
    compile_backend: object = "inductor"  # a torch.compile backend: a name, or a callable (tests count graphs)
    compile_mode: str | None = None  # e.g. "max-autotune-no-cudagraphs" (inductor only)
    fp8: bool = False                # torchao float8 dynamic row-wise on the transformer's linears: lossy
    batch_pixels: int | None = None  # pixel budget of one denoising batch; None: `max_batch` images

    @property
    def pad_batches(self) -> bool:
        """A partial batch is padded up to its bucket's size, so a batch never brings a new shape to the graphs."""
        return self.compile


def parse_switch(value, name: str) -> bool | None:
    """on/off/auto as bool, 0/1 or words (the CLI passes strings); None means auto."""
    if value is None or isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in SWITCH_WORDS:
        raise BackendConfigError(f"{name} must be on, off or auto, got {value!r}")
    return SWITCH_WORDS[word]


def parse_compile_shapes(value) -> bool:
    """`dynamic` (one graph for every size) or `static` (a graph per size), as torch.compile's `dynamic` flag."""
    word = str(value).strip().lower()
    if word not in COMPILE_SHAPES:
        raise BackendConfigError(f"compile_shapes must be dynamic or static, got {value!r}")
    return word == "dynamic"


def parse_batch_pixels(value) -> int | str | None:
    """A pixel count, "auto" (a budget on CUDA, `max_batch` images elsewhere) or None (`max_batch` images)."""
    if value is None or str(value).strip().lower() == "auto":
        return value if value is None else "auto"
    try:
        pixels = int(value)
    except (TypeError, ValueError):
        raise BackendConfigError("batch_pixels must be a pixel count such as 2097152 (two 1024x1024 images) or auto, "
                                 f"got {value!r}") from None
    if pixels < 1:
        raise BackendConfigError(f"batch_pixels must be at least 1, got {pixels}")
    return pixels


def resolve(device_type: str, compile=None, fp8: bool = False, batch_pixels="auto", compile_backend="inductor",
            compile_mode: str | None = None, dynamic: bool = True) -> FastPath:
    """The fast path for a device: compile and a pixel budget by default on CUDA only; FP8 only when asked."""
    on_cuda = device_type == "cuda"
    if batch_pixels == "auto":
        batch_pixels = CUDA_BATCH_PIXELS if on_cuda else None
    return FastPath(compile=on_cuda if compile is None else compile, dynamic=dynamic, compile_backend=compile_backend,
                    compile_mode=compile_mode, fp8=bool(fp8), batch_pixels=batch_pixels)


def bucket_batch_size(width: int, height: int, max_batch: int, batch_pixels: int | None) -> int:
    """Images per denoising batch at a size: the largest power of two within the pixel budget, 1 to max_batch."""
    if not batch_pixels:
        return max_batch
    fit = max(1, batch_pixels // (width * height))
    return max(1, min(max_batch, 1 << (fit.bit_length() - 1)))


def plan_batches(requests: Iterable[ImageRequest], size_for: Callable[[ImageRequest], int]) -> Iterator[tuple[list[ImageRequest], int]]:
    """Requests grouped by bucket (model, size, steps, guidance) in first-seen order, cut to each bucket's
    batch size; yields (batch, bucket batch size)."""
    groups: dict[tuple, list[ImageRequest]] = {}
    for request in requests:
        groups.setdefault(request.batch_key, []).append(request)
    for group in groups.values():
        size = size_for(group[0])
        for start in range(0, len(group), size):
            yield group[start:start + size], size


def padded(batch: list, size: int) -> list:
    """A partial batch filled up to `size` with copies of its last entry (their outputs are dropped)."""
    return batch + [batch[-1]] * max(0, size - len(batch))


def unique_prompts(requests: Iterable[ImageRequest]) -> list[str]:
    return list(dict.fromkeys(request.prompt for request in requests))


def fp8_problem(device_type: str, capability: tuple[int, int] | None, torchao_found: bool) -> str | None:
    """Why FP8 cannot run here (None when it can), with the fix."""
    if device_type != "cuda":
        return (f"fp8 needs a CUDA GPU of compute capability {FP8_MIN_CAPABILITY[0]}.{FP8_MIN_CAPABILITY[1]} or newer "
                f"(Ada, Hopper); this backend runs on {device_type}: drop fp8")
    if capability is not None and tuple(capability) < FP8_MIN_CAPABILITY:
        return (f"fp8 needs compute capability {FP8_MIN_CAPABILITY[0]}.{FP8_MIN_CAPABILITY[1]} or newer; "
                f"this GPU is {capability[0]}.{capability[1]}: drop fp8 (bf16 with compile is the fast path here)")
    if not torchao_found:
        return "fp8 needs torchao: pip install 'fluxcat[fp8]' (or pip install torchao)"
    return None


def check_fp8(device: str) -> None:
    """Fail before any work when FP8 was asked for where it cannot run."""
    device_type = device.split(":")[0]
    capability = None
    if device_type == "cuda":
        import torch

        capability = torch.cuda.get_device_capability(device) if torch.cuda.is_available() else None
    problem = fp8_problem(device_type, capability, importlib.util.find_spec("torchao") is not None)
    if problem:
        raise BackendConfigError(problem)


def apply_fp8(transformer) -> None:
    """Quantize the transformer's linear layers to float8 (weights per row, activations per row at run time)."""
    try:
        from torchao.quantization import PerRow, quantize_
    except ImportError:
        raise BackendConfigError("fp8 needs torchao: pip install 'fluxcat[fp8]' (or pip install torchao)") from None
    try:
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig

        config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    except ImportError:  # torchao before 0.10 spells it as a function
        from torchao.quantization import float8_dynamic_activation_float8_weight

        config = float8_dynamic_activation_float8_weight(granularity=PerRow())
    quantize_(transformer, config)


def raise_recompile_limit(limit: int = RECOMPILE_LIMIT) -> None:
    import torch._dynamo.config as dynamo_config

    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    if getattr(dynamo_config, name) < limit:
        setattr(dynamo_config, name, limit)


def prepare_pipeline(pipe, fast: FastPath):
    """Apply the fast path to a loaded pipeline in place: FP8 first (compile then sees the float8 graph)."""
    import torch

    if fast.fp8:
        apply_fp8(pipe.transformer)
    if fast.compile:
        raise_recompile_limit()
        options = {"backend": fast.compile_backend, "dynamic": fast.dynamic}
        if fast.compile_mode and fast.compile_backend == "inductor":
            options["mode"] = fast.compile_mode
        # Regional compile: FluxTransformerBlock and FluxSingleTransformerBlock (its `_repeated_blocks`) are each
        # compiled once and the graph is reused by all 19 + 38 instances, so compile time stays short.
        pipe.transformer.compile_repeated_blocks(fullgraph=True, **options)
        pipe.vae.to(memory_format=torch.channels_last)
        pipe.vae.decoder.compile(**options)
    return pipe
