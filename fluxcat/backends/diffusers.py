"""The real diffusers FluxPipeline, FluxFillPipeline and FluxKontextPipeline: loaded once per device, prompts encoded
once per call, batched per shape bucket, one generator per image; on CUDA the fast path (fastpath.py) compiles the
transformer's blocks and the VAE decoder. Fill and Kontext take the reference inputs each request carries
(fluxcat/delivery.py)."""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future, as_completed
from functools import partial
from typing import Iterator, Literal

from fluxcat.backends import fastpath
from fluxcat.backends.base import Backend, BackendConfigError, ImageRequest, ImageResult
from fluxcat.backends.capabilities import Capabilities, ModelLimits
from fluxcat.gpus import DeviceSpecError, DeviceWorkers, parse_devices, visible_cuda_count
from fluxcat.limits import FILL_GUIDANCE_RANGE, MODELS, model_spec

log = logging.getLogger("fluxcat")

ENCODE_BATCH = 64  # prompts per T5/CLIP forward
# fluxcat's model name -> (diffusers pipeline class, environment variable naming its weights)
PIPELINES = {"schnell": ("FluxPipeline", "FLUXCAT_SCHNELL"), "dev": ("FluxPipeline", "FLUXCAT_DEV"),
             "fill": ("FluxFillPipeline", "FLUXCAT_FILL"), "kontext": ("FluxKontextPipeline", "FLUXCAT_KONTEXT")}


def weights_available(path: str) -> bool:
    """True when `path` is a local pipeline folder or a hub id already in the local cache (no download)."""
    if os.path.isdir(path):
        return os.path.isfile(os.path.join(path, "model_index.json"))
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(path, "model_index.json"), str)


class DiffusersBackend(Backend):
    name = "diffusers"

    def __init__(self, schnell: str | None = None, dev: str | None = None, fill: str | None = None,
                 kontext: str | None = None, device: str = "auto", max_batch: int = 16, revision: str | None = None,
                 **fast_options):
        self.paths = self.default_paths(schnell, dev, fill, kontext)
        for model, path in self.paths.items():
            if path.startswith((".", "/", "~")) and not os.path.isfile(os.path.join(os.path.expanduser(path), "model_index.json")):
                raise BackendConfigError(f"{model} weights path {path!r} has no model_index.json: "
                                         "point it at a diffusers pipeline folder (as saved by save_pretrained)")
        self.revision = revision
        self._configure(device, max_batch, **fast_options)

    @classmethod
    def more_options(cls) -> dict:
        """The shared fast-path options `_configure` takes (compile, fp8, batch_pixels, ...)."""
        from fluxcat.backends.options import declared

        return {name: kind for name, kind in declared(DiffusersBackend._configure).items()
                if name not in ("device", "max_batch")}

    def _configure(self, device: str = "auto", max_batch: int = 16, compile="auto", fp8=False, batch_pixels="auto",
                   encode_batch: int = ENCODE_BATCH, compile_backend: str = "inductor", compile_mode: str | None = None,
                   compile_shapes: Literal["dynamic", "static"] = "dynamic"):
        """Options shared with subclasses; checked here, cheaply, so bad ones fail before any work."""
        try:
            parse_devices(device, None)
        except DeviceSpecError as error:
            raise BackendConfigError(str(error)) from None
        self.device_option = str(device)
        self.max_batch = int(max_batch)
        if self.max_batch < 1:
            raise BackendConfigError(f"max_batch must be at least 1, got {max_batch}")
        self.encode_batch = max(1, int(encode_batch))
        self.fast_options = {"compile": fastpath.parse_switch(compile, "compile"), "fp8": bool(fastpath.parse_switch(fp8, "fp8")),
                             "batch_pixels": fastpath.parse_batch_pixels(batch_pixels),
                             "compile_backend": compile_backend if callable(compile_backend) else str(compile_backend),
                             "compile_mode": compile_mode, "dynamic": fastpath.parse_compile_shapes(compile_shapes)}
        self._pipelines: dict = {}
        self._lock = threading.Lock()
        self._workers: DeviceWorkers | None = None
        self._fast: fastpath.FastPath | None = None
        self._bucket_batch: dict[tuple, int] = {}  # lowered after an out-of-memory error
        self._devices: list[str] | None = None
        self._loading = threading.local()
        if self.fast_options["fp8"]:
            fastpath.check_fp8(self.device)

    @staticmethod
    def default_paths(schnell: str | None = None, dev: str | None = None, fill: str | None = None,
                      kontext: str | None = None) -> dict[str, str]:
        """Each model's weights: the option, else its environment variable, else its hub id (from the local cache)."""
        given = {"schnell": schnell, "dev": dev, "fill": fill, "kontext": kontext}
        return {model: given[model] or os.environ.get(env) or model_spec(model).hub_id
                for model, (_, env) in PIPELINES.items()}

    def capabilities(self) -> Capabilities:
        """Every FLUX.1 model it has weights for (text to image, Fill for `background`, Kontext for `edit`), at any
        size on FLUX's grid; Fill on its own guidance scale."""
        limits = {model: ModelLimits() for model in MODELS}
        limits["fill"] = ModelLimits(guidance=FILL_GUIDANCE_RANGE)
        limits["kontext"] = ModelLimits()
        return Capabilities(self.name, limits)

    def model_id(self, model: str) -> str:
        # FP8 changes pixels (lossy), so its images get their own content keys.
        suffix = "+fp8" if getattr(self, "fast_options", {}).get("fp8") else ""
        return f"{self.paths[model]}@{self.revision or 'main'}{suffix}"

    def cost_per_image(self, request: ImageRequest) -> float:
        return 0.0

    # -- devices and the fast path -------------------------------------------------------------------------------

    @property
    def devices(self) -> list[str]:
        """One worker per entry; `auto` is every visible GPU, else the CPU."""
        if self._devices is None:
            try:
                self._devices = parse_devices(self.device_option, visible_cuda_count())
            except DeviceSpecError as error:
                raise BackendConfigError(str(error)) from None
        return self._devices

    @property
    def device(self) -> str:
        return self.devices[0]

    @property
    def generator_device(self) -> str:
        return self.device

    @property
    def fast(self) -> fastpath.FastPath:
        if self._fast is None:
            self._fast = fastpath.resolve(self.device.split(":")[0], **self.fast_options)
        return self._fast

    def batch_size_for(self, request: ImageRequest) -> int:
        bucket = request.batch_key
        if bucket not in self._bucket_batch:
            self._bucket_batch[bucket] = fastpath.bucket_batch_size(request.width, request.height, self.max_batch,
                                                                    self.fast.batch_pixels)
        return self._bucket_batch[bucket]

    def _device_workers(self) -> DeviceWorkers:
        with self._lock:
            if self._workers is None:
                self._workers = DeviceWorkers(self.devices, name=f"fluxcat-{self.name}")
            return self._workers

    # -- generation ----------------------------------------------------------------------------------------------

    def generate(self, requests: list[ImageRequest]) -> Iterator[ImageResult]:
        """Encode each model's unique prompts in large batches first, then denoise bucket by bucket on whichever
        device is free; results come back as each batch finishes."""
        workers = self._device_workers()
        jobs: dict[Future, list[ImageRequest]] = {}
        by_model: dict[str, list[ImageRequest]] = {}
        for request in requests:
            by_model.setdefault(request.model, []).append(request)
        for model, group in by_model.items():
            embeddings = workers.submit(partial(self._encode_job, model, fastpath.unique_prompts(group)))
            for batch, size in fastpath.plan_batches(group, self.batch_size_for):
                jobs[workers.submit(partial(self._denoise_job, batch, size, embeddings))] = batch
        for future in as_completed(jobs):
            try:
                yield from future.result()
            except Exception as error:  # a worker that failed outside the job's own handling
                for request in jobs[future]:
                    yield ImageResult(request.key, error=f"{type(error).__name__}: {error}", backend=self.name)

    def _encode_job(self, model: str, prompts: list[str], worker: int, device: str) -> dict:
        """T5 + CLIP once per unique prompt: {prompt: (t5 embedding, pooled CLIP embedding)}."""
        import torch

        pipe = self.pipeline(model, worker)
        embeddings = {}
        with torch.inference_mode():
            for start in range(0, len(prompts), self.encode_batch):
                chunk = prompts[start:start + self.encode_batch]
                prompt_embeds, pooled, _ = pipe.encode_prompt(
                    prompt=chunk, prompt_2=None, device=torch.device(device),
                    max_sequence_length=model_spec(model).max_sequence_length)
                embeddings.update({prompt: (prompt_embeds[i], pooled[i]) for i, prompt in enumerate(chunk)})
        return embeddings

    def _denoise_job(self, batch: list[ImageRequest], size: int, embeddings: Future, worker: int, device: str) -> list[ImageResult]:
        try:
            encoded = embeddings.result()
        except Exception as error:  # encode in the pipe call instead, so this batch still gets its own verdict
            log.warning("batched prompt encoding failed (%s: %s); encoding per batch", type(error).__name__, error)
            encoded = None
        return self._run_batch(batch, size, encoded, worker, device)

    def _run_batch(self, batch: list[ImageRequest], size: int, encoded: dict | None, worker: int, device: str) -> list[ImageResult]:
        import torch

        try:
            start = time.perf_counter()
            images = self._run(batch, size, encoded, worker, device)
            seconds = (time.perf_counter() - start) / len(batch)
            return [ImageResult(r.key, image=image, seconds=seconds, backend=self.name) for r, image in zip(batch, images)]
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if len(batch) == 1:
                return [ImageResult(batch[0].key, error=f"CUDA out of memory at {batch[0].width}x{batch[0].height} "
                                    "even with batch size 1", backend=self.name)]
            half = max(1, size // 2)
            self._bucket_batch[batch[0].batch_key] = half  # later batches of this bucket start smaller
            log.warning("CUDA out of memory with a batch of %d at %dx%d; batches of %d from now on",
                        len(batch), batch[0].width, batch[0].height, half)
            return [result for start in range(0, len(batch), half)
                    for result in self._run_batch(batch[start:start + half], half, encoded, worker, device)]
        except Exception as error:  # one failing batch must not take the shard down
            return [ImageResult(r.key, error=f"{type(error).__name__}: {error}", backend=self.name) for r in batch]

    def _run(self, batch: list[ImageRequest], size: int, encoded: dict | None, worker: int, device: str):
        import torch

        first = batch[0]
        pipe = self.pipeline(first.model, worker)
        if self.fast.compile:  # dynamo's settings are per thread (torch >= 2.13): set them where the graphs run
            fastpath.raise_recompile_limit()
        # A partial batch padded to its bucket's size brings no new shape to the compiled graphs; extras are dropped.
        rows = fastpath.padded(batch, size) if self.fast.pad_batches else batch
        generators = [torch.Generator(device=device).manual_seed(r.seed) for r in rows]
        if encoded is None:
            text = {"prompt": [r.prompt for r in rows]}
        else:
            text = {"prompt_embeds": torch.stack([encoded[r.prompt][0] for r in rows]).to(device),
                    "pooled_prompt_embeds": torch.stack([encoded[r.prompt][1] for r in rows]).to(device)}
        with torch.inference_mode():
            images = pipe(
                **text, **reference_inputs(first.model, rows), height=first.height, width=first.width,
                num_inference_steps=first.steps, guidance_scale=first.guidance,
                max_sequence_length=model_spec(first.model).max_sequence_length,
                generator=generators, output_type="pil",
            ).images
        return images[:len(batch)]

    # -- loading -------------------------------------------------------------------------------------------------

    def pipeline(self, model: str, worker: int = 0):
        """A model's pipeline on one worker's device, loaded on first use and given the fast path; bf16 on CUDA,
        float32 on CPU. Each worker only ever asks for its own, so no two threads share one."""
        key = (worker, model)
        if key not in self._pipelines:
            self._loading.device = self.devices[worker]  # read by `_load`, which subclasses override
            try:
                pipe = self._load(self.paths[model], model)
            finally:
                self._loading.device = None
            self._pipelines[key] = fastpath.prepare_pipeline(pipe, self.fast)
        return self._pipelines[key]

    def _load(self, path: str, model: str = "schnell"):
        import diffusers
        import torch
        import transformers

        diffusers.utils.logging.disable_progress_bar()
        # Prompts past CLIP's 77 tokens are expected (T5 reads the whole prompt): no warning per batch.
        for module in ("pipeline_flux", "pipeline_flux_fill", "pipeline_flux_kontext"):
            diffusers.utils.logging.get_logger(f"diffusers.pipelines.flux.{module}").setLevel("ERROR")
        transformers.utils.logging.disable_progress_bar()
        device = getattr(self._loading, "device", None) or self.device
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        pipeline_class = getattr(diffusers, PIPELINES[model][0])
        log.info("loading %s from %s (%s on %s)", pipeline_class.__name__, path, dtype, device)
        try:
            pipe = pipeline_class.from_pretrained(os.path.expanduser(path), dtype=dtype, revision=self.revision)
        except OSError as error:
            raise BackendConfigError(f"could not load FLUX weights from {path!r}: {error}. Pass a local pipeline "
                                     "folder or a hub id you have downloaded (huggingface-cli download ...).") from None
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(device)

    def close(self) -> None:
        with self._lock:
            if self._workers is not None:
                self._workers.close()
                self._workers = None
        self._pipelines.clear()


def reference_inputs(model: str, rows: list[ImageRequest]) -> dict:
    """Fill: each request's packshot and inverted mask; Kontext: its packshot, made at the requested size (without
    max_area and _auto_resize=False Kontext makes about 1 MP whatever width and height say)."""
    if model == "fill":
        return {"image": [r.image for r in rows], "mask_image": [r.mask for r in rows]}
    if model == "kontext":
        first = rows[0]
        return {"image": [r.image for r in rows], "max_area": first.width * first.height, "_auto_resize": False}
    return {}
