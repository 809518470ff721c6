"""One host, several GPUs: one worker thread per device, each owning its own pipelines; jobs go to whichever is free."""

from __future__ import annotations

import queue
import re
import threading
from concurrent.futures import Future
from typing import Callable, TypeVar

T = TypeVar("T")
Job = Callable[[int, str], T]  # (worker index, device) -> result

_CPU_WORKERS = re.compile(r"^cpu\*(\d+)$")  # "cpu*2": two CPU workers, each with its own pipeline (for tests)
_CUDA = re.compile(r"^(cuda:)?(\d+)$")


class DeviceSpecError(ValueError):
    """A device option that names no usable device; the message lists the accepted forms."""


DEVICE_FORMS = ("auto (every visible GPU, else cpu)", "all (every visible GPU)", "cpu", "cuda", "cuda:N",
                "a list such as cuda:0,cuda:1 or 0,1", "cpu*N (N CPU workers, for tests)")


def parse_devices(spec: str, cuda_count: int | None) -> list[str]:
    """The devices a backend runs on, one worker each. `cuda_count` None checks the syntax only."""
    text = str(spec).strip().lower()
    if text in ("auto", "all"):
        if cuda_count is None:
            return []
        if cuda_count == 0 and text == "all":
            raise DeviceSpecError("device 'all' asks for every GPU, but torch sees no CUDA GPU: use cpu or auto")
        return [f"cuda:{i}" for i in range(cuda_count)] or ["cpu"]
    if text in ("cpu", "cuda"):
        return [text]
    match = _CPU_WORKERS.match(text)
    if match and int(match.group(1)) >= 1:
        return ["cpu"] * int(match.group(1))
    devices = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        found = _CUDA.match(part)
        if not found:
            raise DeviceSpecError(f"device {spec!r} is not understood: use one of {'; '.join(DEVICE_FORMS)}")
        index = int(found.group(2))
        if cuda_count is not None and index >= cuda_count:
            raise DeviceSpecError(f"device {spec!r} names cuda:{index}, but torch sees {cuda_count} GPU(s)")
        devices.append(f"cuda:{index}")
    if not devices or len(set(devices)) != len(devices):
        raise DeviceSpecError(f"device {spec!r} must name at least one device, each once: use one of {'; '.join(DEVICE_FORMS)}")
    return devices


def visible_cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class DeviceWorkers:
    """A thread per device pulling jobs from one queue: a GPU that finishes early takes the next batch, so
    several shards running at once keep every GPU busy, and each worker only ever touches its own pipeline."""

    def __init__(self, devices: list[str], name: str = "fluxcat-device"):
        self.devices = list(devices)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, args=(index,), name=f"{name}-{index}", daemon=True)
                         for index in range(len(self.devices))]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> Future:
        future: Future = Future()
        self._jobs.put((future, job))
        return future

    def _work(self, index: int) -> None:
        device = self.devices[index]
        while True:
            item = self._jobs.get()
            if item is None:
                return
            future, job = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(job(index, device))
            except BaseException as error:  # the caller sees it on future.result()
                future.set_exception(error)

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
