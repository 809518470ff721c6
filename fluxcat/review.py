"""A person's review of a run's images: which rows to show, and each decision recorded in the shard parts (so the
manifest, and every later run's manifest, keeps it): `qa_status` becomes approved or rejected, and `qa_details`
keeps the decision, its reason and who made it; a regenerated image is made again through generation."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import pyarrow as pa

from fluxcat.generate import ShardSettings, remake
from fluxcat.layout import PARTS_DIR
from fluxcat.limits import SEED_RANGE
from fluxcat.report import qa_reason, thumbnail_uri
from fluxcat.schema import WITH_IMAGE
from fluxcat.store import Store

if TYPE_CHECKING:
    from fluxcat.runtime import RunContext

MODES = ("off", "flagged", "all")
DECISIONS = ("approve", "reject", "regenerate")
VERDICT = {"approve": "approved", "reject": "rejected"}  # the row's qa_status after a person's decision
MAX_ROWS = 50  # a form a person can get through; `all` beyond this shows the first rows, flagged first

logger = logging.getLogger(__name__)


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
    if len(rows) > limit:
        logger.warning("review: %d more images were not offered for review (a form holds at most %d, flagged first, "
                       "then in catalog order); they stay as QA left them", len(rows) - limit, limit)
    for row in rows[:limit]:
        row["field"] = f"row_{row['row_number']}_{row['image_index'] or 0}"
        row["thumbnail"] = thumbnail_uri(store, row["image_uri"])
        row["qa_note"] = qa_reason(row)
    return rows[:limit]


def record_decisions(run: "RunContext", rows: list[dict], decisions: dict[str, Decision], reviewer: str) -> dict[str, int]:
    """Carry out each decision in the rows' shard parts: approve and reject set `qa_status`; regenerate makes the
    image again from the new seed (or the row's next one) through generation, QA included, under the same key.
    Every decision is kept in `qa_details`. Returns how many of each were carried out."""
    counts = {decision: 0 for decision in DECISIONS}
    by_shard: dict[str, dict[tuple, Decision]] = {}
    for row in rows:
        decision = decisions.get(row["field"])
        if decision is not None:
            by_shard.setdefault(row["shard"], {})[(row["row_number"], row["image_index"])] = decision
            counts[decision.decision] += 1
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for shard, chosen in by_shard.items():
        path = f"{PARTS_DIR}/{shard}.parquet"
        part = run.store.read_table(path)
        rows_of_part = part.to_pylist()
        decided = [(row, chosen[(row["row_number"], row["image_index"])]) for row in rows_of_part
                   if (row["row_number"], row["image_index"]) in chosen]
        again = [row for row, decision in decided if decision.decision == "regenerate"]
        for row, decision in decided:
            if decision.decision == "regenerate":
                row["seed"] = decision.seed if decision.seed is not None else next_seed(row)
        if again:
            remake(run, again, ShardSettings.of(run.options))
        for row, decision in decided:
            row["qa_status"] = VERDICT.get(decision.decision, row.get("qa_status"))  # regenerated: QA's new verdict
            row["qa_details"] = with_review(row.get("qa_details"), decision, reviewer, at, row["seed"])
        run.store.write_table(path, pa.Table.from_pylist(rows_of_part, schema=part.schema))
    return counts


def next_seed(row: dict) -> int:
    """The seed after the ones this row's images use (a row of n images uses seed..seed+n-1)."""
    return (row["seed"] + (row.get("num_images") or 1)) % (SEED_RANGE[1] + 1)


def with_review(qa_details: str | None, decision: Decision, reviewer: str, at: str, seed: int) -> str:
    """QA's details with the person's decision added under `review` (what QA found stays beside it)."""
    details = json.loads(qa_details or "{}")
    details["review"] = {"decision": decision.decision, "reason": decision.reason, "by": reviewer, "at": at,
                         **({"seed": seed} if decision.decision == "regenerate" else {})}
    return json.dumps(details, sort_keys=True)
