"""The dedupe audit trail: merged pairs and the closest pairs kept apart, each with its reason, as data and markdown."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from fluxcat.dedupe.normalise import normalise_prompt

AUDIT_SCAN_ROWS = 20_000  # near misses are looked for among this many rows (catalog order): the audit stays cheap
BUCKET_CAP = 8  # rows kept per near-miss bucket; a template's thousands of siblings add nothing to read


@dataclass(frozen=True)
class KeptApart:
    """Two rows whose prompts read alike that dedupe did not merge, and why."""

    row_number: int
    other: int
    similarity: float
    reason: str
    prompt: str
    other_prompt: str


def near_misses(entries, tokens: list, matches: dict, words, embedder, store, limit: int,
                threshold: float = 0.0) -> list[KeptApart]:
    """The `limit` most similar pairs (by embedding) among rows whose content words differ in one place only;
    `tokens` are the guard's tokens of the first rows (AUDIT_SCAN_ROWS at most)."""
    from fluxcat.dedupe.guard import compare

    buckets: dict[tuple, list[int]] = {}
    for position, prompt in enumerate(tokens):
        entry = entries[position]
        if entry.row_number in matches:
            continue
        for i in range(len(prompt.words)):
            bucket = buckets.setdefault((entry.params, i, prompt.words[:i], prompt.words[i + 1:]), [])
            if len(bucket) < BUCKET_CAP:
                bucket.append(position)
    pairs = sorted({(a, b) for bucket in buckets.values() for a, b in combinations(bucket, 2)
                    if tokens[a].words != tokens[b].words})[: limit * 20]
    if not pairs:
        return []
    rows = sorted({p for pair in pairs for p in pair})
    vectors = embedder.embed([normalise_prompt(entries[p].prompt) for p in rows], store)
    at = {p: i for i, p in enumerate(rows)}
    scored = sorted(((float(vectors[at[a]] @ vectors[at[b]]), a, b) for a, b in pairs), reverse=True)[:limit]
    return [KeptApart(entries[a].row_number, entries[b].row_number, round(similarity, 6),
                      _why_apart(compare(tokens[a], tokens[b], words), similarity, threshold),
                      entries[a].prompt, entries[b].prompt)
            for similarity, a, b in scored]


def _why_apart(verdict, similarity: float, threshold: float) -> str:
    if not verdict.same:
        return verdict.reason
    if similarity < threshold:
        return f"embeddings below the threshold (cosine {similarity:.3f} < {threshold:g}); the guard would accept: " \
               f"{verdict.reason}"
    return f"not nominated together (the pair search's other candidates came first); the guard would accept: " \
           f"{verdict.reason}"


def audit_markdown(duplicates, kept_apart, limit: int = 50) -> str:
    """Markdown for `fluxcat plan` and the Prefect artifact: what dedupe merged and what it kept apart, with reasons."""
    title = f"## Dedupe audit: {len(duplicates)} rows merged, {len(kept_apart)} closest pairs kept apart\n\n"
    return title + merged_markdown(duplicates, limit) + "\n" + kept_apart_markdown(kept_apart, limit)


def merged_markdown(duplicates, limit: int = 50) -> str:
    lines = ["### Merged (the later row reuses the earlier row's image)", "",
             "| row | reuses row | similarity | prompt | first prompt | why |", "|---:|---:|---:|---|---|---|"]
    lines += [f"| {m.row_number} | {m.canonical} | {m.similarity:.3f} | {_cell(m.prompt)} | "
              f"{_cell(m.canonical_prompt)} | {_cell(m.reason)} |" for m in duplicates[:limit]]
    if len(duplicates) > limit:
        lines.append(f"\n... and {len(duplicates) - limit} more (the plan's JSON lists all)")
    return "\n".join(lines if duplicates else ["No rows merged."]) + "\n"


def kept_apart_markdown(kept_apart, limit: int = 50) -> str:
    lines = ["### Closest pairs kept apart (each is generated)", "",
             "| row | row | similarity | prompt | other prompt | why not merged |", "|---:|---:|---:|---|---|---|"]
    lines += [f"| {k.row_number} | {k.other} | {k.similarity:.3f} | {_cell(k.prompt)} | {_cell(k.other_prompt)} | "
              f"{_cell(k.reason)} |" for k in kept_apart[:limit]]
    return "\n".join(lines if kept_apart else ["No near misses found."]) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
