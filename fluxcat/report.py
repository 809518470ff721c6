"""index.html: a contact sheet of the run (thumbnail, id, prompt, model and reference mode, size and channel, status,
reason), escaped."""

from __future__ import annotations

import html
import json

from fluxcat.layout import INDEX, MANIFEST, PLAN_DIR
from fluxcat.manifest import RunSummary
from fluxcat.parquet_read import open_parquet, parquet_batches
from fluxcat.schema import SHOWS_IMAGE, WITH_IMAGE
from fluxcat.store import Store

MAX_ROWS = 2000  # a contact sheet, not a database: the manifest has every row

_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left;font-size:.9rem}
img{width:128px;height:auto;background:#eee}.generated,.existing{color:#176f2c}.failed,.rejected{color:#b00020}
.duplicate{color:#7a5b00}.reason{color:#555;font-size:.8rem}.qa{font-size:.8rem}.qa.flagged{color:#b00020;font-weight:600}
.qa.retried{color:#7a5b00}.qa.approved{color:#176f2c}.qa.rejected{color:#b00020;font-weight:600}
.output{color:#555;font-size:.8rem}"""


def write_index(store: Store, summary: RunSummary, title: str = "fluxcat run") -> str:
    """Write index.html beside the manifest; image links are relative, so it works from disk or a bucket."""
    rows = _first_rows(store)
    counts = ", ".join(f"{n} {s}" for s, n in summary.statuses.items() if n)
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{_STYLE}</style>",
             f"<h1>{html.escape(title)}</h1><p>{summary.rows} rows: {html.escape(counts)}. "
             f"Manifest: <a href=\"{MANIFEST}\">{MANIFEST}</a>.</p>"]
    if summary.rows > len(rows):
        parts.append(f"<p>Showing the first {len(rows)} rows; the manifest lists all {summary.rows}.</p>")
    flagged = summary.qa.get("flagged", 0)
    if flagged:
        images, come = ("image", "it comes") if flagged == 1 else ("images", "they come")
        parts.append(f"<p class=\"qa flagged\">QA flagged {flagged} {images}: {come} first below.</p>")
    parts.append("<table><tr><th>image</th><th>id</th><th>prompt</th><th>model</th><th>size</th><th>status</th></tr>")
    parts.extend(_row_html(store, row) for row in rows)
    parts.append("</table>")
    store.write_bytes(INDEX, "\n".join(parts).encode())
    return store.uri(INDEX)


def _first_rows(store: Store) -> list[dict]:
    """Rows QA flagged first (they need a person), then the others in catalog order; at most MAX_ROWS."""
    columns = ["row_number", "id", "prompt", "model", "width", "height", "status", "reason", "duplicate_of", "corrections",
               "image_uri", "qa_status", "qa_details", "channel", "reference_mode", "mask_source", "delivered_width",
               "delivered_height"]
    flagged, others = [], []
    with store.fs.open(store.path(MANIFEST), "rb") as handle:
        manifest = open_parquet(handle)
        present = [c for c in columns if c in manifest.schema_arrow.names]  # manifests from before QA lack its columns
        for batch in parquet_batches(manifest, batch_size=MAX_ROWS, columns=present):
            for row in batch.to_pylist():
                kept = flagged if row.get("qa_status") == "flagged" else others
                if len(kept) < MAX_ROWS:
                    kept.append(row)
            if len(flagged) >= MAX_ROWS:
                break
    by_row = lambda r: r["row_number"]  # noqa: E731
    return (sorted(flagged, key=by_row) + sorted(others, key=by_row))[:MAX_ROWS]


def _row_html(store: Store, row: dict) -> str:
    e = lambda value: html.escape("" if value is None else str(value))  # noqa: E731 - prompts are user text
    status = row["status"]
    image = ""
    if status in SHOWS_IMAGE and row["image_uri"]:
        src = store.relpath(row["image_uri"]) or row["image_uri"]
        image = f'<a href="{e(src)}"><img loading="lazy" src="{e(src)}" alt="{e(row["id"])}"></a>'
    note = row["reason"] or ""
    qa = _qa_note(row)
    if status == "duplicate":
        note = f"same image as {row['duplicate_of']} ({note})"
    if row["corrections"]:
        note = f"{note}; corrected: {row['corrections']}" if note else f"corrected: {row['corrections']}"
    return (f"<tr><td>{image}</td><td>{e(row['id'])}</td><td>{e(row['prompt'])}</td><td>{e(row['model'])}{_mode(row)}</td>"
            f"<td>{_size(row)}</td><td class=\"{e(status)}\">{e(status)}<div class=reason>{e(note)}</div>{qa}</td></tr>")


def _mode(row: dict) -> str:
    """Under the model: how the reference was used, and where its mask came from."""
    if not row.get("reference_mode"):
        return ""
    return f'<div class=output>{html.escape(row["reference_mode"])} · mask {html.escape(str(row["mask_source"]))}</div>'


def _size(row: dict) -> str:
    """The stored image's size, its channel, and the size it was made at where it was resized for delivery."""
    if not row["width"]:
        return ""
    made = f"{row['width']}x{row['height']}"
    stored = f"{row['delivered_width']}x{row['delivered_height']}" if row.get("delivered_width") else made
    channel = f'<div class=output>{html.escape(row["channel"])}</div>' if row.get("channel") else ""
    resized = f"<div class=output>made at {made}</div>" if stored != made else ""
    return stored + channel + resized


def _qa_note(row: dict) -> str:
    """The QA verdict under the status: flagged rows say why, retried rows how many attempts it took, reviewed rows
    what the person decided and why."""
    status = row.get("qa_status")
    if status in (None, "skipped", "passed"):
        return ""
    details = json.loads(row["qa_details"] or "{}")
    review = details.get("review") or {}
    if status in ("approved", "rejected"):
        text = f"{status} by {review.get('by', 'a reviewer')}" + (f": {review['reason']}" if review.get("reason") else "")
        return f'<div class="qa {html.escape(status)}">{html.escape(text)}</div>'
    text = details.get("reason") or f"kept attempt {details.get('kept')} of {len(details.get('attempts', []))}"
    return f'<div class="qa {html.escape(status)}">QA {html.escape(status)}: {html.escape(text)}</div>'


THUMBNAIL_PIXELS = 128  # longest side of a gallery thumbnail: about 3-6 KB each as JPEG


def gallery_rows(store: Store, count: int) -> list[dict]:
    """Up to `count` rows with an image, those QA flagged first (they need a person), each with `thumbnail`: the image
    as a data: URI a browser shows wherever the output lives (a worker's disk, a private bucket)."""
    columns = ["row_number", "id", "prompt", "status", "image_uri", "qa_status", "qa_details"]
    flagged, others = [], []
    with store.fs.open(store.path(MANIFEST), "rb") as handle:
        manifest = open_parquet(handle)
        present = [c for c in columns if c in manifest.schema_arrow.names]
        for batch in parquet_batches(manifest, batch_size=4096, columns=present):
            for row in batch.to_pylist():
                if row["status"] in WITH_IMAGE and row["image_uri"]:
                    (flagged if row.get("qa_status") == "flagged" else others).append(row)
            if len(flagged) >= count:
                break
    rows = (flagged + others)[:count]
    for row in rows:
        row["thumbnail"] = thumbnail_uri(store, row["image_uri"])
        row["qa_note"] = qa_reason(row)
    return rows


def thumbnail_uri(store: Store, image_uri: str, pixels: int = THUMBNAIL_PIXELS) -> str | None:
    """A small JPEG of a stored image as a data: URI; None when the image cannot be read."""
    import base64
    import io

    from PIL import Image

    relpath = store.relpath(image_uri)
    try:
        with Image.open(io.BytesIO(store.read_bytes(relpath or image_uri))) as image:
            image.thumbnail((pixels, pixels))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):  # missing or unreadable: the gallery says so instead of failing the run
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def qa_reason(row: dict) -> str:
    """Why QA flagged a row (empty for rows it did not flag)."""
    if row.get("qa_status") != "flagged":
        return ""
    return json.loads(row.get("qa_details") or "{}").get("reason") or "flagged"


def rejected_rows(store: Store, shards: list[str], prompt_chars: int = 200) -> list[dict]:
    """Every row the plan rejected, in catalog order, with its reason (prompts cut to `prompt_chars`)."""
    rows = []
    for shard in shards:
        table = store.read_table(f"{PLAN_DIR}/{shard}.parquet").select(["row_number", "id", "prompt", "status", "reason"])
        rows += [{"row_number": r["row_number"], "id": r["id"], "prompt": _cut(r["prompt"], prompt_chars),
                  "reason": r["reason"]} for r in table.to_pylist() if r["status"] == "rejected"]
    return sorted(rows, key=lambda r: r["row_number"])


def _cut(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
