"""The flow with a hosted provider whose key lives in a Prefect Secret block: the key reaches no log, artifact,
flow-run record, flow result, manifest or stored file; the budget cap leaves rows skipped."""

import asyncio
import json
import logging

from fluxcat.manifest import read_manifest
from fluxcat.store import Store
from tests.conftest import write_catalog
from tests.fluxcat.backends.hosted_helpers import FAST, scan_output_for, secret_key
from tests.fluxcat.backends.protocol_servers import FalServer

BUDGET = 0.0075  # two and a half 512x512 fal images
ROWS = [
    {"id": "a", "prompt": "a brass compass on a map", "image_size": "square"},
    {"id": "b", "prompt": "a glass of iced tea", "image_size": "square"},
    {"id": "c", "prompt": "a paper crane", "image_size": "square"},
    {"id": "echo", "prompt": "fault:400-echo a tin robot", "image_size": "square"},
    {"id": "down", "prompt": "fault:500-always a wooden boat", "image_size": "square"},
    {"id": "pii", "prompt": "call 555-867-5309 for a portrait", "image_size": "square"},
]


async def _everything_prefect_recorded() -> str:
    from prefect.client.orchestration import get_client

    texts = []
    async with get_client() as client:
        for kind in ("artifacts", "logs", "flow_runs", "task_runs"):
            response = await client._client.post(f"/{kind}/filter", json={"limit": 200, "offset": 0})
            response.raise_for_status()
            assert response.json(), f"Prefect recorded no {kind}: the scan would prove nothing"
            texts.append(response.text)
    return "\n".join(texts)


def test_hosted_flow_keeps_the_key_secret_and_honours_the_budget(prefect_harness, tmp_path, caplog, monkeypatch):
    from prefect.blocks.system import Secret

    from flows.catalog import generate_catalog

    caplog.set_level(logging.DEBUG)
    key = secret_key()
    Secret(value=key).save("fluxcat-test-fal-key", overwrite=True)
    monkeypatch.delenv("FAL_KEY", raising=False)
    catalog = write_catalog(tmp_path / "catalog.parquet", ROWS)
    output = str(tmp_path / "out")
    with FalServer(key) as fal:
        result = generate_catalog(catalog=catalog, output=output,
                                  images={"shard_size": 2, "qa": False},  # the double's flat images would be reseeded
                                  backend={"backend": "fal", "budget_usd": BUDGET, "api_key_block": "fluxcat-test-fal-key",
                                           "backend_options": {"base_url": fal.url, **FAST}})
    rows = {r["id"]: r for r in read_manifest(Store(output)).to_pylist()}
    assert sorted(rows) == sorted(r["id"] for r in ROWS)
    assert rows["pii"]["status"] == "rejected" and "phone number" in rows["pii"]["reason"]
    statuses = [r["status"] for r in rows.values()]
    assert set(statuses) <= {"generated", "failed", "skipped", "rejected"} and all(r["reason"] for r in rows.values()
                                                                                  if r["status"] != "generated")
    # three good 512x512 rows at fal's $0.012 per megapixel ($0.003 each) cannot all fit: at least one is skipped
    assert statuses.count("generated") <= 2 and statuses.count("skipped") >= 1
    assert result["cost_usd"] <= BUDGET and result["statuses"].get("skipped", 0) == statuses.count("skipped")
    if rows["echo"]["status"] == "failed":
        assert "***" in rows["echo"]["reason"]
    for text in (json.dumps(result, default=str), caplog.text, asyncio.run(_everything_prefect_recorded())):
        assert key not in text
    assert scan_output_for(tmp_path, key) == []
