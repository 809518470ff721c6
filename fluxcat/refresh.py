"""Asset refresh: compare the catalog's plan with the latest manifest; regenerate only what is new, changed or missing."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator

import pyarrow as pa

from fluxcat.layout import MANIFEST, PARTS_DIR, PLAN_DIR, REFRESH_DIR
from fluxcat.manifest import RunSummary, latest_manifest, merge_parts
from fluxcat.report import write_index
from fluxcat.schema import OUTCOME_FIELDS, WITH_IMAGE, manifest_schema
from fluxcat.shards import shard_name
from fluxcat.store import ImageIndex, Store

# What happens to each catalog id: the first three are regenerated, the rest are not.
REGENERATE = ("added", "changed", "missing")
ACTIONS = REGENERATE + ("unchanged", "removed", "not_selected")
# Columns a carried-over row keeps from the previous manifest: its outcome, not its catalog columns. Its status is
# the one `run` gives an image it did not make: `existing`.
CARRIED = ("status",) + tuple(f.name for f in OUTCOME_FIELDS) + ("key", "seed", "image_uri")  # QA may change the seed
# Why an id is regenerated or leaves the manifest, as the refresh artifact lists it; at most LISTED ids are named.
WHY = {"added": "new", "missing": "image missing (never made, failed, or deleted)",
       "removed": "removed from the catalog"}
LISTED = 100
SIGNATURE_COLUMNS = ["id", "prompt", "status", "image_index", "key"]


@dataclass
class RefreshPlan:
    """The comparison: an action per catalog id, and the work shards that regenerate what needs it."""

    token: str
    counts: Counter = field(default_factory=Counter)
    work_shards: list[str] = field(default_factory=list)
    images_to_regenerate: int = 0

    def to_dict(self) -> dict:
        return {"token": self.token, "counts": {a: self.counts.get(a, 0) for a in ACTIONS},
                "work_shards": self.work_shards, "images_to_regenerate": self.images_to_regenerate}


@dataclass
class RefreshSummary:
    counts: dict
    run: RunSummary  # the new manifest as a whole
    made: Counter = field(default_factory=Counter)  # outcomes of this refresh's regenerated images only
    pruned_images: int = 0
    changes: list[dict] = field(default_factory=list)  # id, change, outcome: each id regenerated or removed

    def changes_table(self, limit: int = LISTED) -> list[dict]:
        """The ids this refresh regenerated or removed and why, the first `limit` of them, then how many more."""
        rows = self.changes[:limit]
        if len(self.changes) > limit:
            rows = rows + [{"id": f"and {len(self.changes) - limit} more", "change": "", "outcome": ""}]
        return rows or [{"id": "(none)", "change": "no row was new, changed, missing its image or removed",
                         "outcome": ""}]

    def table(self) -> list[dict]:
        rows = [{"what": "catalog rows", "value": action, "count": self.counts.get(action, 0)} for action in ACTIONS]
        rows += [{"what": "images this refresh", "value": status, "count": self.made.get(status, 0)}
                 for status in ("generated", "existing", "failed", "skipped")]
        return rows + [{"what": "images", "value": "pruned", "count": self.pruned_images}]


def prepare_refresh(store: Store, plan_shards: list[str], image_format: str, ids: Iterable[str] | None = None) -> RefreshPlan:
    """Classify every id of the new plan against the latest manifest and write work shards for the ones to regenerate."""
    selected = None if ids is None else {str(i) for i in ids}
    manifest = latest_manifest(store, plan_shards)  # a damaged one is rebuilt first
    old = _signatures(store, manifest, image_format) if manifest is not None else {}
    new = _plan_signatures(store, plan_shards)
    actions = {row_id: _action(row_id, signature, old.get(row_id), selected) for row_id, signature in new.items()}
    for row_id in [i for i in old if i not in new]:  # in the previous manifest's order
        actions[row_id] = "removed" if selected is None or row_id in selected else "not_selected"
    why = [_why(actions[i], new.get(i), old.get(i)) for i in actions]
    refresh = RefreshPlan(token=uuid.uuid4().hex[:16], counts=Counter(actions.values()))
    store.write_table(f"{REFRESH_DIR}/{refresh.token}.parquet",
                      pa.table({"id": list(actions), "action": list(actions.values()), "why": why}))
    for shard in plan_shards:
        plan = store.read_table(f"{PLAN_DIR}/{shard}.parquet")
        mask = pa.array([actions[i] in REGENERATE for i in plan.column("id").to_pylist()], pa.bool_())
        work = plan.filter(mask)
        if work.num_rows:
            name = shard_name(work)
            store.write_table(f"{PLAN_DIR}/{name}.parquet", work)
            store.delete(f"{PARTS_DIR}/{name}.parquet")  # an earlier identical refresh's part must not stand in
            refresh.work_shards.append(name)
            refresh.images_to_regenerate += sum(1 for s in work.column("status").to_pylist() if s == "planned")
    return refresh


def finish_refresh(store: Store, token: str, plan_shards: list[str], work_shards: list[str], prune: bool = False,
                   started: datetime | None = None, title: str = "fluxcat refresh") -> RefreshSummary:
    """Write the new manifest (history copy + latest): regenerated rows from the work parts, unchanged rows with
    their previous outcome, unselected rows as they were; then, only with prune, delete images nothing uses."""
    compared = store.read_table(f"{REFRESH_DIR}/{token}.parquet").to_pydict()
    actions = dict(zip(compared["id"], compared["action"]))
    fresh = {(r["row_number"], r["image_index"]): r
             for s in work_shards for r in store.read_table(f"{PARTS_DIR}/{s}.parquet").to_pylist()}
    old = latest_manifest(store, plan_shards)
    old_rows = _index_rows(old)
    names = []
    for number, table in enumerate(_output_tables(store, actions, plan_shards, fresh, old, old_rows)):
        names.append(f"refresh-{token}-{number:05d}")
        store.write_table(f"{PARTS_DIR}/{names[-1]}.parquet", table)
    run = merge_parts(store, names, set(), started)
    write_index(store, run, title=title)
    pruned = _prune(store, old, names) if prune and old is not None else 0
    for name in names:
        store.delete(f"{PARTS_DIR}/{name}.parquet")
    store.delete(f"{REFRESH_DIR}/{token}.parquet")
    counts = Counter(actions.values())
    made = Counter(row["status"] for row in fresh.values() if row["status"] != "rejected")
    return RefreshSummary({a: counts.get(a, 0) for a in ACTIONS}, run, made, pruned,
                          _changes(compared, fresh.values()))


def _changes(compared: dict[str, list], fresh: Iterable[dict]) -> list[dict]:
    """Each id regenerated or removed, in catalog order (removed ids last): why, and what its images ended as."""
    outcomes: dict[str, list[str]] = {}
    for row in fresh:
        outcomes.setdefault(row["id"], []).append(row["status"])
    return [{"id": i, "change": why, "outcome": ", ".join(sorted(set(outcomes.get(i, [])))) or "left the manifest"}
            for i, action, why in zip(compared["id"], compared["action"], compared["why"])
            if action in REGENERATE or action == "removed"]


def _action(row_id: str, signature: tuple, previous: tuple | None, selected: set[str] | None) -> str:
    if selected is not None and row_id not in selected:
        return "not_selected"
    if previous is None:
        return "added"
    old_signature, complete = previous
    if old_signature != signature:
        return "changed"
    return "unchanged" if complete else "missing"


def _why(action: str, signature: tuple | None, previous: tuple | None) -> str:
    """Why an id is regenerated or removed, in words: for a changed one, which of its inputs changed."""
    if action != "changed":
        return WHY.get(action, "")
    (prompt, rejected, keys), (old_prompt, was_rejected, old_keys) = signature, previous[0]
    said = ["prompt changed"] if prompt != old_prompt else []
    if rejected != was_rejected:
        said.append("now rejected" if rejected else "no longer rejected")
    elif not said and keys != old_keys:
        said.append("settings changed (model, size, steps, guidance, seed or image count)")
    return ", ".join(said)


def _signature(rows: list[dict]) -> tuple:
    """What decides an id's images: its prompt, whether it was rejected, and its content keys (which hash
    the prompt, model, size, steps, guidance, seed and image index)."""
    rejected = any(r["status"] == "rejected" for r in rows)
    return rows[0]["prompt"], rejected, tuple(sorted((r["image_index"] or 0, r["key"] or "") for r in rows))


def _plan_signatures(store: Store, plan_shards: list[str]) -> dict[str, tuple]:
    rows: dict[str, list[dict]] = {}
    for shard in plan_shards:
        for row in store.read_table(f"{PLAN_DIR}/{shard}.parquet").select(SIGNATURE_COLUMNS).to_pylist():
            rows.setdefault(row["id"], []).append(row)
    return {row_id: _signature(group) for row_id, group in rows.items()}


def _signatures(store: Store, manifest: pa.Table, image_format: str) -> dict[str, tuple[tuple, bool]]:
    """id -> (signature, complete): complete when every image it should have is in the store (one listing per
    image prefix, not a request per image)."""
    rows: dict[str, list[dict]] = {}
    for row in _read_with_planned_keys(manifest):
        rows.setdefault(row["id"], []).append(row)
    needed = sorted({(r["key"], r.get("image_format") or image_format) for group in rows.values() for r in group
                     if r["status"] in WITH_IMAGE})  # an output's own format (a channel's), else the run's
    images = ImageIndex(store, image_format)
    with ThreadPoolExecutor(16, thread_name_prefix="fluxcat-refresh") as pool:
        images.prefetch([key for key, _ in needed], pool)
    present = {key: images.present(key, stored_as) for key, stored_as in needed}
    out = {}
    for row_id, group in rows.items():
        # failed, skipped (budget) and never-finished rows have no image: they count as missing
        complete = all(r["status"] in ("duplicate", "rejected") or (r["status"] in WITH_IMAGE and present[r["key"]])
                       for r in group)
        out[row_id] = (_signature([{**r, "key": r["planned_key"]} for r in group]), complete)
    return out


def _read_with_planned_keys(manifest: pa.Table) -> list[dict]:
    """Manifest rows with `planned_key`: the key planning gave. Manifests written before QA kept every image under
    its planned key name a reseeded row's key in `qa_details.planned_key`."""
    rows = manifest.select([c for c in (*SIGNATURE_COLUMNS, "image_format") if c in manifest.schema.names]).to_pylist()
    details = manifest.column("qa_details").to_pylist() if "qa_details" in manifest.schema.names else [None] * len(rows)
    for row, qa in zip(rows, details):
        row["planned_key"] = json.loads(qa).get("planned_key", row["key"]) if qa else row["key"]
    return rows


def _index_rows(old: pa.Table | None) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    if old is not None:
        for position, row_id in enumerate(old.column("id").to_pylist()):
            index.setdefault(row_id, []).append(position)
    return index


def _output_tables(store: Store, actions: dict[str, str], plan_shards: list[str], fresh: dict, old: pa.Table | None,
                   old_rows: dict[str, list[int]]) -> Iterator[pa.Table]:
    """One output table per plan shard, in plan order; unselected ids the catalog dropped come last."""
    schema = None
    emitted: set[str] = set()
    image_position = _image_positions(old)
    for shard in plan_shards:
        plan = store.read_table(f"{PLAN_DIR}/{shard}.parquet")
        schema = schema or manifest_schema(plan.schema)
        rows = plan.to_pylist()
        carried = _carried(old, image_position, [r for r in rows if actions[r["id"]] == "unchanged"])
        out = []
        for row in rows:
            action = actions[row["id"]]
            if action in REGENERATE:
                out.append(fresh[(row["row_number"], row["image_index"])])
            elif action == "unchanged":
                # same images: keep the previous outcome; catalog columns (row number, passthrough) follow the catalog
                out.append(_existing({**row, **carried.get((row["id"], row["image_index"]), {})}))
            elif action == "not_selected" and row["id"] in old_rows and row["id"] not in emitted:
                out += map(_existing, old.take(old_rows[row["id"]]).to_pylist())  # as the previous run left it
                emitted.add(row["id"])
        yield pa.Table.from_pylist(out, schema=schema)  # even empty: an empty catalog still gets a manifest
    left = [row_id for row_id, action in actions.items()
            if action == "not_selected" and row_id in old_rows and row_id not in emitted]
    if left and schema is not None:
        yield pa.Table.from_pylist(list(map(_existing, old.take([p for i in left for p in old_rows[i]]).to_pylist())),
                                   schema=schema)


def _existing(row: dict) -> dict:
    """A row this refresh did not make: an image it has was made before, so it is `existing`, as `run` says."""
    return {**row, "status": "existing"} if row.get("status") in WITH_IMAGE else row


def _image_positions(old: pa.Table | None) -> dict[tuple, int]:
    """(id, image_index) -> row of the previous manifest, for rows with an outcome worth carrying."""
    if old is None:
        return {}
    columns = old.select(["id", "image_index", "status"]).to_pydict()
    return {(i, n): p for p, (i, n, s) in enumerate(zip(*columns.values())) if s != "rejected"}


def _carried(old: pa.Table | None, image_position: dict[tuple, int], rows: list[dict]) -> dict[tuple, dict]:
    """The previous outcome columns of unchanged image rows, read in one take (rejected rows carry nothing)."""
    wanted = [(r["id"], r["image_index"]) for r in rows if (r["id"], r["image_index"]) in image_position]
    if not wanted:
        return {}
    taken = old.take([image_position[w] for w in wanted]).select([c for c in CARRIED if c in old.schema.names]).to_pylist()
    return dict(zip(wanted, taken))


def _prune(store: Store, old: pa.Table, names: list[str]) -> int:
    """Delete images the previous manifest pointed at that the new manifest no longer uses."""
    used = set(store.read_table(MANIFEST).column("key").to_pylist())
    stale = {(k, u) for k, u, s in zip(*old.select(["key", "image_uri", "status"]).to_pydict().values())
             if s in WITH_IMAGE and k not in used}
    deleted = 0
    for key, uri in sorted(stale):
        relpath = _relpath_of(store, uri)
        if relpath and store.exists(relpath):
            store.delete(relpath)
            deleted += 1
    return deleted


def _relpath_of(store: Store, uri: str) -> str | None:
    """The store-relative path of an image URI, or None when it lies outside this output (never deleted)."""
    relpath = store.relpath(uri)
    return relpath if relpath and relpath.startswith("images/") else None
