"""The providers' own clients (fal-client, replicate, huggingface_hub) against our loopback doubles: a double that
the provider's client cannot use is a wrong double. fluxcat then runs against the same doubles elsewhere."""

import io

import pytest
from PIL import Image

from tests.fluxcat.backends.hosted_helpers import secret_key
from tests.fluxcat.backends.protocol_servers import FalServer, HuggingFaceServer, ReplicateServer


def test_fal_client_submits_polls_fetches_and_cancels_on_the_fal_double(monkeypatch):
    import fal_client
    import fal_client.client as fal_module
    import httpx

    key = secret_key()
    with FalServer(key) as server:
        monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", f"{server.url}/")  # fal-client reads its host at import
        client = fal_client.SyncClient(key=key)
        handle = client.submit("fal-ai/flux/schnell", arguments={
            "prompt": "a red fox", "image_size": {"width": 512, "height": 384}, "num_inference_steps": 4, "seed": 7,
            "output_format": "png"})
        assert isinstance(handle.status(), fal_client.Queued)
        assert isinstance(handle.status(with_logs=True), fal_client.InProgress)
        result = handle.get(interval=0.01)
        assert isinstance(handle.status(), fal_client.Completed)
        image = result["images"][0]
        assert (image["width"], image["height"], image["content_type"]) == (512, 384, "image/png")
        downloaded = Image.open(io.BytesIO(httpx.get(image["url"]).content))
        assert downloaded.size == (512, 384) and result["seed"] == 7

        failing = client.submit("fal-ai/flux/dev", arguments={"prompt": "fault:completed-error a hen"})
        for _ in range(3):
            status = failing.status()
        assert isinstance(status, fal_client.Completed) and status.error_type == "runner_error" and status.error

        stuck = client.submit("fal-ai/flux/dev", arguments={"prompt": "fault:never-completes a cow"})
        stuck.cancel()
        assert server.cancelled == [stuck.request_id]

        with pytest.raises(fal_client.client.FalClientHTTPError) as refused:
            client.submit("fal-ai/flux/dev", arguments={"prompt": "fault:not-retryable-always a pig"})
        assert refused.value.status_code == 503 and refused.value.error_type == "runner_disconnected"
        assert refused.value.response_headers["x-fal-retryable"] == "false"


def test_replicate_client_creates_waits_and_cancels_on_the_replicate_double():
    import replicate
    from replicate.exceptions import ReplicateError

    key = secret_key()
    with ReplicateServer(key) as server:
        client = replicate.Client(api_token=key, base_url=server.url)
        prediction = client.models.predictions.create(
            model="black-forest-labs/flux-schnell", wait=True,
            input={"prompt": "a teapot", "aspect_ratio": "16:9", "megapixels": "0.25", "num_inference_steps": 4,
                   "seed": 3, "go_fast": False, "output_format": "png"})
        assert prediction.status == "succeeded" and prediction.model == "black-forest-labs/flux-schnell"
        assert Image.open(io.BytesIO(client._client.get(prediction.output[0]).content)).size == (672, 384)

        polled = client.models.predictions.create(model="black-forest-labs/flux-dev",
                                                  input={"prompt": "fault:poll a kettle", "guidance": 3.5})
        assert polled.status == "starting"
        client.poll_interval = 0.01
        polled.wait()
        assert polled.status == "succeeded" and polled.output[0].endswith(".webp")  # webp unless asked

        stuck = client.models.predictions.create(model="black-forest-labs/flux-dev",
                                                 input={"prompt": "fault:never-completes a jug"})
        stuck.cancel()
        assert server.cancelled == [stuck.id]

        with pytest.raises(ReplicateError) as invalid:
            client.models.predictions.create(model="black-forest-labs/flux-schnell",
                                             input={"prompt": "a cup", "num_inference_steps": 8})
        assert invalid.value.status == 422 and "less than or equal to 4" in invalid.value.detail
        with pytest.raises(ReplicateError) as throttled:
            client.models.predictions.create(model="black-forest-labs/flux-schnell", input={"prompt": "fault:throttled a mug"})
        assert throttled.value.status == 429 and "resets in ~1s" in throttled.value.detail
    assert server.creates["fault:throttled a mug"] == 0  # the official client did not resend the create


def test_huggingface_inference_client_makes_an_image_on_the_hf_double(monkeypatch):
    from huggingface_hub import InferenceClient, constants
    from huggingface_hub.errors import HfHubHTTPError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite runs offline; the double is on loopback
    key = secret_key()
    with HuggingFaceServer(key) as server:
        route = f"{server.url}/hf-inference/models/black-forest-labs/FLUX.1-schnell"
        client = InferenceClient(model=route, token=key)
        image = client.text_to_image("a green field", width=512, height=384, num_inference_steps=4, seed=5)
        assert image.size == (512, 384)
        assert next(iter(server.jobs.values()))["parameters"] == {"width": 512, "height": 384,
                                                                  "num_inference_steps": 4, "seed": 5}
        with pytest.raises(HfHubHTTPError) as refused:
            client.text_to_image("fault:no-credit-always a barn")
        assert refused.value.response.status_code == 402
