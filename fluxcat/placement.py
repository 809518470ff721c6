"""Where shards run on a cluster: a shard of a local-model backend holds one GPU; hosted-API shards go wide."""

from __future__ import annotations

import os

TASK_RUNNERS = ("threads", "dask", "ray")

# Backends that run the model inside the worker process: with GPUs, one shard per GPU at a time.
LOCAL_MODEL_BACKENDS = frozenset({"auto", "diffusers", "tiny"})

# Hosted-API shards mostly wait on the network: a CPU core carries several at once.
HOSTED_SHARDS_PER_CPU = 4
# Local-model shards on CPU: one per worker process, one thread each (the model uses the cores itself).
DEFAULT_LOCAL_WORKERS = 2


def uses_gpu_slot(backend: str) -> bool:
    return backend in LOCAL_MODEL_BACKENDS


def gpu_count() -> int:
    """GPUs this machine can give a local cluster; 0 without CUDA (torch is imported only here, and only if present)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and not visible.strip():
        return 0
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def thread_workers(backend: str, workers: int | None = None) -> int:
    """Shards the flow's own threads run at once: one per GPU for a local model (a single one on CPU, where the
    model and the image encoders already use every core: measured, two at once ran slower than one), several
    per core for hosted APIs, whose shards mostly wait on the network."""
    if workers:
        return workers
    if uses_gpu_slot(backend) or backend == "fixed":
        return max(1, gpu_count())
    return HOSTED_SHARDS_PER_CPU * (os.cpu_count() or 1)


def visible_gpus(count: int) -> list[str]:
    """The device ids this process may use, as CUDA names them: $CUDA_VISIBLE_DEVICES's list, else 0..count-1."""
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return visible[:count] if visible else [str(index) for index in range(count)]


def gpu_for_worker(worker_name, devices: list[str]) -> str:
    """Local cluster workers are named 0..n-1: worker N gets the Nth device."""
    return devices[int(worker_name) % len(devices)]


def local_dask_cluster(backend: str, workers: int | None = None, gpus: int | None = None) -> dict:
    """LocalCluster settings: one single-threaded worker per GPU declaring resource GPU=1 for local models,
    else `workers` processes (threads for hosted APIs, so their shards go wide)."""
    cpus = os.cpu_count() or 1
    if uses_gpu_slot(backend):
        gpus = gpu_count() if gpus is None else gpus
        if gpus:
            return {"n_workers": gpus, "threads_per_worker": 1, "resources": {"GPU": 1}, "processes": True}
        return {"n_workers": workers or min(DEFAULT_LOCAL_WORKERS, cpus), "threads_per_worker": 1, "processes": True}
    n_workers = workers or min(DEFAULT_LOCAL_WORKERS, cpus)
    return {"n_workers": n_workers, "threads_per_worker": HOSTED_SHARDS_PER_CPU, "processes": True}


def ray_shard_options(backend: str, cluster_gpus: float) -> dict:
    """Ray remote options for a shard: num_gpus=1 for a local model on a cluster with GPUs; a fraction of a CPU
    for a hosted API, so many shards run at once."""
    if uses_gpu_slot(backend):
        return {"num_gpus": 1} if cluster_gpus >= 1 else {"num_cpus": 1}
    return {"num_cpus": 1 / HOSTED_SHARDS_PER_CPU}


def dask_shard_resources(backend: str, cluster_resources: set[str]) -> dict:
    """Dask resource annotation for a shard; only when some worker declares GPU, else the task would never run."""
    return {"GPU": 1} if uses_gpu_slot(backend) and "GPU" in cluster_resources else {}
