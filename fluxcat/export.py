"""Exports of a finished run: a Hugging Face imagefolder or WebDataset shards, streamed from the manifest."""

from __future__ import annotations

import contextlib
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from fluxcat.errors import UserError
from fluxcat.layout import MANIFEST
from fluxcat.parquet_read import parquet_batches
from fluxcat.schema import SHOWS_IMAGE as WITH_IMAGE  # a duplicate's image is its canonical row's
from fluxcat.store import Store, writing

EXPORT_FORMATS = ("hf", "webdataset")
HF_METADATA = "metadata.parquet"
BATCH_ROWS = 256  # manifest rows (and images) in memory at a time


@dataclass
class ExportReport:
    format: str
    dest: str
    exported: int = 0
    without_image: dict[str, int] = field(default_factory=dict)  # status -> rows left out; "missing": file gone
    missing: list[str] = field(default_factory=list)  # image URIs the manifest names that the output no longer holds
    files: list[str] = field(default_factory=list)


def export(output: str, fmt: str, dest: str | None = None, storage_options: dict | None = None,
           dest_storage_options: dict | None = None, samples_per_shard: int = 1000, io_threads: int = 8) -> ExportReport:
    """Export the run at `output` (default destination: OUTPUT/exports/FORMAT); rows without an image, and images
    the output no longer holds, are counted and left out (`fluxcat run` or `refresh` makes them again)."""
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if samples_per_shard < 1:
        raise UserError(f"samples_per_shard must be at least 1, got {samples_per_shard}")
    source = Store(output, storage_options)
    if not source.exists(MANIFEST):
        raise UserError(f"no {MANIFEST} under {output}: run `fluxcat run` there first")
    target = Store(dest or f"{output.rstrip('/')}/exports/{fmt}",
                   dest_storage_options if dest_storage_options is not None else storage_options)
    report = ExportReport(fmt, target.url)
    with ThreadPoolExecutor(io_threads, thread_name_prefix="fluxcat-export") as pool:
        samples = _samples(source, pool, report)
        if fmt == "hf":
            _write_imagefolder(target, samples, report, pool)
        else:
            _write_webdataset(target, samples, report, samples_per_shard)
    return report


def _samples(source: Store, pool: ThreadPoolExecutor, report: ExportReport) -> Iterator[tuple[dict, str, bytes]]:
    """(manifest row, image file name, image bytes) for every row whose image is there, in manifest order."""
    with source.fs.open(source.path(MANIFEST), "rb") as handle:
        for batch in parquet_batches(handle, batch_size=BATCH_ROWS):
            rows = batch.to_pylist()
            for row in rows:
                if not (row["status"] in WITH_IMAGE and row["image_uri"]):
                    _count(report, row["status"])
            rows = [row for row in rows if row["status"] in WITH_IMAGE and row["image_uri"]]
            for row, data in zip(rows, pool.map(lambda row: _read_image(source, row["image_uri"]), rows)):
                if data is None:
                    _count(report, "missing")
                    report.missing.append(row["image_uri"])
                    continue
                yield row, _sample_name(row), data


def _count(report: ExportReport, what: str) -> None:
    report.without_image[what] = report.without_image.get(what, 0) + 1


def _read_image(source: Store, image_uri: str) -> bytes | None:
    """The image's bytes, or None when the output no longer holds it."""
    try:
        return source.read_bytes(_image_relpath(image_uri))
    except FileNotFoundError:
        return None


def _image_relpath(image_uri: str) -> str:
    """images/<xx>/<key>.<ext>, found from the URI's tail, so an output that was moved still exports."""
    return "images/" + image_uri.rsplit("/images/", 1)[1]


def _sample_name(row: dict) -> str:
    """One name per manifest row and image (ids are user text and never become paths)."""
    extension = row["image_uri"].rsplit(".", 1)[1]
    return f"{row['row_number']:08d}-{row['image_index'] or 0}.{extension}"


def _write_imagefolder(target: Store, samples: Iterator[tuple[dict, str, bytes]], report: ExportReport,
                      pool: ThreadPoolExecutor) -> None:
    """images/<name> plus metadata.parquet (every manifest column and `file_name`), as `datasets` imagefolder reads."""
    writer = None
    with _export_file(target, HF_METADATA) as handle:
        for batch in _batched(samples, BATCH_ROWS):
            list(pool.map(lambda sample: target.write_bytes(f"images/{sample[1]}", sample[2]), batch))
            table = pa.Table.from_pylist([{**row, "file_name": f"images/{name}"} for row, name, _ in batch])
            if writer is None:
                writer = pq.ParquetWriter(handle, table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
            report.exported += len(batch)
        if writer is None:
            raise UserError("nothing to export: no row of the manifest has an image")
        writer.close()
    report.files.append(target.uri(HF_METADATA))


def _write_webdataset(target: Store, samples: Iterator[tuple[dict, str, bytes]], report: ExportReport,
                      samples_per_shard: int) -> None:
    """shard-000000.tar, ...: per sample the image (png/webp/jpg) and the manifest row as json, written as it comes."""
    import webdataset

    for number, shard in enumerate(_runs(samples, samples_per_shard)):
        name = f"shard-{number:06d}.tar"
        with _export_file(target, name) as handle, webdataset.TarWriter(handle) as sink:
            for row, sample_name, data in shard:
                key, extension = sample_name.rsplit(".", 1)
                sink.write({"__key__": key, extension: data,
                            "json": json.dumps(row, default=str, ensure_ascii=False).encode()})
                report.exported += 1
        report.files.append(target.uri(name))
    if not report.files:
        raise UserError("nothing to export: no row of the manifest has an image")


@contextlib.contextmanager
def _export_file(target: Store, name: str) -> Iterator["_Refusals"]:
    """A file of the export, open for writing: a write the filesystem refuses (full, read-only) ends as one line
    naming the file (`writing`), and a file the export did not finish is removed, not left for a loader to read."""
    path = target.path(name)
    with writing(path):
        handle = target.fs.open(path, "wb")
    try:
        yield _Refusals(handle, path)
        with writing(path):
            handle.close()
    except BaseException:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            target.fs.rm(path)
        raise


class _Refusals:
    """An open file whose writes go through `writing`; only its writes: a source image that cannot be read is
    never reported as a destination that cannot be written."""

    def __init__(self, handle, path: str):
        self._handle, self._path = handle, path

    def write(self, data) -> int:
        with writing(self._path):
            return self._handle.write(data)

    def flush(self) -> None:
        with writing(self._path):
            self._handle.flush()

    def __getattr__(self, name: str):  # tell, closed, ...: the file's own
        return getattr(self._handle, name)


def _runs(items: Iterator, size: int) -> Iterator[Iterator]:
    """Consecutive runs of at most `size` items, each consumed lazily (nothing is held)."""
    items = iter(items)
    while True:
        try:
            first = next(items)
        except StopIteration:
            return
        yield itertools.chain([first], itertools.islice(items, size - 1))


def _batched(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
