"""Catalog-level planning: plan every row, dedupe across rows, and cut the work into shards in the store."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterator

import pyarrow as pa

from fluxcat.catalog import CatalogInfo, inspect_catalog, iter_rows
from fluxcat.dedupe import EXACT_REASON, DedupeEntry, ExactDeduper, Match, dedupe, exact_key
from fluxcat.errors import RowRejected
from fluxcat.layout import PLAN_DIR
from fluxcat.limits import REFERENCE_MODELS
from fluxcat.outputs import PACKSHOT, OutputOptions, OutputPlan, expand_outputs
from fluxcat.plan import PlannedRow, content_key, plan_row
from fluxcat.safety import DEFAULT_FILTER, SafetyFilter
from fluxcat.schema import MANIFEST_COLUMN_NAMES, PLAN_FIELDS
from fluxcat.settings import DEFAULT_SHARD_SIZE
from fluxcat.store import Store, image_relpath

if TYPE_CHECKING:
    from fluxcat.backends.capabilities import Capabilities

# A row check returns a rejection reason or None; hosted backends add their extra prompt-safety checks here.
RowCheck = Callable[[PlannedRow], "str | None"]


@dataclass
class PlanSettings:
    """Everything planning depends on besides the catalog itself."""

    model_id: Callable[[str], str]
    cost_per_image: Callable[[dict], float] = lambda row: 0.0
    dedupe: str = "exact"
    dedupe_options: dict = field(default_factory=dict)
    shard_size: int = DEFAULT_SHARD_SIZE
    limit: int | None = None
    image_format: str = "png"
    row_checks: list[RowCheck] = field(default_factory=list)
    safety: SafetyFilter = DEFAULT_FILTER  # blocked terms (and personal information) refused for every backend
    capabilities: "Capabilities | None" = None  # what the backend can make: rows are fitted to it
    storage_options: dict | None = None
    outputs: OutputOptions = field(default_factory=OutputOptions)  # reference images and channels (the run's reader)


@dataclass
class ShardInfo:
    name: str
    model: str | None
    rows: int
    images: int
    first_row: int
    est_cost_usd: float = 0.0  # its images' worst-case price: a cluster run's share of the budget follows it


@dataclass
class PlanReport:
    """What a run would do: shards to execute, counts, duplicate groups and the estimated cost."""

    catalog: CatalogInfo
    shards: list[ShardInfo] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    models: Counter = field(default_factory=Counter)
    sizes: Counter = field(default_factory=Counter)
    images_to_generate: int = 0
    estimated_cost_usd: float = 0.0
    duplicates: list[Match] = field(default_factory=list)
    kept_apart: list = field(default_factory=list)  # semantic dedupe's closest pairs not merged, with the reason

    def to_dict(self) -> dict:
        return {
            "catalog": self.catalog.url, "catalog_rows": self.catalog.num_rows,
            "images_to_generate": self.images_to_generate, "estimated_cost_usd": round(self.estimated_cost_usd, 6),
            "statuses": dict(self.statuses), "models": dict(self.models), "sizes": dict(self.sizes),
            "shards": [vars(s) for s in self.shards],
            "duplicates": [vars(m) for m in self.duplicates],
            "kept_apart": [vars(k) for k in self.kept_apart],
        }


def plan_catalog(catalog_url: str, store: Store, settings: PlanSettings) -> PlanReport:
    """Plan every row and write shards, streaming: one pass for exact dedupe (matched online), two for
    semantic (the first gathers the compact entries it compares)."""
    info = inspect_catalog(catalog_url, settings.storage_options)
    store.sweep_temp()  # temp files left by a writer killed mid-write (live writers' are kept)
    matches, report = None, PlanReport(catalog=info)
    if settings.dedupe == "semantic":
        entries = (DedupeEntry(p.row_number, p.prompt, p.params)
                   for p, _ in _identified_rows(catalog_url, settings) if p.rejected is None)
        result = dedupe(entries, "semantic", store=store, **settings.dedupe_options)
        matches, report.kept_apart = result.matches, result.kept_apart
    renames = info.passthrough_names(MANIFEST_COLUMN_NAMES)
    writer = _ShardWriter(store, settings.shard_size, _renamed_fields(info, renames), report)
    for row in _planned_rows(catalog_url, settings, matches, store, report, renames):
        writer.add(row)
    writer.flush_all()
    report.shards.sort(key=lambda s: s.first_row)
    return report


def _renamed_fields(info: CatalogInfo, renames: dict[str, str]) -> list[pa.Field]:
    return [field.with_name(renames[field.name]) for field in info.passthrough]


def _checked_rows(catalog_url: str, settings: PlanSettings) -> Iterator[tuple[PlannedRow, dict]]:
    for row_number, raw in iter_rows(catalog_url, settings.storage_options, settings.limit):
        planned = plan_row(raw, row_number, settings.capabilities, settings.safety, settings.outputs)
        for check in settings.row_checks:
            if planned.rejected is None:
                planned.rejected = check(planned)
        if planned.rejected is None:
            try:
                planned.outputs = expand_outputs(planned, raw, settings.outputs, settings.capabilities)
            except RowRejected as error:
                planned.rejected = str(error)
        yield planned, raw


def _identified_rows(catalog_url: str, settings: PlanSettings) -> Iterator[tuple[PlannedRow, dict]]:
    """Checked rows with unique ids: a reused explicit id is rejected, a repeated derived id renamed."""
    first_row_of_id: dict[str, int] = {}
    for planned, raw in _checked_rows(catalog_url, settings):
        first = first_row_of_id.setdefault(planned.id, planned.row_number)
        if first != planned.row_number and planned.rejected is None:
            planned.rejected = _id_reused(planned, first, raw)
        yield planned, raw


def _planned_rows(catalog_url: str, settings: PlanSettings, matches: dict[int, Match] | None,
                  store: Store, report: PlanReport, renames: dict[str, str]) -> Iterator[dict]:
    canonical_rows = {m.canonical for m in matches.values()} if matches else set()
    # Only what a later duplicate needs of its canonical row: (row, id, prompt, image keys).
    canonicals: dict[object, tuple[int, str, str, list[str]]] = {}
    exact = ExactDeduper()
    for planned, raw in _identified_rows(catalog_url, settings):
        passthrough = {name: raw[column] for column, name in renames.items()}
        if planned.rejected is not None:
            yield {**passthrough, **_base(planned), "status": "rejected", "reason": planned.rejected,
                   "num_images": None}
            continue
        images = _image_rows(planned, settings, store)
        mine = (planned.row_number, planned.id, planned.prompt, [image["key"] for image in images])
        if matches is not None:
            match = matches.get(planned.row_number)
            if planned.row_number in canonical_rows:
                canonicals[planned.row_number] = mine
            canonical = canonicals[match.canonical] if match else None
        else:
            match, canonical = _exact_match(planned, mine, exact, settings.dedupe == "exact")
        if match is None:
            yield from ({**passthrough, **image} for image in images)
            continue
        report.duplicates.append(replace(match, prompt=planned.prompt, canonical_prompt=canonical[2]))
        for image, key in zip(images, canonical[3]):
            yield {**passthrough, **image, "status": "duplicate", "reason": match.reason, "duplicate_of": canonical[1],
                   "similarity": match.similarity, "key": key,
                   "image_uri": store.uri(image_relpath(key, image["image_format"])), "est_cost_usd": 0.0}


def _exact_match(planned: PlannedRow, mine: tuple, exact: ExactDeduper, enabled: bool) -> tuple[Match | None, tuple | None]:
    """Online exact dedupe: the first row with these parameters and this normalised prompt is canonical."""
    canonical = exact.seen(exact_key(planned.params, planned.normalised), mine) if enabled else None
    if canonical is None:
        return None, None
    return Match(planned.row_number, canonical[0], 1.0, EXACT_REASON), canonical


def _id_reused(planned: PlannedRow, first_row: int, raw: dict) -> str | None:
    if raw.get("id") is None:
        # A derived id repeats only when the prompt does: keep the row, make its id unique.
        planned.id = f"{planned.id}-{planned.row_number}"
        return None
    return f"id {planned.id!r} is already used by row {first_row}: ids must be unique within a catalog"


def _base(planned: PlannedRow, output: OutputPlan | None = None) -> dict:
    corrections = planned.corrections + (output.corrections if output else [])
    return {"row_number": planned.row_number, "id": planned.id, "prompt": planned.prompt,
            "corrections": "; ".join(corrections) or None}


def _image_rows(planned: PlannedRow, settings: PlanSettings, store: Store) -> list[dict]:
    """One plan row per image of each output: a row's image_index counts through its outputs (channel by channel),
    so (row_number, image_index) names one image, as it always has."""
    return [_image_row(planned, output, number * planned.num_images + index, seed, settings, store)
            for number, output in enumerate(planned.outputs) for index, seed in enumerate(planned.image_seeds())]


def _image_row(planned: PlannedRow, output: OutputPlan, index: int, seed: int, settings: PlanSettings,
               store: Store) -> dict:
    # A packshot is fluxcat's own composition: the same pixels whichever backend the run uses.
    model_id = REFERENCE_MODELS[PACKSHOT].hub_id if output.model == PACKSHOT else settings.model_id(output.model)
    key = content_key(model_id, planned.prompt, output.width, output.height, output.steps, output.guidance, seed, index,
                      output.key_extra(planned.reference))
    columns = output.columns(planned.reference, settings.image_format)
    row = {**_base(planned, output), "status": "planned", "model": output.model, "width": output.width,
           "height": output.height, "steps": output.steps, "guidance": output.guidance, "seed": seed,
           "seed_group": planned.seed_group,
           "image_index": index, "num_images": planned.num_images, "key": key,
           "image_uri": store.uri(image_relpath(key, columns["image_format"])), **columns}
    row["est_cost_usd"] = settings.cost_per_image(row)
    return row


class _ShardWriter:
    """Buffers rows per model (rejected and duplicate rows on their own) and writes full shards."""

    def __init__(self, store: Store, shard_size: int, passthrough: list[pa.Field], report: PlanReport):
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, got {shard_size}")
        self.store, self.shard_size, self.report = store, shard_size, report
        self.schema = pa.schema(PLAN_FIELDS + passthrough)
        self.buffers: dict[str | None, list[dict]] = {}

    def add(self, row: dict) -> None:
        report = self.report
        report.statuses[row["status"]] += 1
        if row["status"] == "planned":
            report.images_to_generate += 1
            report.estimated_cost_usd += row["est_cost_usd"] or 0.0
            report.models[row["model"]] += 1
            report.sizes[f"{row['width']}x{row['height']}"] += 1
        model = row["model"] if row["status"] == "planned" else None
        buffer = self.buffers.setdefault(model, [])
        buffer.append(row)
        if len(buffer) >= self.shard_size:
            self.flush(model)

    def flush(self, model: str | None, allow_empty: bool = False) -> None:
        rows = self.buffers.pop(model, [])
        if not rows and not allow_empty:
            return
        table = pa.Table.from_pylist(rows, schema=self.schema)
        name = shard_name(table)
        self.store.write_table(f"{PLAN_DIR}/{name}.parquet", table)
        planned = [r for r in rows if r["status"] == "planned"]
        self.report.shards.append(ShardInfo(name, model, len(rows), len(planned), rows[0]["row_number"] if rows else 0,
                                            sum(r["est_cost_usd"] or 0.0 for r in planned)))

    def flush_all(self) -> None:
        for model in list(self.buffers):
            self.flush(model)
        if not self.report.shards:  # an empty catalog still gets a (empty) manifest with its columns
            self.flush(None, allow_empty=True)


def shard_name(table: pa.Table) -> str:
    """Named by content: an identical plan maps to the same shards, so finished ones are found again."""
    digest = hashlib.sha256(str(table.schema).encode())
    digest.update(json.dumps(table.to_pylist(), default=str).encode())
    return digest.hexdigest()[:24]
