"""A person's review of a run's images: which rows to show, and each decision recorded in the shard parts (so the
manifest, and every later run's manifest, keeps it): `qa_status` becomes approved or rejected, and `qa_details`
keeps the decision, its reason and who made it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa

from fluxcat.layout import PARTS_DIR
from fluxcat.report import qa_reason, thumbnail_uri
from fluxcat.schema import WITH_IMAGE
from fluxcat.store import Store

MODES = ("off", "flagged", "all")
DECISIONS = ("approve", "reject", "regenerate")
VERDICT = {"approve": "approved", "reject": "rejected"}  # the row's qa_status after a person's decision
MAX_ROWS = 50  # a form a person can get through; `all` beyond this shows the first rows, flagged first


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str = ""
    seed: int | None = None

    def __post_init__(self):
        if self.decision not in DECISIONS:
            raise ValueError(f"review decision must be one of {', '.join(DECISIONS)}, got {self.decision!r}")


def rows_to_review(store: Store, shards: list[str], mode: str, limit: int = MAX_ROWS) -> list[dict]:
    """The rows a person is asked about: those QA flagged (`flagged`), or every row with an image (`all`), flagged
    first, then in catalog order; one per image, each with its shard, a `field` name and a thumbnail."""
    if mode not in MODES:
        raise ValueError(f"review must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return []
    rows = []
    for shard in shards:
        for row in store.read_table(f"{PARTS_DIR}/{shard}.parquet").to_pylist():
            wanted = row.get("qa_status") == "flagged" or (mode == "all" and row["status"] in WITH_IMAGE)
            if wanted and row["status"] in WITH_IMAGE and row.get("image_uri"):
                rows.append({"shard": shard, **{k: row.get(k) for k in (
                    "row_number", "image_index", "id", "prompt", "seed", "key", "status", "image_uri", "qa_status",
                    "qa_details")}})
    rows.sort(key=lambda r: (r["qa_status"] != "flagged", r["row_number"], r["image_index"] or 0))
    for row in rows[:limit]:
        row["field"] = f"row_{row['row_number']}_{row['image_index'] or 0}"
        row["thumbnail"] = thumbnail_uri(store, row["image_uri"])
        row["qa_note"] = qa_reason(row)
    return rows[:limit]


def record_decisions(store: Store, rows: list[dict], decisions: dict[str, Decision], reviewer: str) -> dict[str, int]:
    """Write approve and reject decisions into the rows' shard parts; returns how many of each were recorded.
    (A `regenerate` decision is made by generation, which records its own outcome.)"""
    counts = {decision: 0 for decision in VERDICT}
    by_shard: dict[str, dict[tuple, Decision]] = {}
    for row in rows:
        decision = decisions.get(row["field"])
        if decision is not None and decision.decision in VERDICT:
            by_shard.setdefault(row["shard"], {})[(row["row_number"], row["image_index"])] = decision
            counts[decision.decision] += 1
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for shard, chosen in by_shard.items():
        path = f"{PARTS_DIR}/{shard}.parquet"
        part = store.read_table(path)
        rows_of_part = part.to_pylist()
        for row in rows_of_part:
            decision = chosen.get((row["row_number"], row["image_index"]))
            if decision is not None:
                row["qa_status"] = VERDICT[decision.decision]
                row["qa_details"] = with_review(row.get("qa_details"), decision, reviewer, at)
        store.write_table(path, pa.Table.from_pylist(rows_of_part, schema=part.schema))
    return counts


def with_review(qa_details: str | None, decision: Decision, reviewer: str, at: str) -> str:
    """QA's details with the person's decision added under `review` (what QA found stays beside it)."""
    details = json.loads(qa_details or "{}")
    details["review"] = {"decision": decision.decision, "reason": decision.reason, "by": reviewer, "at": at,
                         **({"seed": decision.seed} if decision.seed is not None else {})}
    return json.dumps(details, sort_keys=True)
