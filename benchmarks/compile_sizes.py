"""A catalog of several sizes through the fast path: what compiling costs per size, and the images/s it buys, with
each size compiled on its own (`dynamic=False`) against torch's automatic dynamic (the default: the first size
static, later sizes one shared graph), and eager as the reference. Each mode runs in its own process (dynamo's
caches are per process), on full-size FLUX.1 schnell built with random weights (benchmarks/gpu.py).

    python benchmarks/compile_sizes.py --json compile-sizes.json                 # a CUDA GPU (diffusers carried)
    python benchmarks/compile_sizes.py --small --sizes 256x256 256x384 384x256   # CPU: the tiny model, the harness
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODES = {"eager": {"compile": "off"}, "static": {"compile": "on", "dynamic": False},
         "auto": {"compile": "on", "dynamic": None}, "dynamic": {"compile": "on", "dynamic": True}}


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def build_backend(args, mode: str):
    """fluxcat's diffusers backend on a prebuilt schnell pipeline, its fast path set to `mode`."""
    import dataclasses

    import torch

    import gpu

    if args.small:
        pipe = gpu.build_small_pipeline("schnell")
    else:
        pipe = gpu.build_pipeline("schnell", args.device, torch.bfloat16, gpu.build_encoders(args.device, torch.bfloat16))
    options = dict(MODES[mode])
    dynamic = options.pop("dynamic", None)
    backend = gpu.bench_backend({"schnell": pipe}, args.device, args.small, compile_backend=args.compile_backend,
                                **options)
    backend._fast = dataclasses.replace(backend.fast, dynamic=dynamic)
    return backend


def requests(width: int, height: int, count: int, offset: int) -> list:
    from fluxcat.backends.base import ImageRequest

    import gpu

    return [ImageRequest(f"{width}x{height}-{offset + i}", prompt, "schnell", width, height, gpu.STEPS["schnell"],
                         gpu.GUIDANCE["schnell"], offset + i) for i, prompt in enumerate(gpu.prompts(count, offset))]


def timed_generate(backend, batch: list, device: str) -> float:
    import gpu

    start = time.perf_counter()
    results = list(backend.generate(batch))
    gpu.synchronize(device)
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"generation failed: {failed[0]}")
    return time.perf_counter() - start


def one_mode(args, mode: str) -> dict:
    """Each size in turn: its first batch (compiles, if anything does), then `images` more (the steady state)."""
    import torch._dynamo.utils

    warnings.filterwarnings("ignore", message=".*invalid value encountered.*")  # random weights may give NaN pixels
    start = time.perf_counter()
    backend = build_backend(args, mode)
    built = time.perf_counter() - start
    sizes = []
    for width, height in map(parse_size, args.sizes):
        bucket = backend.batch_size_for(requests(width, height, 1, 0)[0])
        first = timed_generate(backend, requests(width, height, bucket, 0), args.device)
        images = max(bucket, args.images // bucket * bucket)
        steady = timed_generate(backend, requests(width, height, images, bucket), args.device)
        sizes.append({"size": f"{width}x{height}", "batch": bucket, "first_batch_s": round(first, 2),
                      "images": images, "s_per_image": round(steady / images, 4)})
        print(json.dumps({"mode": mode, **sizes[-1]}), file=sys.stderr, flush=True)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    backend.close()
    return {"mode": mode, "build_s": round(built, 1), "catalog_s": round(time.perf_counter() - start - built, 1),
            "graphs": graphs, "sizes": sizes}


def print_table(results: list[dict]) -> None:
    eager = {row["size"]: row["s_per_image"] for result in results if result["mode"] == "eager" for row in result["sizes"]}
    print("| mode | size | batch | first batch s | s/image after | vs eager |")
    print("|---|---|---:|---:|---:|---:|")
    for result in results:
        for row in result["sizes"]:
            ratio = f"{eager[row['size']] / row['s_per_image']:.2f}x" if row["size"] in eager else "-"
            print(f"| {result['mode']} | {row['size']} | {row['batch']} | {row['first_batch_s']} | "
                  f"{row['s_per_image']} | {ratio} |")
    for result in results:
        print(f"{result['mode']}: every size's first batch and {result['sizes'][0]['images']}+ images each in "
              f"{result['catalog_s']} s; {result['graphs']} graphs compiled; pipeline built in {result['build_s']} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1024x1024", "768x1024", "1024x768", "512x512"])
    parser.add_argument("--images", type=int, default=4, help="timed images per size after its first batch")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--small", action="store_true", help="CPU, the tiny model (runs anywhere)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child process of one mode
    args = parser.parse_args(argv)
    if args.small:
        args.device = "cpu"
    if args.one:
        print(json.dumps(one_mode(args, args.one)))
        return
    results = []
    for mode in args.modes:  # a process per mode: dynamo's caches and counters must start empty
        child = [sys.executable, __file__, "--one", mode, "--images", str(args.images), "--device", args.device,
                 "--compile-backend", args.compile_backend, "--sizes", *args.sizes] + (["--small"] if args.small else [])
        cache = tempfile.mkdtemp(prefix=f"inductor-{mode}-")  # cold: no kernels from an earlier mode's compile
        done = subprocess.run(child, stdout=subprocess.PIPE, text=True, env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache})
        if done.returncode != 0:
            sys.exit(f"{mode}: the child process failed (exit {done.returncode})")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print_table(results)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
