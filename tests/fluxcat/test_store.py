"""The store: relative paths only, atomic writes, content-keyed image paths, any fsspec URL, full and read-only disks."""

import os

import pyarrow as pa
import pyarrow.parquet as pq
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


# A full and a read-only output, on real filesystems: a small tmpfs mounted inside the test's own folder (root, as on
# CI), filled up or remounted read-only; unmounted afterwards.

@pytest.fixture
def tmpfs(tmp_path):
    import subprocess

    mounted = []

    def mount(name: str, size_kb: int):
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _remount(point, options: str) -> None:
    import subprocess

    subprocess.run(["mount", "-o", f"remount,{options}", str(point)], check=True)


def _fill(point) -> None:
    """Write zeros until the filesystem is full."""
    with open(point / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def _catalog(path) -> str:
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(8)], "prompt": [f"a ceramic mug number {i}" for i in range(8)]}),
                   path)
    return str(path)


def _options(catalog: str, output: str):
    from fluxcat.pipeline import RunOptions

    return RunOptions(catalog=catalog, output=output, backend="fixed", dedupe="exact", shard_size=4, qa=False)


def _one_line_from_the_cli(capsys, catalog: str, output: str, cause: str) -> str:
    from fluxcat_cli.main import main

    assert main(["plan", catalog, "-o", output, "--backend", "fixed", "--dedupe", "exact"]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"fluxcat: error: cannot write {output}") and cause in line, line
    assert "Traceback" not in captured.err + captured.out
    return line


def _temp_files(output) -> list:
    from fluxcat.store import TEMP_DIR

    return list((output / TEMP_DIR).glob("*")) if (output / TEMP_DIR).exists() else []


def _run_to_the_end(options) -> dict:
    from fluxcat.pipeline import finish, open_run, plan, run_one_shard

    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
        outcomes = [run_one_shard(run, shard) for shard in shards]
    summary = finish(options, shards, set())
    return {"statuses": dict(summary.statuses), "made": sum(o.statuses.get("generated", 0) for o in outcomes),
            "reused": [o.shard for o in outcomes if o.reused]}


def _half_a_run(options) -> list[str]:
    """Plan, and make the first shard only."""
    from fluxcat.pipeline import open_run, plan, run_one_shard

    with open_run(options) as run:
        shards = [shard.name for shard in plan(run).shards]
        run_one_shard(run, shards[0])
    return shards


def test_a_full_output_ends_with_one_line_leaves_no_temp_files_and_the_rerun_resumes(tmp_path, tmpfs, capsys):
    from fluxcat.pipeline import open_run, run_one_shard
    from fluxcat.store import OutputNotWritable

    disk, catalog = tmpfs("full", 2048), _catalog(tmp_path / "catalog.parquet")
    output = disk / "out"
    shards = _half_a_run(_options(catalog, str(output)))
    _fill(disk)
    with pytest.raises(OutputNotWritable) as raised:
        with open_run(_options(catalog, str(output))) as run:
            run_one_shard(run, shards[1])
    assert "no space left on the device (errno 28)" in str(raised.value) and str(output) in str(raised.value)
    assert "\n" not in str(raised.value) and _temp_files(output) == []
    _one_line_from_the_cli(capsys, catalog, str(tmp_path / "full" / "elsewhere"), "no space left on the device")
    os.unlink(disk / "filler")
    resumed = _run_to_the_end(_options(catalog, str(output)))
    assert resumed == {"statuses": {"generated": 8}, "made": 4, "reused": shards[:1]}  # the first shard was kept
    assert _temp_files(output) == []


def test_a_read_only_output_ends_with_one_line_and_the_rerun_resumes(tmp_path, tmpfs, capsys):
    from fluxcat.pipeline import open_run, run_one_shard
    from fluxcat.store import OutputNotWritable

    disk, catalog = tmpfs("readonly", 2048), _catalog(tmp_path / "catalog.parquet")
    output = disk / "out"
    shards = _half_a_run(_options(catalog, str(output)))
    _remount(disk, "ro")
    with pytest.raises(OutputNotWritable, match=r"the filesystem is read-only \(errno 30\); make it writable"):
        with open_run(_options(catalog, str(output))) as run:
            run_one_shard(run, shards[1])
    _one_line_from_the_cli(capsys, catalog, str(output), "the filesystem is read-only")
    _one_line_from_the_cli(capsys, catalog, str(disk / "new-folder"), "the filesystem is read-only")
    _remount(disk, "rw")
    assert _run_to_the_end(_options(catalog, str(output))) == {"statuses": {"generated": 8}, "made": 4,
                                                               "reused": shards[:1]}
    assert _temp_files(output) == []
