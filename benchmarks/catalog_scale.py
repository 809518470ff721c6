"""Planning a large catalog: time and peak memory of `fluxcat plan` work (streamed read, exact dedupe, shards)."""

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


def make_catalog(path: str, rows: int, chunk: int = 100_000) -> None:
    """Written in chunks, so the benchmark's own catalog never sits whole in memory."""
    schema = pa.schema([("id", pa.string()), ("prompt", pa.string()), ("image_size", pa.string()), ("price", pa.float64())])
    sizes = ["square", "square_hd", "landscape_4_3", "portrait_4_3"]
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            numbers = range(start, min(rows, start + chunk))
            writer.write_table(pa.table({
                "id": [f"SKU-{i:08d}" for i in numbers],
                # every 50th row repeats an earlier prompt, so exact dedupe has work to do
                "prompt": [f"studio product photo of item {i - 1 if i % 50 == 49 else i}, soft light" for i in numbers],
                "image_size": [sizes[i % 4] if i % 50 != 49 else sizes[(i - 1) % 4] for i in numbers],
                "price": [float(i % 1000) for i in numbers],
            }, schema=schema))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dedupe", default="exact", choices=["off", "exact"])
    args = parser.parse_args()
    from fluxcat.pipeline import RunOptions, plan

    work = tempfile.mkdtemp(prefix="fluxcat-scale-")
    try:
        catalog = os.path.join(work, "catalog.parquet")
        make_catalog(catalog, args.rows)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        report = plan(RunOptions(catalog=catalog, output=os.path.join(work, "out"), backend="fixed", dedupe=args.dedupe))
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"rows={args.rows} dedupe={args.dedupe}: {seconds:.1f} s ({1e6 * seconds / args.rows:.1f} us/row), "
          f"{len(report.shards)} shards, {report.images_to_generate} images to make, "
          f"{report.statuses.get('duplicate', 0)} duplicates; peak RSS {peak:.0f} MB (before planning {before:.0f} MB)")


if __name__ == "__main__":
    main()
