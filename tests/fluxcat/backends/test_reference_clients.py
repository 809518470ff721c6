"""fal-client and replicate (the providers' official clients) send fluxcat's Fill and Kontext request bodies to the
doubles, which check them against each model's published schema; what comes back is an image of the planned size.
A body the schema refuses (no mask, a mask of another size) is refused by the double and raised by the client."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from fluxcat.backends.reference_requests import fal_input, replicate_input
from fluxcat.reference import fill_inputs, kontext_input, place, read_reference
from tests.fluxcat.backends.hosted_helpers import secret_key
from tests.fluxcat.backends.reference_doubles import ReferenceFalServer, ReferenceReplicateServer
from tests.packshots import REFERENCES

SIZE = (384, 320)  # multiples of 32: a size Replicate's Fill keeps


@pytest.fixture(scope="module")
def placement():
    return place(read_reference(str(REFERENCES / "candle-jar.png")), SIZE, 0.55)


def fetched(url: str) -> Image.Image:
    return Image.open(io.BytesIO(httpx.get(url).content))


def test_fal_client_runs_fluxcats_fill_and_kontext_bodies_on_the_fal_double(monkeypatch, placement):
    import fal_client
    import fal_client.client as fal_module

    key = secret_key()
    image, mask = fill_inputs(placement, SIZE)
    with ReferenceFalServer(key) as server:
        monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", f"{server.url}/")
        client = fal_client.SyncClient(key=key)
        fill = client.submit("fal-ai/flux-lora-fill", arguments=fal_input(
            "fill", "a candle on an oak shelf", *SIZE, 28, 30.0, 11, image, mask))
        result = fill.get(interval=0.01)
        assert fetched(result["images"][0]["url"]).size == SIZE and result["seed"] == 11
        kontext = client.submit("fal-ai/flux-kontext/dev", arguments=fal_input(
            "kontext", "the same candle in autumn colours", *SIZE, 28, 2.5, 12, kontext_input(placement, SIZE)))
        assert fetched(kontext.get(interval=0.01)["images"][0]["url"]).size == SIZE
        bad = fal_input("fill", "x", *SIZE, 28, 30.0, 1, image, mask)
        bad["mask_url"] = fal_input("kontext", "x", 64, 64, 28, 2.5, 1, image.resize((64, 64)))["image_url"]
        with pytest.raises(fal_client.client.FalClientHTTPError) as refused:
            client.submit("fal-ai/flux-lora-fill", arguments=bad)
        assert refused.value.status_code == 422 and "mask_url must match" in str(refused.value)


def test_replicate_client_runs_fluxcats_fill_and_kontext_bodies_on_the_replicate_double(placement):
    import replicate
    from replicate.exceptions import ReplicateError

    key = secret_key()
    image, mask = fill_inputs(placement, SIZE)
    with ReferenceReplicateServer(key) as server:
        client = replicate.Client(api_token=key, base_url=server.url)
        fill = client.models.predictions.create(model="black-forest-labs/flux-fill-dev", wait=True, input=replicate_input(
            "fill", "a candle on an oak shelf", *SIZE, 28, 30.0, 5, image, mask))
        assert fill.status == "succeeded" and fetched(fill.output[0]).size == SIZE
        kontext = client.models.predictions.create(model="black-forest-labs/flux-kontext-dev", wait=True,
                                                   input=replicate_input("kontext", "the same candle in autumn colours",
                                                                         1024, 1024, 28, 2.5, 6,
                                                                         kontext_input(placement, (1024, 1024))))
        assert isinstance(kontext.output, str) and fetched(kontext.output).size == (1024, 1024)
        body = replicate_input("fill", "x", *SIZE, 28, 30.0, 1, image, mask)
        del body["mask"]
        with pytest.raises(ReplicateError, match="input.mask"):
            client.models.predictions.create(model="black-forest-labs/flux-fill-dev", input=body)


def test_request_bodies_refuse_what_the_schemas_do_not_allow(placement):
    image, mask = fill_inputs(placement, SIZE)
    with pytest.raises(ValueError, match="needs a mask"):
        fal_input("fill", "x", *SIZE, 28, 30.0, 1, image)
    with pytest.raises(ValueError, match="multiples of 32 up to 1440"):
        replicate_input("fill", "x", 1008, 1008, 28, 30.0, 1, image, mask)
