"""GPU throughput: plain diffusers bf16 eager batch 1 (the baseline) vs fluxcat's diffusers backend with its fast path,
on full-size FLUX.1 architectures built with random weights on the device (no download; timing does not depend on
weight values).

    python benchmarks/gpu.py                 # one CUDA GPU: schnell and dev at 1024² and 512², bf16
    python benchmarks/gpu.py --fp8           # the same plus the FP8 fast path (torchao, lossy)
    python benchmarks/gpu.py --small         # CPU: a small random config, the whole harness end to end
    python benchmarks/gpu.py --flops         # the FLOP count behind the limit (meta tensors: no memory, no GPU)
    python benchmarks/gpu.py --overlap       # CPU: PNG encoding + writes overlapped with the next batch (shard runner)

On a GPU box whose image has torch, transformers and accelerate but not diffusers, bring the wheels:
    pip download --no-deps -d wheels diffusers==0.42.1 torchao==0.18.0      # here, then copy the repo + wheels over
    pip install --no-deps wheels/*.whl && pip install --no-deps -e .           # there; torch stays as it is
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

H100_BF16_DENSE_TFLOPS = 989.4  # H100 SXM, dense (no sparsity) bf16 tensor-core peak
STEPS = {"schnell": 4, "dev": 28}
GUIDANCE = {"schnell": 0.0, "dev": 3.5}
TEXT_TOKENS = {"schnell": 256, "dev": 512}

# The real FLUX.1 architectures (the published configs of the transformer, T5-v1.1-XXL, CLIP ViT-L/14 text, the VAE).
FULL = {
    "transformer": dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
                        num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                        axes_dims_rope=(16, 56, 56)),
    "t5": dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
               feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, is_encoder_decoder=False),
    "clip": dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                 max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu"),
    "vae": dict(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.1159, scaling_factor=0.3611, sample_size=1024),
}


# -- building pipelines with random weights ------------------------------------------------------------------------

@contextmanager
def default_dtype(dtype):
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_encoders(device: str, dtype):
    """T5-XXL, CLIP-L and the VAE at full size, random weights, created directly on the device in `dtype`."""
    import torch
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from fluxcat.backends.tiny import build_tiny_tokenizers

    clip_tokenizer, t5_tokenizer = build_tiny_tokenizers()  # pads to the real lengths (77, 256/512): same shapes
    with torch.device(device), default_dtype(dtype):
        parts = {
            "text_encoder_2": T5EncoderModel(T5Config(**FULL["t5"], pad_token_id=0, eos_token_id=1)),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**FULL["clip"], bos_token_id=0, eos_token_id=1, pad_token_id=1)),
            "vae": AutoencoderKL(**FULL["vae"]),
        }
    for module in parts.values():
        module.eval().requires_grad_(False)
    return {**parts, "tokenizer": clip_tokenizer, "tokenizer_2": t5_tokenizer}


def build_pipeline(model: str, device: str, dtype, encoders: dict):
    """A full-size FluxPipeline for `model` with random weights, sharing the encoders and VAE between models."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    with torch.device(device), default_dtype(dtype):
        transformer = FluxTransformer2DModel(**FULL["transformer"], guidance_embeds=(model == "dev"))
    transformer.eval().requires_grad_(False)
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=3.0 if model == "dev" else 1.0, use_dynamic_shifting=(model == "dev"), base_shift=0.5, max_shift=1.15,
        base_image_seq_len=256, max_image_seq_len=4096)
    pipe = FluxPipeline(scheduler=scheduler, transformer=transformer, **encoders)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_small_pipeline(model: str):
    """The tiny FLUX geometry (x8 VAE, 16 latent channels, 2x2 packing) with random weights, float32 on the CPU."""
    from fluxcat.backends.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(guidance_embeds=(model == "dev"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


# -- the limit -----------------------------------------------------------------------------------------------------

def analytic_transformer_flops(width: int, height: int, text_tokens: int, d: int = 3072, blocks: int = 57) -> float:
    """FLOP of one transformer step, batch 1: per block 24·d²·N (linears) + 4·N²·d (attention)."""
    tokens = (width // 16) * (height // 16) + text_tokens
    return blocks * (24 * d * d * tokens + 4 * tokens * tokens * d)


def measured_flops(model: str, width: int, height: int) -> dict:
    """FLOP of one image, counted op by op by torch's FlopCounterMode on meta tensors (no memory, no GPU)."""
    import torch
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    with torch.device("meta"), default_dtype(torch.bfloat16):
        transformer = FluxTransformer2DModel(**FULL["transformer"], guidance_embeds=(model == "dev"))
        t5 = T5EncoderModel(T5Config(**FULL["t5"]))
        clip = CLIPTextModel(CLIPTextConfig(**FULL["clip"]))
        vae = AutoencoderKL(**FULL["vae"])
        image_tokens, text_tokens = (width // 16) * (height // 16), TEXT_TOKENS[model]
        step_inputs = dict(hidden_states=torch.empty(1, image_tokens, 64), encoder_hidden_states=torch.empty(1, text_tokens, 4096),
                           pooled_projections=torch.empty(1, 768), timestep=torch.empty(1), img_ids=torch.empty(image_tokens, 3),
                           txt_ids=torch.empty(text_tokens, 3), return_dict=False)
        if model == "dev":
            step_inputs["guidance"] = torch.empty(1)
        parts = {"transformer step": lambda: transformer(**step_inputs),
                 "T5": lambda: t5(torch.zeros(1, text_tokens, dtype=torch.long)),
                 "CLIP": lambda: clip(torch.zeros(1, 77, dtype=torch.long)),
                 "VAE decode": lambda: vae.decode(torch.empty(1, 16, height // 8, width // 8))}
        counts = {}
        for name, run in parts.items():
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                run()
            counts[name] = counter.get_total_flops()
    counts["image"] = STEPS[model] * counts["transformer step"] + counts["T5"] + counts["CLIP"] + counts["VAE decode"]
    return counts


def print_flops(peak_tflops: float) -> None:
    for model, size in (("schnell", 1024), ("schnell", 512), ("dev", 1024), ("dev", 512)):
        counts = measured_flops(model, size, size)
        analytic = analytic_transformer_flops(size, size, TEXT_TOKENS[model])
        print(f"{model} {size}²: transformer step {counts['transformer step'] / 1e12:.2f} TFLOP counted "
              f"(analytic 57·(24d²N+4N²d) = {analytic / 1e12:.2f}) x {STEPS[model]} steps + T5 {counts['T5'] / 1e12:.2f} "
              f"+ CLIP {counts['CLIP'] / 1e12:.3f} + VAE {counts['VAE decode'] / 1e12:.2f} = {counts['image'] / 1e12:.1f} TFLOP/image "
              f"-> limit {peak_tflops * 1e12 / counts['image']:.2f} images/s at {peak_tflops} TFLOP/s")


# -- timing --------------------------------------------------------------------------------------------------------

def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def free(device: str) -> None:
    """Drop one model's pipeline and compiled graphs before building the next (both at once may not fit)."""
    import gc

    import torch

    torch._dynamo.reset()
    gc.collect()
    reset_peak(device)


def peak_gib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30 if device.startswith("cuda") else None


def prompts(count: int, offset: int = 0) -> list[str]:
    return [f"a product photo of item {offset + i}, studio light, white background" for i in range(count)]


def time_baseline(pipe, model: str, size: int, images: int, device: str) -> dict:
    """Plain diffusers: one image per call, prompt strings in, eager bf16."""
    import torch

    def one(prompt: str, seed: int):
        with torch.inference_mode():
            return pipe(prompt=prompt, height=size, width=size, num_inference_steps=STEPS[model], guidance_scale=GUIDANCE[model],
                        max_sequence_length=TEXT_TOKENS[model], generator=torch.Generator(device).manual_seed(seed),
                        output_type="pil").images[0]

    reset_peak(device)
    start = time.perf_counter()
    first = one(prompts(1)[0], 0)  # warm-up (cuDNN/cuBLAS autotune, allocator), kept to compare pixels
    warmup = time.perf_counter() - start
    synchronize(device)
    start = time.perf_counter()
    for index, prompt in enumerate(prompts(images, 1)):
        one(prompt, index + 1)
    synchronize(device)
    return {"seconds": time.perf_counter() - start, "images": images, "warmup_s": warmup, "peak_gib": peak_gib(device),
            "first_image": first}


def bench_backend(pipes: dict, device: str, small: bool, **options):
    """fluxcat's diffusers backend serving prebuilt pipelines (the same code path as real weights after loading)."""
    from fluxcat.backends.diffusers import DiffusersBackend

    class PrebuiltBackend(DiffusersBackend):
        def __init__(self):
            self.paths = {model: f"random-{'small' if small else 'full'}/{model}" for model in ("schnell", "dev")}
            self.revision = None
            self._configure(device, **options)

        def _load(self, path: str, model: str = "schnell"):
            return pipes[model]

    return PrebuiltBackend()


def time_backend(backend, model: str, size: int, images: int, device: str) -> dict:
    from fluxcat.backends.base import ImageRequest

    def requests(count: int, offset: int):
        return [ImageRequest(f"{model}-{size}-{offset + i}", prompt, model, size, size, STEPS[model], GUIDANCE[model], offset + i)
                for i, prompt in enumerate(prompts(count, offset))]

    bucket = backend.batch_size_for(requests(1, 0)[0])
    images = max(bucket, images // bucket * bucket)  # whole batches: the steady state of a long catalog
    reset_peak(device)
    start = time.perf_counter()
    warm = list(backend.generate(requests(bucket, 0)))  # compiles this bucket's shape
    warmup = time.perf_counter() - start
    failed = [r.error for r in warm if not r.ok]
    if failed:
        raise RuntimeError(f"fast path failed: {failed[0]}")
    synchronize(device)
    start = time.perf_counter()
    results = list(backend.generate(requests(images, 1)))
    synchronize(device)
    seconds = time.perf_counter() - start
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"fast path failed: {failed[0]}")
    first = next(r.image for r in warm if r.key == f"{model}-{size}-0")
    return {"seconds": seconds, "images": images, "warmup_s": warmup, "peak_gib": peak_gib(device), "batch": bucket,
            "first_image": first}


def pixel_difference(a, b) -> float:
    import numpy as np

    return float(np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).mean())


def run(args) -> list[dict]:
    import torch

    warnings.filterwarnings("ignore", message=".*invalid value encountered.*")  # random weights may give NaN pixels
    device = "cpu" if args.small else args.device
    if not args.small and not torch.cuda.is_available():
        sys.exit("no CUDA GPU: run with --small for the CPU harness, or on a GPU box (see this file's docstring)")
    sizes = args.sizes or ([256, 512] if args.small else [1024, 512])
    limits = {}
    if not args.small:
        for model in args.models:
            for size in sizes:
                limits[(model, size)] = args.peak_tflops * 1e12 / measured_flops(model, size, size)["image"]
    rows = []
    encoders = None if args.small else build_encoders(device, torch.bfloat16)
    for model in args.models:
        pipe = build_small_pipeline(model) if args.small else build_pipeline(model, device, torch.bfloat16, encoders)
        images = args.images or (4 if args.small else (8 if model == "schnell" else 4))
        baselines = {}
        for size in sizes:
            baselines[size] = time_baseline(pipe, model, size, images, device)
            rows.append(row("diffusers bf16 eager, batch 1" if not args.small else "diffusers fp32 eager, batch 1",
                            model, size, baselines[size], baselines[size], limits))
        # Eager first: compile changes the shared pipeline in place.
        variants = [("fluxcat eager (prompts encoded ahead, bucket batches)", {"compile": "off"})]
        if args.compile:
            variants.append(("fluxcat fast path (+ regional compile)", {"compile": "on"}))
        if args.fp8:
            variants.append(("fluxcat fast path + fp8", {"compile": "on" if args.compile else "off", "fp8": "on"}))
        for label, options in variants:
            backend = bench_backend({model: pipe}, device, args.small, max_batch=args.max_batch,
                                    compile_backend=args.compile_backend, compile_mode=args.compile_mode,
                                    batch_pixels=args.batch_pixels, **options)
            for size in sizes:
                measured = time_backend(backend, model, size, images, device)
                rows.append(row(label, model, size, measured, baselines[size], limits))
            backend.close()
            del backend
        del pipe
        free(device)
    return rows


def row(label: str, model: str, size: int, measured: dict, baseline: dict, limits: dict) -> dict:
    per_image = measured["seconds"] / measured["images"]
    baseline_per_image = baseline["seconds"] / baseline["images"]
    limit = limits.get((model, size))
    return {"config": label, "model": model, "size": size, "batch": measured.get("batch", 1), "images": measured["images"],
            "s_per_image": per_image, "images_per_s": 1 / per_image, "speedup_vs_baseline": baseline_per_image / per_image,
            "fraction_of_limit": (1 / per_image) / limit if limit else None, "limit_images_per_s": limit,
            "peak_gib": measured["peak_gib"], "warmup_s": measured["warmup_s"],
            "mean_abs_pixel_diff_vs_baseline": pixel_difference(measured["first_image"], baseline["first_image"])}


def print_table(rows: list[dict]) -> None:
    print("| config | model | size | batch | s/image | images/s | vs baseline | of limit | peak GiB | warm-up s | pixel diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        limit = f"{r['fraction_of_limit']:.0%}" if r["fraction_of_limit"] else "n/a"
        peak = f"{r['peak_gib']:.1f}" if r["peak_gib"] is not None else "n/a"
        print(f"| {r['config']} | {r['model']} | {r['size']}² | {r['batch']} | {r['s_per_image']:.3f} | {r['images_per_s']:.2f} | "
              f"{r['speedup_vs_baseline']:.2f}x | {limit} | {peak} | {r['warmup_s']:.1f} | {r['mean_abs_pixel_diff_vs_baseline']:.2f} |")


# -- overlap of image encoding and writes with generation (CPU) ---------------------------------------------------

class TimedBackend:
    """Wraps a backend and records when each of its calls was busy (from the call until its last result)."""

    def __init__(self, backend):
        self.inner, self.busy = backend, []
        self.name, self.max_batch = backend.name, backend.max_batch

    def generate(self, requests):
        start = time.perf_counter()
        yield from self.inner.generate(requests)
        self.busy.append((start, time.perf_counter()))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def overlap_seconds(spans: list[tuple[float, float]], busy: list[tuple[float, float]]) -> float:
    """Seconds of `spans` that fall inside any `busy` interval (busy intervals do not overlap each other)."""
    return sum(max(0.0, min(end, b_end) - max(start, b_start)) for start, end in spans for b_start, b_end in busy)


def measure_overlap(images: int, size: int, threads: int) -> dict:
    """One shard through the real runner (tiny backend, PNG): how much of the encode+write work ran while the
    backend was generating, from timestamps (robust to the noise of a shared machine), plus wall times."""
    import threading

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    import fluxcat.generate as runner
    from fluxcat.backends import get_backend
    from fluxcat.pipeline import RunOptions, open_run, plan

    torch.set_num_threads(threads)
    spans, lock = [], threading.Lock()
    store_result = runner._Maker._store

    def timed_store_result(*args, **kwargs):
        start = time.perf_counter()
        try:
            return store_result(*args, **kwargs)
        finally:
            with lock:
                spans.append((start, time.perf_counter()))

    with tempfile.TemporaryDirectory() as root:
        catalog = os.path.join(root, "catalog.parquet")
        pq.write_table(pa.Table.from_pylist([{"prompt": f"a ceramic mug, pattern {i}", "model": "schnell", "width": size,
                                              "height": size, "seed": i} for i in range(images)]), catalog)
        options = RunOptions(catalog=catalog, output=os.path.join(root, "out"), backend="tiny", dedupe="off", shard_size=images)
        backend = TimedBackend(get_backend("tiny"))
        backend.inner.pipeline("schnell")  # load outside the timings
        runner._Maker._store = timed_store_result
        try:
            with open_run(options, backend=backend) as run:
                shard = plan(run).shards[0].name
                start = time.perf_counter()
                outcome = runner.run_shard(run, shard, runner.ShardSettings(qa=None))
                shard_s = time.perf_counter() - start
        finally:
            runner._Maker._store = store_result
    assert outcome.statuses.get("generated") == images, outcome.statuses
    io_s = sum(end - begin for begin, end in spans)
    generate_s = sum(end - begin for begin, end in backend.busy)
    hidden = overlap_seconds(spans, backend.busy)
    return {"images": images, "size": size, "torch_threads": threads, "backend_calls": len(backend.busy),
            "shard_wall_s": round(shard_s, 2), "backend_busy_s": round(generate_s, 2), "encode_write_s": round(io_s, 2),
            "encode_write_during_generation_s": round(hidden, 2), "io_hidden_fraction": round(hidden / io_s, 3) if io_s else None,
            "io_after_generation_s": round(max(end for _, end in spans) - max(end for _, end in backend.busy), 2)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="CPU, small random config (runs anywhere)")
    parser.add_argument("--flops", action="store_true", help="print the FLOP count and the limit, then exit")
    parser.add_argument("--overlap", action="store_true", help="measure I/O overlap in the shard runner (CPU, tiny)")
    parser.add_argument("--fp8", action="store_true", help="also time the FP8 fast path (needs torchao, CUDA >= 8.9)")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="fast path without torch.compile")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--compile-mode", default=None, help="e.g. max-autotune-no-cudagraphs")
    parser.add_argument("--models", nargs="+", default=["schnell", "dev"], choices=["schnell", "dev"])
    parser.add_argument("--sizes", nargs="+", type=int, default=None)
    parser.add_argument("--images", type=int, default=None, help="timed images per configuration")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--batch-pixels", default="auto")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS)
    parser.add_argument("--threads", type=int, default=1, help="--overlap: torch threads (leave cores for I/O)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    print(f"# {' '.join(['python', 'benchmarks/gpu.py'] + (argv if argv is not None else sys.argv[1:]))}")
    print(f"# machine: {machine()}")
    if args.flops:
        print_flops(args.peak_tflops)
        return
    if args.overlap:
        result = measure_overlap(args.images or 24, (args.sizes or [512])[0], args.threads)
        print(json.dumps(result, indent=1))
        return
    rows = run(args)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


def machine() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU (torch {torch.__version__})"


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
