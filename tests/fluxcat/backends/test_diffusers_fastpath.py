"""The diffusers backend's fast path on the tiny FLUX (CPU): prompts encoded once per unique prompt with unchanged
pixels, padded buckets that compile once, later sizes sharing one graph with symbolic sizes (or one per size when
asked), several device workers giving the same images."""

import numpy as np
import pytest

from fluxcat.backends.base import BackendConfigError, ImageRequest
from fluxcat.backends.tiny import TinyBackend

SIZE_A, SIZE_B = (256, 256), (256, 384)


def request(key, prompt, size=SIZE_A, seed=1, model="schnell"):
    return ImageRequest(key, prompt, model, size[0], size[1], 4 if model == "schnell" else 3,
                        0.0 if model == "schnell" else 3.5, seed)


def pixels(image):
    return np.asarray(image).astype(int)


@pytest.fixture(scope="module")
def tiny():
    backend = TinyBackend()
    yield backend
    backend.close()


def plain_images(backend, batch):
    """The pipeline called the plain diffusers way: prompts in, one generator per image."""
    import torch

    pipe = backend.pipeline(batch[0].model)
    first = batch[0]
    with torch.inference_mode():
        return pipe(prompt=[r.prompt for r in batch], height=first.height, width=first.width,
                    num_inference_steps=first.steps, guidance_scale=first.guidance, max_sequence_length=256,
                    generator=[torch.Generator("cpu").manual_seed(r.seed) for r in batch], output_type="pil").images


def test_prompts_are_encoded_once_each_ahead_of_denoising_and_pixels_do_not_change(tiny):
    requests = [request("a1", "a red cat", seed=1), request("a2", "a blue dog on a hill", seed=2),
                request("a3", "a red cat", seed=3), request("b1", "x", SIZE_B, seed=4),
                request("b2", "a blue dog on a hill", SIZE_B, seed=5)]
    pipe = tiny.pipeline("schnell")
    t5_batches, clip_batches = [], []
    hooks = [pipe.text_encoder_2.register_forward_hook(lambda m, args, out: t5_batches.append(args[0].shape[0])),
             pipe.text_encoder.register_forward_hook(lambda m, args, out: clip_batches.append(args[0].shape[0]))]
    try:
        results = {r.key: r for r in tiny.generate(requests)}
    finally:
        for hook in hooks:
            hook.remove()
    assert all(r.ok for r in results.values()), [r.error for r in results.values()]
    assert t5_batches == [3] and clip_batches == [3]  # 3 unique prompts, one batch, none inside the denoise calls
    expected = dict(zip(["a1", "a2", "a3"], plain_images(tiny, requests[:3])))
    expected.update(zip(["b1", "b2"], plain_images(tiny, requests[3:])))
    for key, image in expected.items():
        assert np.array_equal(pixels(results[key].image), pixels(image)), key
    assert np.abs(pixels(expected["a1"]) - pixels(expected["a3"])).mean() > 5  # seeds matter: the check can fail


def counting_fast_backend(graphs: list, **options) -> TinyBackend:
    """A compiling tiny backend whose graphs are counted, from empty dynamo caches (they are per process: shapes seen
    by an earlier test would already be marked dynamic)."""
    import torch

    torch._dynamo.reset()

    def counting_backend(graph_module, example_inputs):  # a torch.compile backend that counts graphs compiled
        graphs.append(graph_module)
        return graph_module.forward

    return TinyBackend(compile="on", compile_backend=counting_backend, **options)


def test_a_catalog_of_mixed_sizes_compiles_each_bucket_once_then_pads(tiny):
    import torch

    graphs = []
    fast = counting_fast_backend(graphs)
    try:
        fast.pipeline("schnell")  # prepared on this thread; the graphs run on the device worker's
        first = [request("c1", "one", SIZE_A, 1), request("c2", "two", SIZE_A, 2), request("c3", "three", SIZE_A, 3),
                 request("d1", "four", SIZE_B, 4), request("d2", "five", SIZE_B, 5)]
        results = {r.key: r for r in fast.generate(first)}
        assert all(r.ok for r in results.values()), [r.error for r in results.values()]
        compiled_first = len(graphs)
        assert compiled_first >= 2 * 3  # two block kinds + VAE decoder, for each of the two sizes
        # More of the same sizes in other batch fills: partial batches are padded to the bucket's size, so no recompile.
        later = [request("e1", "six", SIZE_B, 6), request("e2", "seven", SIZE_A, 7), request("e3", "eight", SIZE_B, 8),
                 request("e4", "nine", SIZE_B, 9), request("e5", "ten", SIZE_B, 10), request("e6", "eleven", SIZE_B, 11)]
        again = {r.key: r for r in fast.generate(later)}
        assert all(r.ok for r in again.values()) and len(graphs) == compiled_first
        # Dynamo settings are per thread: the raised recompile limit must hold where the graphs run.
        limit = fast._device_workers().submit(lambda worker, device: torch._dynamo.config.recompile_limit).result()
        assert limit >= 64
        # Compiled (eager graphs) and padded, the images are the plain path's up to batched float rounding.
        plain = plain_images(tiny, first[:3])
        for key, image in zip(["c1", "c2", "c3"], plain):
            assert results[key].image.size == SIZE_A
            assert np.abs(pixels(results[key].image) - pixels(image)).max() <= 2
        # The counter is live: an unpadded batch of a new batch size does compile.
        with torch.inference_mode():
            fast.pipeline("schnell")(prompt=["x"], height=256, width=256, num_inference_steps=1, guidance_scale=0.0,
                                     generator=[torch.Generator("cpu").manual_seed(0)], output_type="pil")
        assert len(graphs) > compiled_first
    finally:
        fast.close()


MORE_SIZES = [(384, 256), (320, 512), (512, 512), (192, 320)]


def graphs_for_sizes(**options) -> list[int]:
    """Graphs compiled so far after each size of a catalog (one image of each, in turn)."""
    graphs, counts = [], []
    fast = counting_fast_backend(graphs, **options)
    try:
        for index, size in enumerate([SIZE_A, SIZE_B, *MORE_SIZES]):
            results = fast.generate([request(f"s{index}", "a red cat", size, index)])
            assert all(r.ok for r in results), [r.error for r in results]
            counts.append(len(graphs))
    finally:
        fast.close()
    return counts


def test_one_graph_with_symbolic_sizes_serves_every_later_size():
    counts = graphs_for_sizes()
    assert counts[0] > 0
    assert counts[-1] == counts[2], counts  # the four sizes after the second compile nothing


def test_static_shapes_compile_every_size_when_asked():
    """The counter can tell: with `compile_shapes=static` each new size compiles again."""
    counts = graphs_for_sizes(compile_shapes="static")
    assert all(later > earlier for earlier, later in zip(counts, counts[1:])), counts


def test_compile_shapes_is_checked_before_any_work():
    with pytest.raises(BackendConfigError, match="compile_shapes must be dynamic or static, got 'symbolic'"):
        TinyBackend(compile="on", compile_shapes="symbolic")


def test_two_device_workers_give_the_same_images_as_one(tiny):
    requests = [request("f1", "a house", SIZE_A, 1), request("f2", "a tree", SIZE_B, 2),
                request("f3", "a boat", SIZE_A, 3), request("f4", "a dog", SIZE_B, 4, model="dev")]
    one = {r.key: r for r in tiny.generate(requests)}
    two_workers = TinyBackend(device="cpu*2", max_batch=1)  # four batches for two workers
    try:
        two = {r.key: r for r in two_workers.generate(requests)}
        assert {worker for worker, _ in two_workers._pipelines} == {0, 1}  # both workers loaded and ran a pipeline
    finally:
        two_workers.close()
    for key in one:
        assert two[key].ok, two[key].error
        assert np.abs(pixels(one[key].image) - pixels(two[key].image)).max() <= 2, key
