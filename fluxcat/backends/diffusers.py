"""The real diffusers FluxPipeline: loaded once per process, batched by shape, one generator per image."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Iterator

from fluxcat.backends.base import BackendConfigError, ImageRequest, ImageResult, batches
from fluxcat.limits import MODELS

log = logging.getLogger("fluxcat")


def weights_available(path: str) -> bool:
    """True when `path` is a local pipeline folder or a hub id already in the local cache (no download)."""
    if os.path.isdir(path):
        return os.path.isfile(os.path.join(path, "model_index.json"))
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(path, "model_index.json"), str)


class DiffusersBackend:
    name = "diffusers"

    def __init__(self, schnell: str | None = None, dev: str | None = None, device: str = "auto",
                 max_batch: int = 4, revision: str | None = None):
        self.paths = self.default_paths(schnell, dev)
        for model, path in self.paths.items():
            if path.startswith((".", "/", "~")) and not os.path.isfile(os.path.join(os.path.expanduser(path), "model_index.json")):
                raise BackendConfigError(f"{model} weights path {path!r} has no model_index.json: "
                                         "point it at a diffusers pipeline folder (as saved by save_pretrained)")
        self.device_option = device
        self.max_batch = max_batch
        self.revision = revision
        self._pipelines: dict[str, object] = {}
        self._lock = threading.Lock()  # one pipeline call at a time: the GPU is the shared resource

    @staticmethod
    def default_paths(schnell: str | None = None, dev: str | None = None) -> dict[str, str]:
        return {
            "schnell": schnell or os.environ.get("FLUXCAT_SCHNELL") or MODELS["schnell"].hub_id,
            "dev": dev or os.environ.get("FLUXCAT_DEV") or MODELS["dev"].hub_id,
        }

    def model_id(self, model: str) -> str:
        return f"{self.paths[model]}@{self.revision or 'main'}"

    def cost_per_image(self, request: ImageRequest) -> float:
        return 0.0

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        for batch in batches(requests, self.max_batch):
            yield from self._generate_batch(batch)

    def _generate_batch(self, batch: list[ImageRequest]) -> Iterator[ImageResult]:
        import torch

        try:
            start = time.perf_counter()
            with self._lock:
                images = self._run(batch)
            seconds = (time.perf_counter() - start) / len(batch)
            for request, image in zip(batch, images):
                yield ImageResult(request.key, image=image, seconds=seconds, backend=self.name)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if len(batch) == 1:
                yield ImageResult(batch[0].key, error=f"CUDA out of memory at {batch[0].width}x{batch[0].height} "
                                  "even with batch size 1", backend=self.name)
                return
            half = len(batch) // 2
            log.warning("CUDA out of memory with a batch of %d; retrying as %d + %d", len(batch), half, len(batch) - half)
            yield from self._generate_batch(batch[:half])
            yield from self._generate_batch(batch[half:])
        except Exception as error:  # one failing batch must not take the shard down
            for request in batch:
                yield ImageResult(request.key, error=f"{type(error).__name__}: {error}", backend=self.name)

    def _run(self, batch: list[ImageRequest]):
        import torch

        first = batch[0]
        pipe = self.pipeline(first.model)
        generators = [torch.Generator(device=self.generator_device).manual_seed(r.seed) for r in batch]
        with torch.inference_mode():
            return pipe(
                prompt=[r.prompt for r in batch], height=first.height, width=first.width,
                num_inference_steps=first.steps, guidance_scale=first.guidance,
                max_sequence_length=MODELS[first.model].max_sequence_length,
                generator=generators, output_type="pil",
            ).images

    @property
    def device(self) -> str:
        if self.device_option != "auto":
            return self.device_option
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def generator_device(self) -> str:
        return "cpu" if self.device == "cpu" else self.device

    def pipeline(self, model: str):
        """Load a model's pipeline on first use; bf16 on CUDA, float32 on CPU."""
        if model not in self._pipelines:
            self._pipelines[model] = self._load(self.paths[model])
        return self._pipelines[model]

    def _load(self, path: str):
        import diffusers
        import transformers
        import torch
        from diffusers import FluxPipeline

        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        log.info("loading FluxPipeline from %s (%s on %s)", path, dtype, self.device)
        try:
            pipe = FluxPipeline.from_pretrained(os.path.expanduser(path), dtype=dtype, revision=self.revision)
        except OSError as error:
            raise BackendConfigError(f"could not load FLUX weights from {path!r}: {error}. Pass a local pipeline "
                                     "folder or a hub id you have downloaded (huggingface-cli download ...).") from None
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(self.device)

    def close(self) -> None:
        self._pipelines.clear()
