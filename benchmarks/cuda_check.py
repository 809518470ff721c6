"""The real diffusers code path on a GPU: the sample catalog (text rows and the four reference rows: background,
edit, white, a channel pack) through the `tiny` backend's Flux, Fill and Kontext pipelines on the device, QA on;
then the same run again, which must make nothing.

    python benchmarks/cuda_check.py --device cuda --json cuda-check.json     # a GPU box (diffusers wheels carried)
    python benchmarks/cuda_check.py --device cpu                              # anywhere: the same harness on the CPU
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets", "sample_catalog.parquet")


def run_once(options) -> tuple[dict, float]:
    """plan -> every shard -> finish in one run's context (what the flow's tasks call); the summary and seconds."""
    from fluxcat.pipeline import finish, open_run, plan, run_one_shard

    start = time.perf_counter()
    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
        outcomes = [run_one_shard(run, shard) for shard in shards]
    summary = finish(options, shards, {outcome.shard for outcome in outcomes if outcome.reused})
    return summary, time.perf_counter() - start


def manifest_rows(output: str) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(os.path.join(output, "manifest.parquet")).to_pylist()


def describe(rows: list[dict]) -> dict:
    """Counts a reader checks: statuses, QA, per reference mode and channel, and whether every image is there."""
    made = [row for row in rows if row["status"] in ("generated", "existing")]
    return {
        "statuses": dict(collections.Counter(row["status"] for row in rows)),
        "qa": dict(collections.Counter(row.get("qa_status") for row in made)),
        "by_mode": dict(collections.Counter(f"{row.get('reference_mode') or 'text'}/{row.get('channel') or '-'}"
                                            f"/{row['status']}" for row in rows if row.get("reference_image"))),
        "flagged": [(row["id"], (row.get("qa_details") or "")[:160]) for row in made if row.get("qa_status") == "flagged"],
        "missing_files": [row["id"] for row in made if not os.path.exists(row["image_uri"])],
        "sizes": sorted({f"{row['width']}x{row['height']}" for row in made}),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                        help="the fast path's torch.compile: auto = on for CUDA (fluxcat's default)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    import torch

    from fluxcat.pipeline import RunOptions

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    print(f"# {' '.join(['python', 'benchmarks/cuda_check.py'] + (argv or sys.argv[1:]))}")
    print(f"# torch {torch.__version__}, CUDA {torch.version.cuda}, device {gpu or 'cpu only'}")
    backend_options = {"device": args.device, **({} if args.compile == "auto" else {"compile": args.compile == "on"})}
    with tempfile.TemporaryDirectory() as scratch:
        output = os.path.join(scratch, "out")
        options = RunOptions(catalog=SAMPLE, output=output, backend="tiny", backend_options=backend_options,
                             dedupe="exact")
        first, first_s = run_once(options)
        after_first = describe(manifest_rows(output))
        second, second_s = run_once(options)
        after_second = describe(manifest_rows(output))
    result = {"device": args.device, "gpu": gpu, "torch": torch.__version__, "backend_options": backend_options,
              "first_run": {"seconds": round(first_s, 1), "this_run": dict(first.this_run), **after_first},
              "second_run": {"seconds": round(second_s, 1), "this_run": dict(second.this_run),
                             "statuses": after_second["statuses"], "missing_files": after_second["missing_files"]}}
    print(json.dumps(result, indent=1, default=str))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1, default=str)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
