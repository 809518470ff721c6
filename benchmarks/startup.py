"""Start-up: the README's first command, from launch to the flow's start and to its first shard, and their share of
the whole small run; this tree against a baseline git ref, interleaved, optionally beside CPU-bound processes."""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ["-m", "fluxcat_cli.main", "run", "datasets/sample_catalog.parquet"]
STAMP = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) \| \w+ +\| (.*)$")
MARKS = {"flow": "Beginning flow run", "first shard": " - plan: "}  # the plan line is logged as shards are submitted


def run_once(tree: str, output: str, extra: list[str]) -> dict:
    """One command in `tree`; seconds from launch to each mark and to the end, from Prefect's own log stamps."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}
    env.pop("PREFECT_API_URL", None)
    launched, started = datetime.now(), time.monotonic()
    done = subprocess.run([sys.executable, *COMMAND, "--output", output, *extra], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=1800)
    total = time.monotonic() - started
    if done.returncode != 0:  # what a busy machine does to Prefect's own 20 s start-up limit: recorded, not fatal
        last = [line for line in done.stderr.splitlines() if "Error" in line or "error" in line][-1:]
        return {"total": total, "failed": last[0][:160] if last else f"exit status {done.returncode}"}
    seconds = {"total": total}
    for line in done.stderr.splitlines():
        found = STAMP.match(line)
        for mark, text in MARKS.items():
            if found and text in found.group(2) and mark not in seconds:
                stamp = datetime.combine(launched.date(), datetime.strptime(found.group(1), "%H:%M:%S.%f").time())
                seconds[mark] = (stamp - launched).total_seconds()
    return seconds


def baseline_tree(ref: str, scratch: str) -> str:
    tree = os.path.join(scratch, "baseline")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, ref], check=True, capture_output=True)
    return tree


def burners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default=None, help="git ref to compare with (e.g. the commit before a change)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--load", type=int, default=0, help="CPU-bound processes running beside the command")
    parser.add_argument("extra", nargs="*", help="more fluxcat run options, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"this tree": ROOT}
        if args.baseline:
            trees = {f"baseline {args.baseline}": baseline_tree(args.baseline, scratch), **trees}
        load = burners(args.load)
        results: dict[str, list[dict]] = {name: [] for name in trees}
        try:
            for round_ in range(args.repeat):
                for name, tree in trees.items():
                    results[name].append(run_once(tree, os.path.join(scratch, f"out-{round_}-{len(results[name])}-"
                                                                      f"{abs(hash(name))}"), args.extra))
                    print(name, {k: round(v, 1) if isinstance(v, float) else v for k, v in results[name][-1].items()},
                          flush=True)
        finally:
            for process in load:
                process.kill()
            if args.baseline:
                subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", trees[next(iter(trees))]],
                               capture_output=True)
    print(f"\n{args.load} CPU-bound processes beside; medians of {args.repeat} rounds, seconds from launch\n")
    print("| tree | runs that failed | to flow start | to first shard | whole run | first shard's share |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rounds in results.items():
        done = [r for r in rounds if "failed" not in r]
        failed = f"{len(rounds) - len(done)} of {len(rounds)}"
        if not done:
            print(f"| {name} | {failed} | | | | |")
            continue
        median = {key: statistics.median(r[key] for r in done) for key in ("flow", "first shard", "total")}
        print(f"| {name} | {failed} | {median['flow']:.1f} | {median['first shard']:.1f} | {median['total']:.1f} | "
              f"{median['first shard'] / median['total']:.0%} |")
    for name, rounds in results.items():
        for r in rounds:
            if "failed" in r:
                print(f"{name} failed after {r['total']:.0f} s: {r['failed']}")


if __name__ == "__main__":
    main()
