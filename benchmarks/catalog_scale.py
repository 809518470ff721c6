"""Planning a large catalog: time and peak memory of `fluxcat plan` work (streamed read, dedupe, shards).

    .venv/bin/python benchmarks/catalog_scale.py --rows 1000000 --dedupe exact
    .venv/bin/python benchmarks/catalog_scale.py --rows 200000 --dedupe semantic --catalog templated --runs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SIZES = ["square", "square_hd", "landscape_4_3", "portrait_4_3"]
COLOURS = ["red", "navy", "black", "white", "olive", "beige", "grey", "pink", "teal", "brown", "cream", "charcoal"]
MATERIALS = ["leather", "cotton", "linen", "wool", "canvas", "steel", "oak", "glass", "ceramic", "bamboo", "suede"]
ITEMS = ["wallet", "backpack", "mug", "lamp", "chair", "t-shirt", "vase", "bottle", "jacket", "teapot", "scarf",
         "sneaker", "tote bag", "kettle", "candle"]


def numbered_prompt(i: int) -> str:
    # every 50th row repeats an earlier prompt, so exact dedupe has work to do
    return f"studio product photo of item {i - 1 if i % 50 == 49 else i}, soft light"


def templated_prompt(i: int) -> str:
    """An e-commerce template; every 50th row rewords the row before it (same product, same shot, other words)."""
    n = i - 1 if i % 50 == 49 else i
    colour, material, item = COLOURS[n % 12], MATERIALS[n // 12 % 11], ITEMS[n // 132 % 15]
    if i % 50 == 49:
        return f"A {colour} {material} {item} against a white background, code {n}, studio photograph"
    return f"studio photo of a {colour} {material} {item}, code {n}, on a white background"


def make_catalog(path: str, rows: int, prompt, chunk: int = 100_000) -> None:
    """Written in chunks, so the benchmark's own catalog never sits whole in memory."""
    schema = pa.schema([("id", pa.string()), ("prompt", pa.string()), ("image_size", pa.string()), ("price", pa.float64())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            numbers = range(start, min(rows, start + chunk))
            writer.write_table(pa.table({
                "id": [f"SKU-{i:08d}" for i in numbers],
                "prompt": [prompt(i) for i in numbers],
                "image_size": [SIZES[i % 4] if i % 50 != 49 else SIZES[(i - 1) % 4] for i in numbers],
                "price": [float(i % 1000) for i in numbers],
            }, schema=schema))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dedupe", default="exact", choices=["off", "exact", "semantic"])
    parser.add_argument("--catalog", default="numbered", choices=["numbered", "templated"])
    parser.add_argument("--runs", type=int, default=1, help="plan again into the same output (a warm embedding cache)")
    args = parser.parse_args()
    from fluxcat.pipeline import RunOptions, open_run, plan

    work = tempfile.mkdtemp(prefix="fluxcat-scale-")
    try:
        catalog = os.path.join(work, "catalog.parquet")
        make_catalog(catalog, args.rows, templated_prompt if args.catalog == "templated" else numbered_prompt)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for run in range(args.runs):
            start = time.perf_counter()
            with open_run(RunOptions(catalog=catalog, output=os.path.join(work, "out"), backend="fixed",
                                     dedupe=args.dedupe)) as context:
                report = plan(context)
            seconds = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"rows={args.rows} catalog={args.catalog} dedupe={args.dedupe} run={run + 1}: {seconds:.1f} s "
                  f"({1e6 * seconds / args.rows:.1f} us/row), {len(report.shards)} shards, "
                  f"{report.images_to_generate} images to make, {report.statuses.get('duplicate', 0)} duplicates, "
                  f"{len(getattr(report, 'kept_apart', []))} near misses; peak RSS so far {peak:.0f} MB (before planning {before:.0f} MB)",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
