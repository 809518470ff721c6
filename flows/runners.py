"""The engine shard tasks run on: the flow's threads (default), a Dask cluster or a Ray cluster, existing or local."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Callable, Iterator

from prefect import unmapped
from prefect.tasks import Task

from fluxcat import placement

logger = logging.getLogger("fluxcat.runners")


@dataclass
class Submit:
    """submit(task, options, shards, labels, **mapped) -> futures, one task per shard (`mapped`: more per-shard
    arguments, one list entry per shard); `slots()`: how many shards the engine runs at once now."""

    map: Callable[..., list]
    slots: Callable[[], int]

    def __call__(self, task: Task, options, shards: list, labels: list, **mapped: list) -> list:
        return self.map(task, {"options": unmapped(options), "shard": shards, "label": labels, **mapped})


def check_task_runner(task_runner: str, cluster_address: str | None) -> None:
    """Bad engine settings fail before any work, with the fix."""
    if task_runner not in placement.TASK_RUNNERS:
        raise ValueError(f"task_runner must be one of {', '.join(placement.TASK_RUNNERS)}, got {task_runner!r}")
    if cluster_address and task_runner == "threads":
        raise ValueError("cluster_address needs task_runner 'dask' or 'ray'; threads run inside the flow's process")
    module = {"dask": "prefect_dask", "ray": "prefect_ray"}.get(task_runner)
    if module:
        try:
            __import__(module)
        except ImportError:
            extra = module.replace("prefect_", "")
            raise ValueError(f"task_runner {task_runner!r} needs {module.replace('_', '-')}: "
                             f"pip install 'fluxcat[{extra}]'") from None


@contextlib.contextmanager
def shard_runner(task_runner: str, backend: str, cluster_address: str | None = None,
                 workers: int | None = None) -> Iterator[Submit]:
    """Yield a Submit for the chosen engine: submit(task, options, shards, labels) -> futures, one task per shard."""
    check_task_runner(task_runner, cluster_address)
    if task_runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        threads = placement.thread_workers(backend, workers)
        with ThreadPoolTaskRunner(max_workers=threads) as runner:
            yield Submit(runner.map, lambda: threads)
    elif task_runner == "dask":
        with _dask(backend, cluster_address, workers) as submit:
            yield submit
    else:
        with _ray(backend, cluster_address, workers) as submit:
            yield submit


@contextlib.contextmanager
def _dask(backend: str, address: str | None, workers: int | None) -> Iterator[Submit]:
    import dask
    from prefect_dask import DaskTaskRunner

    if address:
        runner = DaskTaskRunner(address=address)
    else:
        cluster = placement.local_dask_cluster(backend, workers)
        runner = DaskTaskRunner(cluster_kwargs={**cluster, "dashboard_address": ":0"})
    # dask's own logging setting, read as each worker process starts
    with _quiet("distributed", "prefect.task_runner.dask"), _worker_environment(DASK_LOGGING__DISTRIBUTED="warning"), \
            runner:
        client = runner.client
        if not address and "resources" in cluster:
            client.register_plugin(PinGpuPerWorker(placement.visible_gpus(cluster["n_workers"])))
        declared = {name for worker in client.scheduler_info()["workers"].values()
                    for name in (worker.get("resources") or {})}
        resources = placement.dask_shard_resources(backend, declared)
        if placement.uses_gpu_slot(backend) and not resources:
            logger.info("no Dask worker declares a GPU resource: %s shards run one per worker thread", backend)

        def submit(task: Task, parameters: dict) -> list:
            with dask.annotate(resources=resources) if resources else contextlib.nullcontext():
                return runner.map(task, parameters)

        yield Submit(submit, lambda: dask_slots(client.scheduler_info()["workers"].values(), resources))


@contextlib.contextmanager
def _ray(backend: str, address: str | None, workers: int | None) -> Iterator[Submit]:
    import ray
    from prefect_ray import RayTaskRunner
    from prefect_ray.context import remote_options

    init = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if not address:  # a local Ray instance: the CPUs asked for, and every GPU this machine has
        init.update({"num_cpus": workers} if workers else {})
        init["num_gpus"] = placement.gpu_count() if placement.uses_gpu_slot(backend) else 0
    with _quiet("prefect.task_runner.ray"), _worker_environment(), RayTaskRunner(address=address, init_kwargs=init) as runner:
        options_for_shard = placement.ray_shard_options(backend, ray.cluster_resources().get("GPU", 0))

        def submit(task: Task, parameters: dict) -> list:
            with remote_options(**options_for_shard):
                return runner.map(task, parameters)

        yield Submit(submit, lambda: ray_slots(ray.cluster_resources(), options_for_shard))


def dask_slots(workers, resources: dict) -> int:
    """Shards a Dask cluster's workers (the scheduler's records of them) run at once: their threads, or their GPUs
    where a shard holds one."""
    if resources:
        return max(1, sum(min(int((w.get("resources") or {}).get(name, 0) // need) for name, need in resources.items())
                          for w in workers))
    return max(1, sum(w.get("nthreads", 1) for w in workers))


def ray_slots(cluster: dict, options_for_shard: dict) -> int:
    """Shards the Ray cluster runs at once: its GPUs, or its CPUs over each shard's fraction of one."""
    if "num_gpus" in options_for_shard:
        return max(1, int(cluster.get("GPU", 0) // options_for_shard["num_gpus"]))
    return max(1, int(cluster.get("CPU", 1) // options_for_shard.get("num_cpus", 1)))


@contextlib.contextmanager
def _worker_environment(**settings: str) -> Iterator[None]:
    """The environment a local cluster's worker processes inherit as they start: the flow's own Prefect API, so that
    they report task runs and logs there (a worker without PREFECT_API_URL starts a temporary Prefect server of
    its own), and `settings`. Restored when the cluster is gone."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        settings = {"PREFECT_API_URL": str(client.api_url).rstrip("/"), **settings}
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """The cluster's own start and stop chatter (INFO) stays out of the run's output; warnings still show."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for each, level in zip(loggers, levels):
            each.setLevel(level)


try:  # a plugin class needs distributed; only defined where it is installed
    from distributed.diagnostics.plugin import WorkerPlugin

    class PinGpuPerWorker(WorkerPlugin):
        """Local GPU cluster: worker N sees only the Nth visible GPU, set before the backend imports torch."""

        name = "fluxcat-pin-gpu"

        def __init__(self, devices: list[str]):
            self.devices = devices

        def setup(self, worker) -> None:
            import os

            os.environ["CUDA_VISIBLE_DEVICES"] = placement.gpu_for_worker(worker.name, self.devices)
except ImportError:  # pragma: no cover - Dask not installed: the dask runner says how to install it
    PinGpuPerWorker = None
