"""docs/reference.md's pictures: the sample catalog's reference rows run with `tiny` (the real diffusers Fill and
Kontext code, random weights: the scenes are noise), the run's own contact sheet (index.html) opened in Chromium,
and one row per mode cropped from its screenshot.

    PYTHONPATH=. .venv/bin/python -m tests.reference_pictures [OUTPUT_FOLDER]"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import ROOT, write_catalog
from tests.packshots import REFERENCE_ROWS, REFERENCES, SAMPLE_CATALOG

DOCS_IMAGES = ROOT / "docs" / "images"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# picture name -> (row id, channel) of the contact sheet row it shows
PICTURES = {"reference-background": ("SKU-1041", None),
            "reference-background-channel": ("SKU-1042", "social-feed-portrait"),
            "reference-edit": ("SKU-1043", None), "reference-white": ("SKU-1044", "marketplace-main")}


def reference_catalog(folder: Path) -> str:
    """The sample catalog's reference rows beside a copy of its references/ (their paths are relative)."""
    shutil.copytree(REFERENCES, folder / "references", dirs_exist_ok=True)
    ids = {row["id"] for row in REFERENCE_ROWS}
    rows = [row for row in pq.read_table(SAMPLE_CATALOG).to_pylist() if row["id"] in ids]
    return write_catalog(folder / "catalog.parquet", rows, pq.read_schema(SAMPLE_CATALOG))


def open_contact_sheet(index: Path):
    """(playwright, browser, page) with the contact sheet loaded from disk, every image awaited."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                         args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(index.resolve().as_uri())
    page.mouse.wheel(0, 100_000)  # the sheet's images load lazily: bring every one into view once
    page.wait_for_function("[...document.images].every(image => image.complete)", timeout=30_000)
    page.mouse.wheel(0, -100_000)
    return playwright, browser, page


def broken_images(page) -> list[str]:
    """The images of the page the browser could not show (not found, refused, undecodable)."""
    return page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")


def take_pictures(output: Path, into: Path = DOCS_IMAGES) -> list[Path]:
    """The full contact sheet and one row per mode, as PNGs under `into`."""
    rows = pq.read_table(output / "manifest.parquet").to_pylist()
    playwright, browser, page = open_contact_sheet(output / "index.html")
    try:
        assert broken_images(page) == [], broken_images(page)
        into.mkdir(parents=True, exist_ok=True)
        shots = [into / "reference-contact-sheet.png"]
        page.screenshot(path=str(shots[0]), full_page=True)
        order = [(row["id"], row["channel"]) for row in _sheet_order(rows)]
        for name, wanted in PICTURES.items():
            shots.append(into / f"{name}.png")
            page.locator("table tr").nth(1 + order.index(wanted)).screenshot(path=str(shots[-1]))
        return shots
    finally:
        browser.close()
        playwright.stop()


def _sheet_order(rows: list[dict]) -> list[dict]:
    """The contact sheet's row order (fluxcat/report.py): flagged first, then catalog order, stable within a row."""
    flagged = [row for row in rows if row["qa_status"] == "flagged"]
    others = [row for row in rows if row["qa_status"] != "flagged"]
    return sorted(flagged, key=lambda r: r["row_number"]) + sorted(others, key=lambda r: r["row_number"])


def main(folder: str = "outputs/reference-pictures") -> None:
    from fluxcat.pipeline import RunOptions
    from tests.pipeline import run_catalog

    work = Path(folder)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    options = RunOptions(catalog=reference_catalog(work), output=str(work / "out"), backend="tiny", dedupe="off",
                         qa_retries=1)
    run_catalog(options)
    for shot in take_pictures(work / "out"):
        print(shot)


if __name__ == "__main__":
    main(*sys.argv[1:])
