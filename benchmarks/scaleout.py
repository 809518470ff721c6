"""Marginal cost of one shard task on each task runner: the flow timed at two shard counts on the instant backend.

    .venv/bin/python benchmarks/scaleout.py --runners threads dask --small 8 --large 64

The difference between the two counts cancels fixed costs (server, cluster start, planning, manifest), so
(t_large - t_small) / (large - small) is the wall time one more shard task adds on that runner.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def timed_run(runner: str, shards: int, workers: int, workdir: str) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flows.catalog import generate_catalog

    catalog = os.path.join(workdir, f"catalog-{shards}.parquet")
    rows = [{"id": f"r{n}", "prompt": f"benchmark product {n}", "width": 64, "height": 64} for n in range(shards)]
    pq.write_table(pa.Table.from_pylist(rows), catalog)
    output = os.path.join(workdir, f"out-{runner}-{shards}")
    started = time.perf_counter()
    result = generate_catalog(catalog=catalog, output=output, backend="fixed", dedupe="off", images={"shard_size": 1},
                              execution={"task_runner": runner, "workers": workers if runner != "threads" else None})
    seconds = time.perf_counter() - started
    assert result["statuses"] == {"generated": shards}, result["statuses"]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", nargs="+", default=["threads", "dask"])
    parser.add_argument("--small", type=int, default=8)
    parser.add_argument("--large", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    results = {}
    with tempfile.TemporaryDirectory() as workdir, prefect_test_harness(server_startup_timeout=120):
        for runner in args.runners:
            small = timed_run(runner, args.small, args.workers, workdir)
            large = timed_run(runner, args.large, args.workers, workdir)
            results[runner] = {"small_s": round(small, 2), "large_s": round(large, 2),
                               "per_task_ms": round(1000 * (large - small) / (args.large - args.small), 1)}
    print(json.dumps({"shards": [args.small, args.large], "workers": args.workers, "results": results}, indent=2))


if __name__ == "__main__":  # Dask's worker processes re-import this module
    main()
