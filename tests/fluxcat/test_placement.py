"""How many shards the flow's own threads run at once, per backend."""

from fluxcat import placement


def test_local_models_run_one_shard_per_gpu_and_one_on_cpu(monkeypatch):
    monkeypatch.setattr(placement, "gpu_count", lambda: 0)
    assert placement.thread_workers("tiny") == placement.thread_workers("fixed") == 1
    monkeypatch.setattr(placement, "gpu_count", lambda: 4)
    assert placement.thread_workers("diffusers") == placement.thread_workers("auto") == 4


def test_hosted_shards_go_wide_and_an_explicit_count_wins():
    assert placement.thread_workers("fal") > 1 and placement.thread_workers("router") > 1
    assert placement.thread_workers("tiny", workers=3) == 3
