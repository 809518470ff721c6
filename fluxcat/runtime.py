"""What one run needs, built for it, passed explicitly and closed after it (as Dagster builds a run's resources): the
output store, the backend instance, the budget, the ledger of billed jobs, the event sink, the listing of stored
images, the OCR engines, the reader of reference images and the channel specs. A flow builds one per run, and each worker process of a cluster one per run it serves;
nothing of it is kept at module level, so a second run in the same process shares none of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Mapping

from fluxcat import events
from fluxcat.backends import get_backend
from fluxcat.backends.base import Backend, BackendConfigError
from fluxcat.budget import Budget
from fluxcat.channels import ChannelSpec, bundled_channels, load_channels
from fluxcat.ledger import Ledger
from fluxcat.qa import QaSettings
from fluxcat.qa.ocr import TextReader
from fluxcat.reference import ReferenceReader, load_segmenter
from fluxcat.settings import RunOptions
from fluxcat.store import ImageIndex, Store

Emit = Callable[[dict], None]


@dataclass
class RunContext:
    """One run's resources; `close` (or leaving a `with` block) releases the backend and the OCR engines."""

    options: RunOptions
    store: Store
    backend: Backend
    ledger: Ledger
    images: ImageIndex
    budget: Budget | None = None
    emit: Emit = events.emit
    read_text: TextReader = field(default_factory=TextReader)
    references: ReferenceReader = field(default_factory=ReferenceReader)  # product photos, the last few kept decoded
    channels: Mapping[str, ChannelSpec] = field(default_factory=bundled_channels)

    @property
    def run_id(self) -> str:
        return self.ledger.run_id

    def close(self) -> None:
        self.backend.close()
        self.read_text.close()

    def __enter__(self) -> "RunContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_backend(options: RunOptions) -> Backend:
    """A new instance of the configured backend; an option it does not take fails with the backend's name."""
    try:
        return get_backend(options.backend, options.backend_settings())
    except TypeError as error:
        raise BackendConfigError(f"backend {options.backend!r} does not accept these options: {error}") from None


def open_run(options: RunOptions, emit: Emit = events.emit, backend: Backend | None = None) -> RunContext:
    """Build a run's resources (`with open_run(options) as run:`); the backend, built from the options unless an
    instance is given (tests, benchmarks), is attached to the run's ledger and closed with the run."""
    store = Store(options.output, options.storage_options)
    references, channels = reference_reader(options), load_channels(options.channels_file, options.storage_options)
    ledger = Ledger(store, options.run_id or uuid.uuid4().hex)
    backend = backend if backend is not None else make_backend(options)
    backend.attach(ledger)
    budget = Budget(float(options.budget_usd)) if options.budget_usd is not None else None
    return RunContext(options, store, backend, ledger, ImageIndex(store, options.image_format), budget, emit,
                      TextReader(engines=QaSettings(retries=options.qa_retries).threads), references, channels)


def reference_reader(options: RunOptions) -> ReferenceReader:
    """The run's reader of product photos: relative paths from the catalog's folder, with the catalog's storage
    options, masked by the user's segmenter where one is set."""
    segmenter = load_segmenter(options.reference_segmenter) if options.reference_segmenter else None
    return ReferenceReader(options.storage_options, segmenter=segmenter, catalog_url=options.catalog)
