"""index.html: a contact sheet of the run (thumbnail, id, prompt, model, size, status, reason), escaped."""

from __future__ import annotations

import html

import pyarrow.parquet as pq

from fluxcat.manifest import MANIFEST, RunSummary
from fluxcat.store import Store

from fluxcat.layout import INDEX  # noqa: E402,F401
from fluxcat.schema import SHOWS_IMAGE  # noqa: E402
MAX_ROWS = 2000  # a contact sheet, not a database: the manifest has every row

_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left;font-size:.9rem}
img{width:128px;height:auto;background:#eee}.generated,.existing{color:#176f2c}.failed,.rejected{color:#b00020}
.duplicate{color:#7a5b00}.reason{color:#555;font-size:.8rem}"""


def write_index(store: Store, summary: RunSummary, title: str = "fluxcat run") -> str:
    """Write index.html beside the manifest; image links are relative, so it works from disk or a bucket."""
    rows = _first_rows(store)
    counts = ", ".join(f"{n} {s}" for s, n in summary.statuses.items() if n)
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>{_STYLE}</style>",
             f"<h1>{html.escape(title)}</h1><p>{summary.rows} rows: {html.escape(counts)}. "
             f"Manifest: <a href=\"{MANIFEST}\">{MANIFEST}</a>.</p>"]
    if summary.rows > len(rows):
        parts.append(f"<p>Showing the first {len(rows)} rows; the manifest lists all {summary.rows}.</p>")
    parts.append("<table><tr><th>image</th><th>id</th><th>prompt</th><th>model</th><th>size</th><th>status</th></tr>")
    parts.extend(_row_html(store, row) for row in rows)
    parts.append("</table>")
    store.write_bytes(INDEX, "\n".join(parts).encode())
    return store.uri(INDEX)


def _first_rows(store: Store) -> list[dict]:
    columns = ["row_number", "id", "prompt", "model", "width", "height", "status", "reason", "duplicate_of", "corrections", "image_uri"]
    with store.fs.open(store.path(MANIFEST), "rb") as handle:
        rows = []
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=MAX_ROWS, columns=columns):
            rows.extend(batch.to_pylist())
            if len(rows) >= MAX_ROWS:
                break
    return sorted(rows[:MAX_ROWS], key=lambda r: r["row_number"])


def _row_html(store: Store, row: dict) -> str:
    e = lambda value: html.escape("" if value is None else str(value))  # noqa: E731 - prompts are user text
    status = row["status"]
    image = ""
    if status in SHOWS_IMAGE and row["image_uri"]:
        src = store.relpath(row["image_uri"]) or row["image_uri"]
        image = f'<a href="{e(src)}"><img loading="lazy" src="{e(src)}" alt="{e(row["id"])}"></a>'
    note = row["reason"] or ""
    if status == "duplicate":
        note = f"same image as {row['duplicate_of']} ({note})"
    if row["corrections"]:
        note = f"{note}; corrected: {row['corrections']}" if note else f"corrected: {row['corrections']}"
    size = f"{row['width']}x{row['height']}" if row["width"] else ""
    return (f"<tr><td>{image}</td><td>{e(row['id'])}</td><td>{e(row['prompt'])}</td><td>{e(row['model'])}</td>"
            f"<td>{size}</td><td class=\"{e(status)}\">{e(status)}<div class=reason>{e(note)}</div></td></tr>")

