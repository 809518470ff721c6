"""Review in the Prefect UI: after QA the run waits for a person (suspended when it runs from a deployment, so no
worker is held; paused in its process otherwise) with a form listing each image to review, thumbnail included;
the decisions are recorded in the manifest. Called from a flow (a task cannot wait for input)."""

from __future__ import annotations

from typing import Literal

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field, create_model

from fluxcat.review import Decision, record_decisions, rows_to_review
from fluxcat.settings import OptionalCount, Review, RunOptions
from fluxcat.store import Store
from tasks.reporting import md_escape
from tasks.runs import run_for

PAUSE_KEY = "fluxcat-review"  # one review per run: a resumed run finds the answer under it instead of waiting again


class ImageDecision(BaseModel):
    """What the person decided about one image."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "regenerate"] = Field(title="Decision")
    reason: str = Field("", title="Reason", description="Why: kept with a rejection (and with any decision)")
    seed: OptionalCount = Field(None, title="New seed", description="For regenerate (empty: the next seed)")


def review_form(rows: list[dict], contact_sheet: str) -> type[RunInput]:
    """One form section per image: its thumbnail, id and prompt (and why QA flagged it), then the decision."""
    fields = {row["field"]: (ImageDecision, Field(title=_title(row), description=_description(row))) for row in rows}
    form = create_model("ImageReview", __base__=RunInput, **fields)
    return form.with_initial_data(description=(
        f"# Review {len(rows)} images\n\nFor each image choose **approve** (keep it), **reject** (say why in Reason) "
        "or **regenerate** (make it again with a new seed; leave New seed empty for the next one). Full-size images "
        f"are in the contact sheet: {contact_sheet}"))


def review_images(options: RunOptions, review: Review, shards: list[str], contact_sheet: str) -> dict | None:
    """Wait for the person's decisions on the images the `review` setting selects, and carry them out (approve,
    reject, regenerate) in the shard parts. Returns how many of each, or None when nothing was reviewed."""
    logger = get_run_logger()
    store = Store(options.output, options.storage_options)
    rows = rows_to_review(store, shards, review.review)
    if not rows:
        logger.info("review: no image to review (%s)", review.review)
        return None
    logger.info("review: waiting up to %g h for a person to decide on %d images: open this flow run in the Prefect "
                "UI and press Resume", review.review_timeout_hours, len(rows))
    answer = _wait(review_form(rows, contact_sheet), max(1, round(review.review_timeout_hours * 3600)))
    if answer is None:
        logger.warning("review timed out: nobody answered within %g h; the images stay as QA left them",
                       review.review_timeout_hours)
        return None
    decisions = {name: Decision(**getattr(answer, name).model_dump()) for name in type(answer).model_fields
                 if isinstance(getattr(answer, name), ImageDecision)}
    counts = carry_out_review_task(options, rows, decisions, _reviewer())
    logger.info("review: %d approved, %d rejected, %d regenerated", counts["approve"], counts["reject"],
                counts["regenerate"])
    return counts


@task(name="carry-out-review", tags=["fluxcat"], cache_policy=NO_CACHE)
def carry_out_review_task(options: RunOptions, rows: list[dict], decisions: dict, reviewer: str) -> dict:
    """The person's decisions in the shard parts; an image to regenerate is made again here, through generation."""
    with run_for(options) as run:
        return record_decisions(run, rows, decisions, reviewer)


def _wait(form: type[RunInput], timeout: int):
    """Suspend a deployment's run (its process exits; the worker starts it again on Resume), pause any other run
    (it waits in its process); the form's answer, or None when the wait ran out."""
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run, suspend_flow_run
    from prefect.runtime import deployment

    if deployment.id:
        return suspend_flow_run(wait_for_input=form, timeout=timeout, key=PAUSE_KEY)
    try:
        return pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=2, key=PAUSE_KEY)
    except FlowPauseTimeout:
        return None


def _reviewer() -> str:
    from prefect.runtime import flow_run

    return f"a person, in flow run {flow_run.get_name()} ({flow_run.get_id()})"


def _title(row: dict) -> str:
    return f"row {row['row_number']} · {row['id'] or 'no id'}" + (f" · image {row['image_index'] + 1}"
                                                                 if row.get("image_index") else "")


def _description(row: dict) -> str:
    image = f"![{row['field']}]({row['thumbnail']})" if row["thumbnail"] else "(image unreadable)"
    flagged = f" QA flagged it: {row['qa_note']}." if row["qa_note"] else ""
    return f"{image}\n\n{md_escape(row['prompt'][:160])}.{flagged}"
