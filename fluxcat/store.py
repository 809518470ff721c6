"""The output store: fsspec paths under one root, atomic writes, content-keyed image paths."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Executor
from typing import Iterable, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from fluxcat.errors import UserError
from fluxcat.layout import TEMP_DIR, image_path
from fluxcat.parquet_read import read_parquet

STALE_TEMP_SECONDS = 3600  # a temp file of another host's writer is left this long before it is swept
# Write failures the user fixes on the output's side, not by retrying: each ends the run with one line.
UNWRITABLE = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
              errno.EROFS: "the filesystem is read-only", errno.EACCES: "permission denied",
              errno.EPERM: "operation not permitted"}
FULL = (errno.ENOSPC, errno.EDQUOT)


class OutputNotWritable(UserError):
    """The output's filesystem refused a write (full, read-only, over quota, no permission)."""


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """Turn a write the filesystem refuses into one line naming the path and the cause (no traceback)."""
    try:
        yield
    except OSError as error:
        if error.errno not in UNWRITABLE:
            raise
        fix = "free some space" if error.errno in FULL else "make it writable or choose another output"
        raise OutputNotWritable(f"cannot write {path}: {UNWRITABLE[error.errno]} (errno {error.errno}); {fix}, then "
                                "rerun the same command: finished work is kept") from None


class Store:
    """All of a run's output lives under one fsspec root; paths given to it are relative to that root."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.url = url.rstrip("/")
        self.storage_options = storage_options or {}
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        self.root = self.root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            with writing(self.root):
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
        with writing(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temp = self.write_temp(data)
            try:
                os.replace(temp, path)
            except BaseException:
                _unlink(temp)
                raise

    def write_temp(self, data: bytes) -> str:
        """A fresh temp file holding `data` (local stores); nothing is left behind when the write fails. Callers
        wrap it in `writing(destination)`, so a refusal names the file they meant to write."""
        temp = self.temp_path()
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
        except BaseException:
            _unlink(temp)
            raise
        return temp

    def temp_path(self) -> str:
        """A fresh local temp file path under TEMP_DIR, named by its writer (host, pid) so a sweep knows it."""
        folder = self.path(TEMP_DIR)
        os.makedirs(folder, exist_ok=True)
        return f"{folder}/{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex}.tmp"

    def sweep_temp(self) -> int:
        """Delete temp files whose writer is gone (a kill -9 mid-write); returns how many. Local stores only."""
        folder = self.path(TEMP_DIR)
        if not self.local or not os.path.isdir(folder):
            return 0
        swept = 0
        for name in os.listdir(folder):
            if _writer_is_gone(name, f"{folder}/{name}"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{folder}/{name}")
                    swept += 1
        return swept

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
        relpaths = (path[start:] for path in (p.rstrip("/") for p in found))
        return [relpath for relpath in relpaths if ".tmp-" not in relpath and not relpath.startswith(TEMP_DIR + "/")]

    def write_table(self, relpath: str, table: pa.Table) -> None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.write_bytes(relpath, buffer.getvalue())

    def read_table(self, relpath: str) -> pa.Table:
        with self.fs.open(self.path(relpath), "rb") as handle:
            return read_parquet(handle)

    def iter_tables(self, prefix: str) -> Iterator[pa.Table]:
        for relpath in self.list(prefix):
            if relpath.endswith(".parquet"):
                yield self.read_table(relpath)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _writer_is_gone(name: str, path: str) -> bool:
    host, pid = (name.rsplit(".", 3) + ["", ""])[:2]  # host names may hold dots: split from the right
    if host != socket.gethostname() or not pid.isdigit():
        with contextlib.suppress(FileNotFoundError):
            return time.time() - os.path.getmtime(path) > STALE_TEMP_SECONDS
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def image_relpath(key: str, image_format: str) -> str:
    """Images are named by content key (hex), so no id or prompt can steer where a file lands."""
    if not all(c in "0123456789abcdef" for c in key) or len(key) < 8:
        raise ValueError(f"content keys are lowercase hex, got {key!r}")
    return image_path(key, image_format)


def list_names(store: Store, prefix: str) -> set[str]:
    """The names of the files directly under a prefix, from one fresh listing (no cached one): on an object store
    one LIST request per thousand names, instead of a request per file."""
    path = store.path(prefix)
    store.fs.invalidate_cache(path)
    try:
        entries = store.fs.ls(path, detail=False)
    except FileNotFoundError:
        return set()
    return {entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries}


class ImageIndex:
    """Which images the output holds, from one listing per image prefix (images/ab/), made at most once per run and
    kept up to date with the run's own writes: `existing` means the file is there, without a request per image."""

    def __init__(self, store: Store, image_format: str):
        self.store, self.image_format = store, image_format
        self._names: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _where(self, key: str, image_format: str | None = None) -> tuple[str, str]:
        folder, _, name = image_path(key, image_format or self.image_format).rpartition("/")
        return folder, name

    def prefetch(self, keys: Iterable[str], pool: Executor) -> None:
        """List the prefixes of these keys not listed yet, in parallel."""
        with self._lock:
            folders = {self._where(key)[0] for key in keys} - self._names.keys()
        for folder, names in zip(folders, pool.map(lambda f: list_names(self.store, f), folders)):
            with self._lock:
                self._names.setdefault(folder, set()).update(names)

    def present(self, key: str, image_format: str | None = None) -> bool:
        """The image with this key, in this format (an output's own, e.g. a channel's; else the run's), is stored."""
        folder, name = self._where(key, image_format)
        with self._lock:
            listed = self._names.get(folder)
        if listed is None:
            names = list_names(self.store, folder)
            with self._lock:
                listed = self._names.setdefault(folder, set())
                listed.update(names)
        return name in listed

    def add(self, key: str, image_format: str | None = None) -> None:
        """An image this run stored."""
        folder, name = self._where(key, image_format)
        with self._lock:
            if folder in self._names:
                self._names[folder].add(name)
