"""Parquet read on the calling thread, so that no Arrow pool thread frees a Python buffer while the interpreter exits."""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

# Arrow's pre-buffering and threaded decode read a Python file object from Arrow's own thread pools and release those
# buffers there. One released during interpreter shutdown needs the GIL, the thread is ended mid C++ frame, and the
# process aborts ("terminate called without an active exception", apache/arrow#34314): seen in 6 of 40 `fluxcat plan`
# runs on a loaded machine. Reading on the calling thread costs little here: files are read one batch at a time.


def open_parquet(handle) -> pq.ParquetFile:
    return pq.ParquetFile(handle, pre_buffer=False)


def read_parquet(handle, columns: list[str] | None = None) -> pa.Table:
    return open_parquet(handle).read(columns=columns, use_threads=False)


def parquet_batches(source, batch_size: int = 65536, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Batches of a file object, or of a file `open_parquet` opened already (its footer is not read again)."""
    parquet = source if isinstance(source, pq.ParquetFile) else open_parquet(source)
    yield from parquet.iter_batches(batch_size=batch_size, columns=columns, use_threads=False)
