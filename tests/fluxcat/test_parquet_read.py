"""Parquet is read on the calling thread: no Arrow pool thread touches a Python file (or its buffers) to outlive us."""

import io
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fluxcat.parquet_read import open_parquet, parquet_batches, read_parquet


class ThreadRecordingFile(io.BytesIO):
    """A Python file object that notes which threads read it (Arrow calls back into it from its pools if allowed)."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.readers: set[int] = set()

    def read(self, *args):
        self.readers.add(threading.get_ident())
        return super().read(*args)

    def readinto(self, buffer):
        self.readers.add(threading.get_ident())
        return super().readinto(buffer)


@pytest.fixture
def parquet_bytes() -> bytes:
    table = pa.table({"id": [f"SKU-{i}" for i in range(20_000)], "prompt": [f"a mug number {i}" for i in range(20_000)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=2_000)
    return buffer.getvalue()


def test_arrow_reads_a_python_file_from_its_own_threads_by_default(parquet_bytes):
    """The referee: pyarrow's defaults do read from pool threads, so the tests below can fail."""
    handle = ThreadRecordingFile(parquet_bytes)
    pq.read_table(handle)
    assert handle.readers - {threading.get_ident()}


def test_whole_reads_and_batches_stay_on_the_calling_thread(parquet_bytes):
    handle = ThreadRecordingFile(parquet_bytes)
    assert read_parquet(handle, columns=["id"]).num_rows == 20_000
    assert open_parquet(handle).metadata.num_rows == 20_000
    for number, batch in enumerate(parquet_batches(handle, batch_size=1_000, columns=["prompt"])):
        assert batch.num_rows == 1_000
        if number == 3:
            break  # a reader left early (report.py stops at the rows it needs)
    opened = open_parquet(handle)  # a file opened once: its schema read, then its batches
    assert [batch.num_rows for batch in parquet_batches(opened, batch_size=8_000, columns=["id"])] == [8_000] * 2 + [4_000]
    assert handle.readers == {threading.get_ident()}
