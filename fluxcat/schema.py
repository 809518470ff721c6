"""The manifest's schema and the status sets: what a plan row and a manifest row hold, and what each status means."""

from __future__ import annotations

import pyarrow as pa

PLANNED = "planned"  # a plan row still to be made; never in a finished manifest
# Every status a manifest row can end with, in the order reports list them.
STATUSES = ("generated", "existing", "duplicate", "rejected", "failed", "skipped")
WITH_IMAGE = ("generated", "existing")  # rows whose image is in the store
SHOWS_IMAGE = WITH_IMAGE + ("duplicate",)  # rows a contact sheet can show (a duplicate points at its canonical image)
QA_STATUSES = ("passed", "retried", "flagged", "skipped")  # what image QA concluded of a row's image
# The reason on a `generated` row whose image an earlier run had recorded but the output no longer held.
REMADE = "remade: the image an earlier run recorded was missing from the output"

# What an output is beyond text to image (docs/reference.md): its sales channel, the product photo it keeps and how,
# and the stored image's size and encoding where a channel asks for its own. Null on text-only outputs' reference
# columns; the stored size and encoding are set on every planned row.
OUTPUT_FIELDS = [
    pa.field("channel", pa.string()),  # the sales channel (fluxcat/data/channels.json, or the user's channels_file)
    pa.field("reference_image", pa.string()),  # the product photo's URL, resolved against the catalog's folder
    pa.field("reference_sha256", pa.string()),  # its bytes' SHA-256: part of the content key
    pa.field("reference_mode", pa.string()),  # background | edit | white
    pa.field("mask_source", pa.string()),  # alpha | flood | segmenter:<module:function>
    pa.field("product_box", pa.list_(pa.int32())),  # x, y, w, h of the product in the stored image's pixels
    pa.field("delivered_width", pa.int32()), pa.field("delivered_height", pa.int32()),  # the stored image's size
    pa.field("image_format", pa.string()),  # the stored image's encoding: the channel's, else the run's
]
# The columns planning writes; catalog columns fluxcat does not read follow them, with their own types.
PLAN_FIELDS = [
    pa.field("row_number", pa.int64()), pa.field("id", pa.string()), pa.field("prompt", pa.string()),
    pa.field("status", pa.string()), pa.field("reason", pa.string()), pa.field("duplicate_of", pa.string()),
    pa.field("similarity", pa.float64()), pa.field("corrections", pa.string()),
    pa.field("model", pa.string()), pa.field("width", pa.int32()), pa.field("height", pa.int32()),
    pa.field("steps", pa.int32()), pa.field("guidance", pa.float64()), pa.field("seed", pa.int64()),
    pa.field("seed_group", pa.string()),  # the `group` whose shared seed the row uses: QA never reseeds it
    pa.field("image_index", pa.int32()), pa.field("num_images", pa.int32()), pa.field("key", pa.string()),
    pa.field("image_uri", pa.string()), *OUTPUT_FIELDS, pa.field("est_cost_usd", pa.float64()),
]
PLAN_COLUMN_NAMES = {f.name for f in PLAN_FIELDS}
# The columns image QA adds to each row (null where no image was made or checked).
QA_FIELDS = [
    pa.field("qa_status", pa.string()), pa.field("qa_score", pa.float64()),
    pa.field("qa_attempts", pa.int32()), pa.field("qa_details", pa.string()),
]
# The columns generation adds to each plan row.
OUTCOME_FIELDS = [
    pa.field("backend", pa.string()), pa.field("sha256", pa.string()), pa.field("bytes", pa.int64()),
    pa.field("seconds", pa.float64()), pa.field("cost_usd", pa.float64()),
    pa.field("created_at", pa.timestamp("us", tz="UTC")), pa.field("details", pa.string()),
    *QA_FIELDS,
]
# Every column fluxcat writes: a catalog column of the same name passes through renamed (catalog_<name>).
MANIFEST_COLUMN_NAMES = frozenset(PLAN_COLUMN_NAMES | {f.name for f in OUTCOME_FIELDS})


def manifest_schema(plan_schema: pa.Schema) -> pa.Schema:
    """The plan's columns plus the outcome columns; passthrough columns keep their catalog types."""
    return pa.schema(list(plan_schema) + [f for f in OUTCOME_FIELDS if f.name not in plan_schema.names])
