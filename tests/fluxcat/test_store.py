"""The store: relative paths only, atomic writes, content-keyed image paths, any fsspec URL."""

import os

import pyarrow as pa
import pytest

from fluxcat.store import Store, image_relpath


def test_write_read_list(store):
    store.write_bytes("images/ab/abcdef01.png", b"data")
    store.write_table("_work/parts/x.parquet", pa.table({"a": [1]}))
    assert store.read_bytes("images/ab/abcdef01.png") == b"data"
    assert store.exists("images/ab/abcdef01.png") and not store.exists("images/ab/nope.png")
    assert store.list("images") == ["images/ab/abcdef01.png"]
    assert store.read_table("_work/parts/x.parquet").to_pydict() == {"a": [1]}


@pytest.mark.parametrize("bad", ["../escape.png", "/etc/passwd", "images/../../x", "a/../../b"])
def test_paths_cannot_leave_the_root(store, bad):
    with pytest.raises(ValueError, match="stay under the root"):
        store.write_bytes(bad, b"x")


def test_local_writes_are_atomic_and_leave_no_temp_files(tmp_path):
    store = Store(str(tmp_path / "out"))
    store.write_bytes("images/aa/aaaa0000.png", b"first")
    store.write_bytes("images/aa/aaaa0000.png", b"second")
    assert os.listdir(tmp_path / "out" / "images" / "aa") == ["aaaa0000.png"]
    # A writer killed mid-write leaves only a temp file, which readers and listings never see.
    (tmp_path / "out" / "images" / "aa" / "bbbb0000.png.tmp-123").write_bytes(b"partial")
    assert store.list("images") == ["images/aa/aaaa0000.png"]


@pytest.mark.parametrize("key", ["../../etc", "AB12CD34", "abc", "ab/cd/ef01"])
def test_image_paths_accept_only_hex_keys(key):
    with pytest.raises(ValueError):
        image_relpath(key, "png")


def test_image_path_layout():
    assert image_relpath("abcdef0123", "png") == "images/ab/abcdef0123.png"
    assert image_relpath("abcdef0123", "jpeg") == "images/ab/abcdef0123.jpg"


def test_uri_is_openable(tmp_path):
    local = Store(str(tmp_path / "o"))
    assert local.uri("manifest.parquet") == str(tmp_path / "o" / "manifest.parquet")
    memory = Store("memory://bucket/run")
    memory.write_bytes("manifest.parquet", b"m")
    import fsspec

    with fsspec.open(memory.uri("manifest.parquet"), "rb") as handle:
        assert handle.read() == b"m"


def test_temp_files_live_in_one_folder_and_dead_writers_are_swept(tmp_path):
    import socket
    import subprocess
    import sys

    from fluxcat.store import TEMP_DIR

    store = Store(str(tmp_path / "out"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    temp = tmp_path / "out" / TEMP_DIR
    temp.mkdir(parents=True)
    (temp / f"{socket.gethostname()}.{dead.stdout.strip()}.aa.tmp").write_bytes(b"killed mid-write")
    mine = temp / f"{socket.gethostname()}.{os.getpid()}.bb.tmp"
    mine.write_bytes(b"a live writer's")
    other_host = temp / "elsewhere.example.7.cc.tmp"
    other_host.write_bytes(b"another host's, fresh")
    store.write_bytes("images/ab/abcdef01.png", b"data")
    assert store.list("") == ["images/ab/abcdef01.png"]  # temp files are never listed
    assert store.sweep_temp() == 1
    assert sorted(p.name for p in temp.iterdir()) == sorted([mine.name, other_host.name])
    os.utime(other_host, (0, 0))  # an old temp file of another host is swept too
    assert store.sweep_temp() == 1 and [p.name for p in temp.iterdir()] == [mine.name]
