"""Pipeline overhead: the whole flow on N rows with an instant backend vs a bare loop writing the same files."""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def make_catalog(path: str, rows: int, size: int) -> None:
    pq.write_table(pa.table({
        "id": [f"SKU-{i:07d}" for i in range(rows)],
        "prompt": [f"product photo of item {i}, studio lighting" for i in range(rows)],
        "width": [size] * rows, "height": [size] * rows,
    }), path)


def bare_loop(catalog: str, output: str) -> int:
    """What a hand-written script does: read, make the image, encode, write atomically. No plan, no manifest."""
    from PIL import Image

    image = Image.new("RGB", (1, 1))
    count = 0
    for batch in pq.ParquetFile(catalog).iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            if image.size != (row["width"], row["height"]):  # the same one flat image the fixed backend returns
                image = Image.new("RGB", (row["width"], row["height"]), (200, 120, 40))
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", compress_level=3)
            key = hashlib.sha256(row["prompt"].encode()).hexdigest()[:32]
            directory = os.path.join(output, "images", key[:2])
            os.makedirs(directory, exist_ok=True)
            temp = os.path.join(directory, f"{key}.png.tmp")
            with open(temp, "wb") as handle:
                handle.write(buffer.getvalue())
            os.replace(temp, os.path.join(directory, f"{key}.png"))
            count += 1
    return count


def pipeline(catalog: str, output: str, shard_size: int) -> dict:
    from flows.catalog import generate_catalog

    return generate_catalog(catalog=catalog, output=output, backend="fixed", dedupe="exact", shard_size=shard_size)


def core_only(catalog: str, output: str, shard_size: int) -> None:
    """The same stages without Prefect: plan, every shard in turn, finish."""
    from fluxcat.pipeline import RunOptions, finish, plan, run_one_shard

    options = RunOptions(catalog=catalog, output=output, backend="fixed", dedupe="exact", shard_size=shard_size)
    shards = [shard.name for shard in plan(options).shards]
    for shard in shards:
        run_one_shard(options, shard)
    finish(options, shards, set())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--shard-size", type=int, default=256)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fluxcat-overhead-")
    try:
        catalog = os.path.join(work, "catalog.parquet")
        make_catalog(catalog, args.rows, args.size)
        start = time.perf_counter()
        images = bare_loop(catalog, os.path.join(work, "bare"))
        bare = time.perf_counter() - start

        start = time.perf_counter()
        core_only(catalog, os.path.join(work, "core"), args.shard_size)
        core = time.perf_counter() - start

        start = time.perf_counter()
        make_catalog(os.path.join(work, "one.parquet"), 1, args.size)
        pipeline(os.path.join(work, "one.parquet"), os.path.join(work, "warm"), args.shard_size)
        warm_up = time.perf_counter() - start  # imports + Prefect's ephemeral server: paid once per process

        start = time.perf_counter()
        result = pipeline(catalog, os.path.join(work, "flow"), args.shard_size)
        flow = time.perf_counter() - start
        start = time.perf_counter()
        rerun = pipeline(catalog, os.path.join(work, "flow"), args.shard_size)
        rerun_seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert result["statuses"].get("generated") == images == args.rows, result["statuses"]
    assert rerun["statuses"].get("existing") == args.rows, rerun["statuses"]
    print(f"rows={args.rows} size={args.size}x{args.size} shard_size={args.shard_size}")
    print(f"{'variant':<34}{'seconds':>10}{'ms/image':>10}{'ratio':>8}")
    for name, seconds in (("bare loop (read, encode, write)", bare), ("fluxcat core, no Prefect", core),
                          ("fluxcat flow (fixed backend)", flow), ("fluxcat flow rerun (all done)", rerun_seconds)):
        print(f"{name:<34}{seconds:>10.2f}{1000 * seconds / args.rows:>10.3f}{seconds / bare:>8.2f}")
    print(f"once per process, not per image: imports + Prefect ephemeral server + a 1-row flow = {warm_up:.2f}s")


if __name__ == "__main__":
    main()
