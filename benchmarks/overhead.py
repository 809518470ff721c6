"""Pipeline overhead: the whole flow on N rows with an instant backend vs a bare loop writing the same files (the
fixed backend's gradient image, encoded the same way), with image QA off and on."""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import statistics
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
    from fluxcat.backends.fixed import gradient
    from fluxcat.generate import ENCODE_OPTIONS

    image = None
    count = 0
    for batch in pq.ParquetFile(catalog).iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            if image is None or image.size != (row["width"], row["height"]):  # the fixed backend's very image
                image = gradient(row["width"], row["height"])
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", **ENCODE_OPTIONS["png"])
            key = hashlib.sha256(row["prompt"].encode()).hexdigest()[:32]
            directory = os.path.join(output, "images", key[:2])
            os.makedirs(directory, exist_ok=True)
            temp = os.path.join(directory, f"{key}.png.tmp")
            with open(temp, "wb") as handle:
                handle.write(buffer.getvalue())
            os.replace(temp, os.path.join(directory, f"{key}.png"))
            count += 1
    return count


def pipeline(catalog: str, output: str, shard_size: int, qa: bool = True) -> dict:
    from flows.catalog import generate_catalog

    return generate_catalog(catalog=catalog, output=output, backend="fixed", dedupe="exact",
                            images={"shard_size": shard_size, "qa": qa})


def core_only(catalog: str, output: str, shard_size: int, qa: bool = True) -> None:
    """The same stages without Prefect: plan, every shard in turn, finish."""
    from fluxcat.pipeline import RunOptions, finish, open_run, plan, run_one_shard

    options = RunOptions(catalog=catalog, output=output, backend="fixed", dedupe="exact", shard_size=shard_size,
                         qa=qa)
    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
        for shard in shards:
            run_one_shard(run, shard)
    finish(options, shards, set())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fluxcat-overhead-")
    times: dict[str, list[float]] = {"bare": [], "core": [], "core-qa": [], "flow": [], "flow-qa": [], "rerun": []}
    try:
        catalog = os.path.join(work, "catalog.parquet")
        make_catalog(catalog, args.rows, args.size)
        start = time.perf_counter()
        make_catalog(os.path.join(work, "one.parquet"), 1, args.size)
        pipeline(os.path.join(work, "one.parquet"), os.path.join(work, "warm"), args.shard_size)
        warm_up = time.perf_counter() - start  # imports + Prefect's ephemeral server: paid once per process
        for round_number in range(args.repeat):
            out = os.path.join(work, f"round-{round_number}")
            times["bare"].append(_timed(bare_loop, catalog, os.path.join(out, "bare")))
            times["core"].append(_timed(core_only, catalog, os.path.join(out, "core"), args.shard_size, False))
            times["core-qa"].append(_timed(core_only, catalog, os.path.join(out, "core-qa"), args.shard_size, True))
            result = {}
            times["flow"].append(_timed(lambda: result.update(
                pipeline(catalog, os.path.join(out, "flow"), args.shard_size, False))))
            assert result["statuses"].get("generated") == args.rows, result["statuses"]
            result = {}
            times["flow-qa"].append(_timed(lambda: result.update(
                pipeline(catalog, os.path.join(out, "flow-qa"), args.shard_size, True))))
            assert result["statuses"].get("generated") == args.rows and result["qa"] == {"passed": args.rows}, result
            rerun = {}
            times["rerun"].append(_timed(lambda: rerun.update(
                pipeline(catalog, os.path.join(out, "flow-qa"), args.shard_size, True))))
            assert rerun["statuses"].get("existing") == args.rows, rerun["statuses"]
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bare = statistics.median(times["bare"])
    print(f"rows={args.rows} size={args.size}x{args.size} shard_size={args.shard_size} rounds={args.repeat} (medians)")
    print(f"{'variant':<34}{'seconds':>10}{'ms/image':>10}{'ratio':>8}   all rounds (s)")
    for name, label in (("bare", "bare loop (read, encode, write)"), ("core", "fluxcat core, no Prefect, QA off"),
                        ("core-qa", "fluxcat core, no Prefect, QA on"), ("flow", "fluxcat flow, QA off"),
                        ("flow-qa", "fluxcat flow, QA on"), ("rerun", "fluxcat flow rerun (all done)")):
        seconds = statistics.median(times[name])
        rounds = " ".join(f"{t:.2f}" for t in times[name])
        print(f"{label:<34}{seconds:>10.2f}{1000 * seconds / args.rows:>10.3f}{seconds / bare:>8.2f}   {rounds}")
    print(f"once per process, not per image: imports + Prefect ephemeral server + a 1-row flow = {warm_up:.2f}s")


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
