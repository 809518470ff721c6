"""One settings schema, in groups: the flows' parameters, the CLI's options and what `check_options` validates."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fluxcat.backends import REGISTRY
from fluxcat.dedupe.options import DedupeSettings
from fluxcat.placement import TASK_RUNNERS
from fluxcat.layout import IMAGE_FORMATS
from fluxcat.reference import DEFAULT_MODE, MODES

DEFAULT_SHARD_SIZE = 256
BackendName = Literal[tuple(REGISTRY)]  # a backend registered in fluxcat.backends appears in every entry point


def _number_box(kind: str):
    """Forms render "number or null" as a type toggle, and pre-fill a null default that they then reject: show a plain
    number box with no default instead; left empty, the value stays None."""
    def rewrite(schema: dict) -> None:
        schema.pop("anyOf", None)
        schema.pop("default", None)
        schema.update(type=kind, minimum=0)
    return rewrite


def section(group: type[Group]):
    """A flow parameter's default for a settings group: the group's defaults, titled as its section of the form."""
    return Field(group(), json_schema_extra={"title": group.title()})


# Unset (None) values are also left out of a group's serialised default, which the form pre-fills.
OptionalCount = Annotated[Optional[int], Field(ge=0, exclude_if=lambda v: v is None, json_schema_extra=_number_box("integer"))]
OptionalDollars = Annotated[Optional[float], Field(ge=0, exclude_if=lambda v: v is None,
                                                   json_schema_extra=_number_box("number"))]
# Option names that would carry a secret in clear; secrets travel by reference (a Secret block, the environment).
SECRET_OPTION_WORDS = ("key", "token", "secret", "password")
BY_REFERENCE = ("_block", "_env")
# The same rule as a JSON-schema pattern, so that the Prefect server refuses such a run before storing it.
NO_SECRET_NAMES = {"pattern": f"^((?!{'|'.join(SECRET_OPTION_WORDS)}).)*$|({'|'.join(BY_REFERENCE)})$"}


DEFAULTS_ONLY = {"title": "the backend's defaults", "type": "object", "properties": {}, "additionalProperties": False}


def _each_backends_options(schema: dict) -> None:
    """The form and the server's parameter check: one closed, typed object per backend (`anyOf`), so a name no
    backend takes (a secret typed in the wrong place) is refused before a run is stored."""
    from fluxcat.backends import REGISTRY, options_for
    from fluxcat.backends.options import json_schema

    models = {options_for(name): None for name in REGISTRY}  # one each (`auto` takes what `diffusers` takes)
    each = [json_schema(model) for model in models]
    schema.pop("additionalProperties", None)
    # Names first, so that a refusal names the option and never echoes a value (which may be a misplaced secret).
    names = sorted({name for options in each for name in options["properties"]})
    schema["propertyNames"] = {"allOf": [NO_SECRET_NAMES, {"enum": names}]}
    # The form starts on the first choice and sends its defaults: an empty one first, so that a run from the form
    # with another backend is not sent the first backend's options.
    schema["anyOf"] = [DEFAULTS_ONLY, *each]


class Group(BaseModel):
    """A group of settings: a section of the flow's form and a set of CLI options, under the group's title."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True,
                              defer_build=True)  # validators are built on first use: `fluxcat --help` stays instant

    @classmethod
    def title(cls) -> str:
        return cls.model_config.get("title") or cls.__name__

    @model_validator(mode="before")
    @classmethod
    def _from_first_field(cls, data: Any) -> Any:
        """`backend="tiny"` means the group's first field: short calls stay short (`dedupe="exact"`)."""
        if isinstance(data, (str, int, float)) and not isinstance(data, bool):
            return {next(iter(cls.model_fields)): data}
        return data


class RunScope(Group):
    """Which rows this run covers."""

    model_config = ConfigDict(title="Scope")

    limit: OptionalCount = None
    """Plan only the first N catalog rows (empty: every row)."""
    retry_failed: bool = False
    """Re-attempt rows whose last status is `failed`; finished rows are never redone."""
    dry_run: bool = False
    """Plan and report (a plan artifact and log), generate nothing."""


class RefreshScope(Group):
    """Which rows this refresh touches, and what it may delete."""

    model_config = ConfigDict(title="Scope")

    ids: list[str] = []
    """Refresh only these ids; every other row stays as the previous manifest has it (empty: all rows)."""
    prune: bool = False
    """Delete images the new manifest no longer uses (removed or changed rows). Off: nothing is deleted."""


class Images(Group):
    """What to generate: how images are batched and stored."""

    shard_size: int = Field(DEFAULT_SHARD_SIZE, ge=1)
    """Images per shard; one task runs one shard."""
    image_format: Literal[tuple(IMAGE_FORMATS)] = "png"
    """Encoding of stored images."""
    qa: bool = Field(True, title="Image QA")
    """Check each new image (OCR of quoted text, blank images, named colours) and reseed what a new seed can fix."""
    qa_retries: int = Field(2, ge=0, le=10, title="QA retries")
    """Regenerations with the next seed after a failed text or blank check."""


class Dedupe(Group, DedupeSettings):
    """Which prompts share one image."""  # fields and checks: fluxcat/dedupe/options.py, declared once there


class References(Group):
    """Product photos and sales channels: how rows with a reference_image are made, and one image per channel."""

    reference_mode: Literal[MODES] = Field(DEFAULT_MODE, title="Reference mode")
    """For rows with a reference_image and no reference_mode: `background` keeps the product's own pixels and makes a
    scene around them (FLUX.1 Fill), `edit` re-renders the product under the prompt (FLUX.1 Kontext), `white` puts
    the packshot on pure white (nothing generated, free)."""
    channels: list[str] = Field([], title="Channels")
    """Sales channels for rows without a `channels` value, e.g. marketplace-main,social-feed-portrait: one image
    each, made at the channel's aspect ratio (empty: one image at the row's own size)."""
    channels_file: str = Field("", title="Channels file")
    """Your own channel specs (JSON, any fsspec URL), added to the bundled ones; an entry of the same name replaces
    the bundled one (docs/reference.md)."""
    reference_segmenter: str = Field("", title="Segmenter")
    """`package.module:function` that masks a product photo without transparency (a PIL RGB image in, a mask out);
    empty: the plain background is flood-filled from the border. Nothing is ever downloaded for it."""


class BackendFields(Group):
    """The image generator, and what it may spend."""

    backend: BackendName = Field("auto", title="Backend")
    """`auto`: FLUX weights on a CUDA GPU, else the tiny test model; or a local or hosted backend."""
    api_key_block: str = Field("", title="API key Secret block")
    """Hosted backends: name of the Prefect Secret block holding the provider's API key (empty: the provider's
    environment variable on the worker, e.g. FAL_KEY)."""
    backend_options: dict[str, Any] = Field({}, title="More backend settings", json_schema_extra=_each_backends_options)
    """The chosen backend's own settings by name, e.g. schnell=/models/FLUX.1-schnell or base_url=...; each backend
    declares the ones it takes, with their types (any other name is refused); never secrets."""
    budget_usd: OptionalDollars = Field(None, title="Budget (USD)")
    """Spending cap for hosted backends: once the estimated spend would pass it no new image is submitted and the
    rest end `skipped` (a later run makes them). Empty: no cap."""
    private_data_check: bool = Field(True, title="Private-data check")
    """Reject prompts holding an e-mail address, phone, card or social security number on local backends too
    (hosted backends always refuse to send them). Blocked terms are refused on every backend regardless."""

    def backend_settings(self) -> dict:
        """The options the backend is built with: its own ones plus the key's Secret block."""
        return {**self.backend_options, **({"api_key_block": self.api_key_block} if self.api_key_block else {})}


class Backend(BackendFields):
    __doc__ = BackendFields.__doc__

    @field_validator("backend_options")
    @classmethod
    def _secrets_by_reference(cls, options: dict) -> dict:
        for name in options:
            if any(w in name.lower() for w in SECRET_OPTION_WORDS) and not name.endswith(BY_REFERENCE):
                raise ValueError(f"backend option {name!r} would carry a secret in clear: name a Prefect Secret block "
                                 "in api_key_block, or set the provider's environment variable on the worker")
        return options


class Storage(Group):
    """Credentials for s3://, gs:// and other remote catalogs and outputs, by reference only."""

    storage_block: str = Field("", title="Storage Secret block")
    """Name of a Prefect Secret block holding fsspec storage options as JSON (empty: $FLUXCAT_STORAGE_OPTIONS on
    the worker, else fsspec's own environment such as AWS_*)."""


class Review(Group):
    """A person's look at the images in the Prefect UI before the run ends: approve, reject or regenerate each."""

    review: Literal["off", "flagged", "all"] = "off"
    """`flagged`: after QA the run waits for a person to decide on each image QA flagged, in a form on the run's page
    in the Prefect UI (Resume); `all`: on every image the run made (at most 50); `off`: the run does not wait."""
    review_timeout_hours: float = Field(24.0, gt=0, title="Wait (hours)")
    """How long the run waits for the review. A deployment's run is suspended while it waits (no worker is held);
    when the wait runs out the run ends Failed and the images stay as QA left them (flagged)."""


class Execution(Group):
    """Where shard tasks run, and how long to wait for another writer: the operator's settings, not the run's."""

    model_config = ConfigDict(title="Operator settings")

    task_runner: Literal[TASK_RUNNERS] = "threads"
    """`threads` in the flow's process, or a `dask` or `ray` cluster."""
    cluster_address: str = ""
    """Dask scheduler (tcp://host:8786) or Ray (ray://host:10001) address; empty starts a local cluster."""
    workers: OptionalCount = None
    """Worker processes of a local cluster (empty: one per CPU; GPU shards: one per GPU)."""
    lease_wait_seconds: float = Field(0.0, ge=0)
    """If another run is writing this output, wait this long for it before failing."""

    @model_validator(mode="after")
    def _address_needs_a_cluster(self) -> "Execution":
        if self.cluster_address and self.task_runner == "threads":
            raise ValueError("cluster_address needs task_runner 'dask' or 'ray'; threads run inside the flow's process")
        return self


class RunOptions(RunScope, Images, References, Dedupe, BackendFields):
    """Everything a run is configured by, flat: the flows and the CLI build one from their groups."""

    catalog: str
    """Parquet catalog URL (local path, s3://, gs://, memory://); needs a `prompt` column."""
    output: str
    """Output root URL: images, manifest.parquet and index.html are written under it."""
    run_id: str = ""  # names the run's shared budget tracker (the flow sets a fresh one per run)
    storage_options: dict = Field(default_factory=dict, repr=False, exclude=True)  # secrets: out of reprs and dumps

    @model_validator(mode="after")
    def _options_the_backend_takes(self) -> "RunOptions":
        """Here, not in the Backend group: a flow's parameters pass Prefect's check (the form's schema allows any
        backend's options), so the run itself says, in one line, that these are not the chosen backend's."""
        from fluxcat.backends import options_for
        from fluxcat.backends.options import check_options

        check_options(self.backend, options_for(self.backend), self.backend_options)
        return self

    @classmethod
    def from_groups(cls, catalog: str, output: str, *groups: Group, **runtime) -> "RunOptions":
        fields = {name: value for group in groups for name, value in group if name in cls.model_fields}
        try:
            return cls(catalog=catalog, output=output, **fields, **runtime)
        except ValidationError as error:
            raise ValueError(readable(error)) from None


def validated(options: RunOptions) -> RunOptions:
    """Re-check every field (options may have been changed after they were built); errors name the field."""
    try:
        return RunOptions.model_validate({**options.model_dump(), "storage_options": options.storage_options})
    except ValidationError as error:
        raise ValueError(readable(error)) from None


def readable(error: ValidationError) -> str:
    """One line per bad field: which field, what is wrong, what was given."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
                     f"{e['msg'].removeprefix('Value error, ')}{_given(e.get('input'))}" for e in error.errors())


def _given(value: Any) -> str:
    """Scalars are echoed; mappings and lists are not, since they may hold a secret typed in the wrong place."""
    return f" (got {value!r})" if isinstance(value, (int, float, bool)) or value is None else ""
