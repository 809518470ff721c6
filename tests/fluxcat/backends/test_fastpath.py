"""The fast path's pure parts: bucket batch sizes, batch planning, options, FP8 checks, device lists and workers."""

import threading

import pytest

from fluxcat.backends import fastpath
from fluxcat.backends.base import BackendConfigError, ImageRequest
from fluxcat.gpus import DeviceSpecError, DeviceWorkers, parse_devices


def request(key, width=1024, height=1024, model="schnell", prompt="p", seed=0):
    return ImageRequest(key, prompt, model, width, height, 4, 0.0, seed)


def test_bucket_batch_is_a_power_of_two_within_the_pixel_budget():
    budget = fastpath.CUDA_BATCH_PIXELS
    assert fastpath.bucket_batch_size(1024, 1024, 16, budget) == 2
    assert fastpath.bucket_batch_size(512, 512, 16, budget) == 8
    assert fastpath.bucket_batch_size(768, 1024, 16, budget) == 2     # 2.67 fit -> 2
    assert fastpath.bucket_batch_size(2048, 2048, 16, budget) == 1    # never below one
    assert fastpath.bucket_batch_size(256, 256, 16, budget) == 16     # never above max_batch
    assert fastpath.bucket_batch_size(256, 256, 4, None) == 4         # no budget: max_batch images


def test_plan_batches_keeps_buckets_apart_and_cuts_each_to_its_size():
    reqs = [request("a1"), request("b1", 512, 512), request("a2"), request("b2", 512, 512), request("a3"),
            request("c1", 512, 512, model="dev")]
    planned = list(fastpath.plan_batches(reqs, lambda r: 2 if r.width == 1024 else 8))
    assert [([r.key for r in batch], size) for batch, size in planned] == [
        (["a1", "a2"], 2), (["a3"], 2), (["b1", "b2"], 8), (["c1"], 8)]
    assert fastpath.padded(planned[1][0], 2) == [planned[1][0][0]] * 2
    assert fastpath.unique_prompts([request("x", prompt="cat"), request("y", prompt="dog"), request("z", prompt="cat")]) == ["cat", "dog"]


def test_fast_path_is_on_by_default_on_cuda_only_and_fp8_never_by_default():
    cuda, cpu = fastpath.resolve("cuda"), fastpath.resolve("cpu")
    assert cuda.compile and cuda.pad_batches and cuda.batch_pixels == fastpath.CUDA_BATCH_PIXELS and not cuda.fp8
    assert not cpu.compile and not cpu.pad_batches and cpu.batch_pixels is None
    assert fastpath.resolve("cuda", compile=False).compile is False
    assert fastpath.resolve("cpu", compile=True, batch_pixels=None).compile is True


def test_options_arrive_as_strings_from_the_cli_and_bad_ones_say_what_to_write():
    assert fastpath.parse_switch("off", "compile") is False and fastpath.parse_switch(1, "fp8") is True
    assert fastpath.parse_switch("auto", "compile") is None
    with pytest.raises(BackendConfigError, match="on, off or auto"):
        fastpath.parse_switch("fast", "compile")
    assert fastpath.parse_batch_pixels("4194304") == 4194304 and fastpath.parse_batch_pixels("auto") == "auto"
    with pytest.raises(BackendConfigError, match="pixel count"):
        fastpath.parse_batch_pixels("big")


def test_fp8_refuses_cpu_old_gpus_and_a_missing_torchao_with_the_fix():
    assert "CUDA GPU" in fastpath.fp8_problem("cpu", None, True)
    assert "8.0" in fastpath.fp8_problem("cuda", (8, 0), True)           # A100: no float8 matmuls
    assert "pip install" in fastpath.fp8_problem("cuda", (9, 0), False)
    assert fastpath.fp8_problem("cuda", (9, 0), True) is None            # H100 with torchao
    assert fastpath.fp8_problem("cuda", (8, 9), True) is None            # L4 / RTX 4090


def test_fp8_on_the_cpu_fails_when_the_backend_is_made():
    from fluxcat.backends.tiny import TinyBackend

    with pytest.raises(BackendConfigError, match="fp8 needs a CUDA GPU"):
        TinyBackend(fp8="on")


def test_device_lists():
    assert parse_devices("auto", 0) == ["cpu"]
    assert parse_devices("auto", 3) == ["cuda:0", "cuda:1", "cuda:2"]
    assert parse_devices("all", 2) == ["cuda:0", "cuda:1"]
    assert parse_devices("cuda:0, 2", 4) == ["cuda:0", "cuda:2"]
    assert parse_devices("cpu*3", None) == ["cpu"] * 3
    assert parse_devices("cuda", 1) == ["cuda"]
    for bad, count in (("all", 0), ("cuda:2", 2), ("tpu", 1), ("0,0", 2), ("cpu*0", 0)):
        with pytest.raises(DeviceSpecError):
            parse_devices(bad, count)


def test_a_bad_device_fails_when_the_backend_is_made():
    from fluxcat.backends.tiny import TinyBackend

    with pytest.raises(BackendConfigError, match="not understood"):
        TinyBackend(device="gpu0")


def test_each_worker_runs_on_its_own_device_and_they_run_at_once():
    workers = DeviceWorkers(["cuda:0", "cuda:1"])
    both_running = threading.Barrier(2, timeout=10)  # only passes if two jobs run at the same time

    def job(worker, device):
        both_running.wait()
        return worker, device

    try:
        futures = [workers.submit(job) for _ in range(2)]
        results = {future.result(timeout=10) for future in futures}
        assert results == {(0, "cuda:0"), (1, "cuda:1")}
        failing = workers.submit(lambda worker, device: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing.result(timeout=10)
        assert workers.submit(lambda worker, device: "still serving").result(timeout=10) == "still serving"
    finally:
        workers.close()
