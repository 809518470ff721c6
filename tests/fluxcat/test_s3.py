"""S3 end to end against a real S3-compatible server (moto's server mode on 127.0.0.1): catalog in S3, images and
manifest to S3, a rerun makes nothing, refresh works, the lease holds, and the credentials reach no log or record."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("s3fs")
BUCKET = "fluxcat-test"
SECRET = f"s3-secret-{uuid.uuid4().hex}"  # a value that must never leave fsspec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """moto_server as a child process on a free loopback port, one bucket; ended with its process group."""
    port = free_port()
    executable = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which("moto_server")
    process = subprocess.Popen([executable, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.2)
        # no region_name in client_kwargs: moto's server refuses bucket creation with it
        options = {"key": "fluxcat-test-key", "secret": SECRET, "client_kwargs": {"endpoint_url": endpoint}}
        import s3fs

        fs = s3fs.S3FileSystem(**options)
        fs.mkdir(BUCKET)
        yield {"options": options, "fs": fs, "endpoint": endpoint}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def put_catalog(fs, path: str, rows: list[dict]) -> str:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    fs.pipe_file(f"{BUCKET}/{path}", buffer.getvalue())
    return f"s3://{BUCKET}/{path}"


def read_manifest(fs, output: str) -> dict[str, dict]:
    with fs.open(f"{output.removeprefix('s3://')}/manifest.parquet", "rb") as handle:
        return {r["id"]: r for r in pq.read_table(handle).to_pylist()}


ROWS = [{"id": f"sku-{n}", "prompt": f"product photo of item {n}", "width": 64, "height": 64} for n in range(5)]


def test_catalog_in_s3_to_images_and_manifest_in_s3_then_rerun_and_refresh(s3, prefect_harness, monkeypatch):
    from prefect.blocks.system import Secret

    from flows.catalog import generate_catalog
    from flows.refresh import refresh_assets

    fs, options = s3["fs"], s3["options"]
    catalog = put_catalog(fs, "catalogs/v1.parquet", ROWS)
    output = f"s3://{BUCKET}/runs/{uuid.uuid4().hex[:8]}"

    # 1. storage options from a Prefect Secret block named in the flow's storage settings (never a value)
    Secret(value=options).save("fluxcat-test-s3", overwrite=True)
    first = generate_catalog(catalog=catalog, output=output, backend="fixed", images={"shard_size": 2},
                             storage={"storage_block": "fluxcat-test-s3"})
    assert first["statuses"] == {"generated": 5} and first["manifest"] == f"{output}/manifest.parquet"
    manifest = read_manifest(fs, output)
    images = fs.find(f"{output.removeprefix('s3://')}/images")
    assert len(images) == 5 and {f"s3://{p}" for p in images} == {r["image_uri"] for r in manifest.values()}
    assert fs.exists(f"{output.removeprefix('s3://')}/index.html")
    assert not fs.exists(f"{output.removeprefix('s3://')}/_work/lease.json")
    made = {p: fs.info(p)["LastModified"] for p in images}

    # 2. a rerun, storage options from the environment this time: nothing is made again
    monkeypatch.setenv("FLUXCAT_STORAGE_OPTIONS", json.dumps(options))
    second = generate_catalog(catalog=catalog, output=output, backend="fixed", images={"shard_size": 2})
    assert second["statuses"] == {"existing": 5}
    fs.invalidate_cache()
    assert {p: fs.info(p)["LastModified"] for p in images} == made

    # 3. refresh from a changed catalog in S3, with one image deleted from the bucket; options from the Secret block
    monkeypatch.delenv("FLUXCAT_STORAGE_OPTIONS")
    changed = [dict(r) for r in ROWS[:4]] + [{"id": "sku-new", "prompt": "a new product", "width": 64, "height": 64}]
    changed[1]["prompt"] = "product photo of item 1, on a red background"
    fs.rm(manifest["sku-2"]["image_uri"])
    catalog_v2 = put_catalog(fs, "catalogs/v2.parquet", changed)
    result = refresh_assets(catalog=catalog_v2, output=output, backend="fixed",
                            storage={"storage_block": "fluxcat-test-s3"})
    assert {k: v for k, v in result["counts"].items() if v} == {"added": 1, "changed": 1, "missing": 1,
                                                                  "unchanged": 2, "removed": 1}
    assert result["made"] == {"generated": 3}
    after = read_manifest(fs, output)
    assert sorted(after) == ["sku-0", "sku-1", "sku-2", "sku-3", "sku-new"]
    assert all(fs.exists(r["image_uri"]) for r in after.values())
    assert len(fs.find(f"{output.removeprefix('s3://')}/manifests")) == 3

    # the secret reached no log line, artifact, flow run record, manifest or report
    _assert_secret_nowhere(fs, output)


def _assert_secret_nowhere(fs, output: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        for kind in ("logs", "flow_runs", "task_runs", "artifacts"):
            records, offset = [], 0
            while page := client._client.post(f"/{kind}/filter", json={"limit": 200, "offset": offset}).json():
                records += page
                offset += len(page)
            assert records, f"Prefect recorded no {kind}: the scan would prove nothing"
            assert SECRET not in json.dumps(records), f"the storage secret reached Prefect's {kind}"
    for path in fs.find(output.removeprefix("s3://")):
        if not path.endswith(".png"):
            assert SECRET.encode() not in fs.cat_file(path), path


def test_lease_on_s3_uses_conditional_create(s3):
    from fluxcat.lease import Lease, LeaseHeld
    from fluxcat.store import Store

    store = Store(f"s3://{BUCKET}/leases/{uuid.uuid4().hex[:8]}", s3["options"])
    with Lease(store, owner="first writer"):
        with pytest.raises(LeaseHeld, match="first writer"):
            Lease(store, owner="second writer").acquire()
    with Lease(store, owner="second writer"):
        pass


def test_bad_storage_options_in_the_environment_fail_without_echoing_them(monkeypatch):
    from fluxcat.storage_options import resolve_storage_options

    monkeypatch.setenv("FLUXCAT_STORAGE_OPTIONS", "{not json " + SECRET)
    with pytest.raises(ValueError) as error:
        resolve_storage_options()
    assert "FLUXCAT_STORAGE_OPTIONS" in str(error.value) and SECRET not in str(error.value)
