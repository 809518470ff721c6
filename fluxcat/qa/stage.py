"""The shard's QA stage: judge images on CPU threads during the next batch, reseed failures, keep the best attempt."""

from __future__ import annotations

import json
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from fluxcat.backends.base import ImageRequest, ImageResult
from fluxcat.limits import SEED_RANGE
from fluxcat.plan import content_key
from fluxcat.qa import QaSettings
from fluxcat.qa.checks import RETRIABLE, Check, blank_check, colour_check, text_check
from fluxcat.qa.expect import Expectation, expectation

if TYPE_CHECKING:
    from fluxcat.backends.base import Backend

SEED_SPACE = SEED_RANGE[1] + 1
# Admits a retry against the run's budget: (planned key, retry request) -> may it be submitted?
AdmitRetry = Callable[[str, ImageRequest], bool]


@dataclass
class Attempt:
    request: ImageRequest
    result: ImageResult
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.result.ok and all(check.passed for check in self.checks)

    @property
    def rank(self) -> tuple:
        """Better attempts rank higher: made at all, checks passed, lowest score; ties keep the earlier one."""
        scores = [check.score for check in self.checks]
        return (self.result.ok, sum(check.passed for check in self.checks), min(scores, default=1.0))

    def retriable(self) -> bool:
        return not self.result.ok or any(c.name in RETRIABLE and not c.passed for c in self.checks)

    def record(self, number: int) -> dict:
        out = {"attempt": number, "seed": self.request.seed, "key": self.request.key, "passed": self.passed}
        if not self.result.ok:
            return out | {"error": self.result.error}
        return out | {"checks": {check.name: check.record() for check in self.checks}}


@dataclass
class Tracked:
    """One planned image on its way through QA: its attempts so far and the best one (the only image held)."""

    planned: ImageRequest
    row: dict
    expects: Expectation
    records: list[dict] = field(default_factory=list)
    best: Attempt | None = None
    best_number: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0


class ShardQa:
    """Wraps a backend's results for one shard: yields (planned key, kept result, row updates) per request."""

    def __init__(self, settings: QaSettings, model_id: Callable[[str], str]):
        self.settings, self.model_id = settings, model_id

    def run(self, backend: "Backend", chunks: Iterable[list[ImageRequest]], rows_by_key: dict[str, list[dict]],
            admit_retry: AdmitRetry | None = None) -> Iterator[tuple[str, ImageResult, dict]]:
        tracked: dict[str, tuple[Tracked, ImageRequest]] = {}  # key of an attempt in flight -> its row, request
        judging: list[Future] = []
        retries: list[ImageRequest] = []
        with ThreadPoolExecutor(self.settings.threads, thread_name_prefix="fluxcat-qa") as pool:
            def submit(requests: list[ImageRequest]) -> None:
                for result in backend.generate(requests):
                    if result.key in tracked:
                        state, request = tracked.pop(result.key)
                        judging.append(pool.submit(self.judge, state, request, result))
                for request in requests:  # a backend that returned nothing for a request: that attempt failed
                    if request.key in tracked:
                        state, _ = tracked.pop(request.key)
                        missing = ImageResult(request.key, error="backend returned no result for this image",
                                              backend=backend.name)
                        judging.append(pool.submit(self.judge, state, request, missing))

            for chunk in chunks:
                for request in chunk:
                    row = rows_by_key[request.key][0]
                    tracked[request.key] = (Tracked(request, row, expectation(row)), request)
                submit(chunk)
                yield from self._settle(judging, retries, tracked, admit_retry, block=False)
            while judging or retries:
                if retries:
                    batch, retries[:] = retries[:backend.max_batch or 1], retries[backend.max_batch or 1:]
                    submit(batch)
                yield from self._settle(judging, retries, tracked, admit_retry, block=not retries)

    def judge(self, state: Tracked, request: ImageRequest, result: ImageResult) -> tuple[Tracked, Attempt]:
        """Run the checks that apply (on a QA thread); a blank image is not read for text or colour."""
        attempt = Attempt(request, result)
        if not result.ok:
            return state, attempt
        attempt.checks.append(blank_check(result.image, self.settings))
        if not attempt.checks[0].passed:
            return state, attempt
        if state.expects.text:
            attempt.checks.append(text_check(result.image, state.expects.text, self.settings))
        if state.expects.colour:
            attempt.checks.append(colour_check(result.image, state.expects.colour, state.expects.colour_source,
                                               self.settings))
        return state, attempt

    def _settle(self, judging: list[Future], retries: list[ImageRequest], tracked: dict[str, tuple[Tracked, ImageRequest]],
                admit_retry: AdmitRetry | None, block: bool) -> Iterator[tuple[str, ImageResult, dict]]:
        """Act on finished judgements: yield decided rows, queue retries; `block` waits for at least one."""
        done = [f for f in judging if f.done()] if not block else list(wait(judging, return_when=FIRST_COMPLETED).done)
        for future in done:
            judging.remove(future)
            state, attempt = future.result()
            if not state.records and not attempt.result.ok:  # the backend made nothing: a failure, not QA's
                yield state.planned.key, attempt.result, {}
                continue
            self._add(state, attempt)
            retry = self._next_request(state) if not attempt.passed and attempt.retriable() else None
            if retry is not None and (admit_retry is None or admit_retry(state.planned.key, retry)):
                tracked[retry.key] = (state, retry)
                retries.append(retry)
                continue
            yield self._final(state, budget_stopped=retry is not None)

    def _add(self, state: Tracked, attempt: Attempt) -> None:
        state.records.append(attempt.record(len(state.records) + 1))
        state.seconds += attempt.result.seconds
        state.cost_usd += attempt.result.cost_usd or 0.0
        if state.best is None or attempt.rank > state.best.rank:
            state.best, state.best_number = attempt, len(state.records)  # the earlier best's image is released

    def _next_request(self, state: Tracked) -> ImageRequest | None:
        if len(state.records) > self.settings.retries:
            return None
        # the next seed not used by the row's other images (a row of n images uses seed..seed+n-1)
        seed = (state.planned.seed + len(state.records) * (state.row.get("num_images") or 1)) % SEED_SPACE
        p = state.planned
        key = content_key(self.model_id(p.model), p.prompt, p.width, p.height, p.steps, p.guidance, seed,
                          state.row.get("image_index") or 0)
        return replace(p, key=key, seed=seed)

    def _final(self, state: Tracked, budget_stopped: bool) -> tuple[str, ImageResult, dict]:
        best = state.best
        kept = state.best_number
        status = ("passed" if kept == 1 else "retried") if best.passed else "flagged"
        details = {"kept": kept, "planned_key": state.planned.key, "checks": state.records[kept - 1].get("checks", {}),
                   "attempts": state.records}
        if not best.passed:
            details["reason"] = self._flag_reason(best) + ("; retry not submitted: budget" if budget_stopped else "")
        if state.expects.notes:
            details["notes"] = list(state.expects.notes)
        result = replace(best.result, seconds=state.seconds, cost_usd=state.cost_usd)
        updates = {"key": best.request.key, "seed": best.request.seed, "qa_status": status,
                   "qa_score": min((c.score for c in best.checks), default=1.0), "qa_attempts": len(state.records),
                   "qa_details": json.dumps(details, sort_keys=True, ensure_ascii=False)}
        return state.planned.key, result, updates

    @staticmethod
    def _flag_reason(best: Attempt) -> str:
        failed = [c for c in best.checks if not c.passed]
        reasons = {"blank": lambda c: f"image is {c.detail.get('problem')}",
                   "text": lambda c: f"text reads {c.detail['found']!r}, expected {c.detail['expected']!r}",
                   "colour": lambda c: f"colour {c.detail['found']} is ΔE {c.detail['delta_e']} from {c.detail['expected']} "
                                       f"({c.detail['from']})"}
        return "; ".join(reasons[c.name](c) for c in failed)
