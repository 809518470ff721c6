"""The output store: fsspec paths under one root, atomic writes, content-keyed image paths."""

from __future__ import annotations

import io
import os
import uuid
from typing import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from fluxcat.layout import IMAGE_FORMATS, image_path  # noqa: F401  (IMAGE_FORMATS re-exported)


class Store:
    """All of a run's output lives under one fsspec root; paths given to it are relative to that root."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        self.storage_options = storage_options or {}
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        self.root = self.root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            self.fs.makedirs(self.root, exist_ok=True)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def path(self, relpath: str) -> str:
        if relpath.startswith("/") or ".." in relpath.split("/"):
            raise ValueError(f"store paths are relative and stay under the root, got {relpath!r}")
        return f"{self.root}/{relpath}"

    def uri(self, relpath: str) -> str:
        """A full URI a reader can open (file path for local stores)."""
        path = self.path(relpath)
        if self.local:
            return path
        return self.fs.unstrip_protocol(path)

    def relpath(self, uri: str) -> str | None:
        """The root-relative path of a URI (or path) under this store; None when it lies elsewhere."""
        for prefix in (self.uri(""), self.path("")):
            if uri.startswith(prefix):
                return uri[len(prefix):]
        return None

    def exists(self, relpath: str) -> bool:
        return self.fs.exists(self.path(relpath))

    def read_bytes(self, relpath: str) -> bytes:
        return self.fs.cat_file(self.path(relpath))

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write so that no reader ever sees a partial file: temp file + rename locally, one PUT elsewhere."""
        path = self.path(relpath)
        if not self.local:
            self.fs.pipe_file(path, data)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temp = f"{path}.tmp-{uuid.uuid4().hex}"
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)

    def delete(self, relpath: str) -> None:
        if self.exists(relpath):
            self.fs.rm(self.path(relpath))

    def list(self, prefix: str) -> list[str]:
        """Relative paths of the files under a prefix, sorted; temp files of interrupted writes excluded."""
        base = self.path(prefix)
        if not self.fs.exists(base):
            return []
        found = sorted(self.fs.find(base))
        start = len(self.root) + 1
        return [path[start:] for path in (p.rstrip("/") for p in found) if ".tmp-" not in path]

    def write_table(self, relpath: str, table: pa.Table) -> None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.write_bytes(relpath, buffer.getvalue())

    def read_table(self, relpath: str) -> pa.Table:
        with self.fs.open(self.path(relpath), "rb") as handle:
            return pq.read_table(handle)

    def iter_tables(self, prefix: str) -> Iterator[pa.Table]:
        for relpath in self.list(prefix):
            if relpath.endswith(".parquet"):
                yield self.read_table(relpath)


def image_relpath(key: str, image_format: str) -> str:
    """Images are named by content key (hex), so no id or prompt can steer where a file lands."""
    if not all(c in "0123456789abcdef" for c in key) or len(key) < 8:
        raise ValueError(f"content keys are lowercase hex, got {key!r}")
    return image_path(key, image_format)
