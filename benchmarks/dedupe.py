"""Dedupe benchmark: embedding throughput vs raw SentenceTransformer.encode, and pair search on synthetic embeddings.

    .venv/bin/python benchmarks/dedupe.py embed --prompts 2000
    .venv/bin/python benchmarks/dedupe.py search --sizes 100000 1000000 --baseline main --rounds 2
    .venv/bin/python benchmarks/dedupe.py agreement          # ONNX / int8 backends vs fp32 on the labelled pairs
    .venv/bin/python benchmarks/dedupe.py quality --sets own tuning dev dev2 dev3 dev4 dev5 dev6 dev7 dev8   # rewordings / variants merged, per domain, category
    .venv/bin/python benchmarks/dedupe.py quality --sets heldout          # the held-out domains: scores only, once
    .venv/bin/python benchmarks/dedupe.py quality --folder PATH           # any folder of <domain>.tsv files: scores only
    .venv/bin/python benchmarks/dedupe.py lemmas                      # lemmatisers compared on tests/fluxcat/dedupe/lemmas.tsv
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fluxcat.dedupe.pairs: the labelled pairs
sys.path.insert(0, os.environ.get("FLUXCAT_TREE", str(ROOT)))  # --baseline points this at older fluxcat code
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

COLOURS = ["red", "brown", "black", "white", "navy", "olive", "teal", "beige", "pink", "grey"]
MATERIALS = ["leather", "cotton", "linen", "wool", "canvas", "steel", "oak", "glass", "ceramic", "bamboo"]
ITEMS = ["wallet", "backpack", "mug", "lamp", "chair", "t-shirt", "vase", "bottle", "jacket", "teapot"]
SCENES = ["on a white background, product photo", "on a wooden table, soft daylight", "in a loft, evening light",
          "on a marble countertop, studio lighting", "hanging on a hook, close-up"]


def synthetic_prompts(n: int) -> list[str]:
    """Distinct catalog-like prompts (colour x material x item x scene x size)."""
    out = []
    for i in range(n):
        out.append(f"A {COLOURS[i % 10]} {MATERIALS[i // 10 % 10]} {ITEMS[i // 100 % 10]}, size {i // 5000 + 1}, "
                   f"{SCENES[i // 1000 % 5]}")
    return out


def bench_embed(args) -> dict:
    """Prompts/s of raw SentenceTransformer.encode vs fluxcat's Embedder (same model, same prompts), interleaved
    over several rounds; the best round of each is reported (the machine is shared, so the best is the least noisy)."""
    import torch

    from fluxcat.dedupe import normalise_prompt
    from fluxcat.dedupe.encoders import Embedder, load_model
    from fluxcat.store import Store

    torch.set_num_threads(os.cpu_count() or 2)
    texts = [normalise_prompt(p) for p in synthetic_prompts(args.prompts)]
    raw = load_model(None, "torch")
    variants = ["raw", "fluxcat"] + [b for b in args.backends if b != "torch"]
    for backend in variants[2:]:
        load_model(None, backend).encode(texts[:64])  # export/load + warm up outside the timing
    raw.encode(texts[:64], batch_size=64)
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in variants:
            started = time.perf_counter()
            if name == "raw":
                raw.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
            else:
                Embedder(backend="torch" if name == "fluxcat" else name).embed(texts)
            rate = len(texts) / (time.perf_counter() - started)
            best[name] = max(best.get(name, 0.0), rate)
    results = {"prompts": len(texts), "rounds": args.rounds, "torch_threads": torch.get_num_threads()}
    results.update({f"{name}_prompts_per_s": round(rate, 1) for name, rate in best.items()})
    results.update({f"{name}_vs_raw": round(rate / best["raw"], 2) for name, rate in best.items() if name != "raw"})
    store = Store(f"memory://dedupe-bench-{os.getpid()}")
    Embedder().embed(texts, store)
    cached = Embedder()
    started = time.perf_counter()
    cached.embed(texts, store)
    results["cached_rerun_prompts_per_s"] = round(len(texts) / (time.perf_counter() - started), 1)
    results["cached_rerun_encoded"] = cached.encoded
    return results


def synthetic_embeddings(n: int, dim: int = 384, topics: int = 2000, seed: int = 0):
    """Unit vectors around `topics` centres (typical cosine within a topic ~0.5), plus 1% planted near-duplicates
    (cosine ~0.97 to an earlier row)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65536):  # in chunks: the benchmark's peak memory should be the search's, not this
        chunk = rng.standard_normal((min(65536, n - start), dim), dtype=np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        chunk += centres[rng.integers(0, topics, len(chunk))]
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        x[start:start + len(chunk)] = chunk
    planted = n // 100
    src = rng.choice(n // 2, planted, replace=False)
    dst = rng.choice(np.arange(n // 2, n), planted, replace=False)
    noise = rng.standard_normal((planted, dim), dtype=np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    x[dst] = x[src] + 0.25 * noise
    x[dst] /= np.linalg.norm(x[dst], axis=1, keepdims=True)
    return x, src, dst


def bench_search_one(n: int, threshold: float, method: str) -> dict:
    """Pair search + union-find on n synthetic embeddings: this tree's streamed path (iter_similar_pairs unioned
    chunk by chunk), or, run against an older checkout (PYTHONPATH), its similar_pairs-then-union path."""
    import numpy as np

    try:
        from fluxcat.dedupe.search import EXACT_LIMIT, UnionFind, iter_similar_pairs
        streamed = True
    except ImportError:  # a checkout from before fluxcat/dedupe/ was a package: the baseline
        from fluxcat.semantic import EXACT_LIMIT, UnionFind, similar_pairs
        streamed = False

    x, src, dst = synthetic_embeddings(n)
    import torch  # imported before timing: its import is not dedupe work

    torch.set_num_threads(os.cpu_count() or 2)
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    groups, pairs = UnionFind(n), 0
    if method == "faiss":
        chunks = [_faiss_pairs(x, threshold)]
    else:
        limit = {"auto": EXACT_LIMIT, "exact": n, "ivf": 0}[method]
        chunks = iter_similar_pairs(x, threshold, limit) if streamed else [similar_pairs(x, threshold, limit)[:2]]
    for rows, cols, *_ in chunks:
        pairs += len(rows)
        for a, b in zip(rows.tolist(), cols.tolist()):
            groups.union(a, b)
    labels = np.array([groups.find(i) for i in range(n)])
    seconds = time.perf_counter() - started
    recall = float(np.mean(labels[src] == labels[dst]))
    return {"n": n, "method": method, "code": "streamed" if streamed else "baseline", "seconds": round(seconds, 2),
            "pairs": pairs, "rows_merged": int((labels != np.arange(n)).sum()), "planted_recall": round(recall, 4),
            "peak_rss_mb": round(_peak_rss_mb(), 0), "peak_rss_before_search_mb": round(rss_before, 0)}


def _faiss_pairs(x, threshold: float, nlist: int = 1024, nprobe: int = 2):
    """Baseline: faiss IndexIVFFlat (inner product) trained on a sample, then range search over every vector."""
    import faiss
    import numpy as np

    quantizer = faiss.IndexFlatIP(x.shape[1])
    index = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    index.train(x[rng.choice(len(x), min(len(x), nlist * 39), replace=False)])
    index.add(x)
    index.nprobe = nprobe
    lims, _, ids = index.range_search(x, threshold)
    rows = np.repeat(np.arange(len(x)), np.diff(lims.astype(np.int64)))
    keep = ids > rows
    return rows[keep], ids[keep]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_search(args) -> list[dict]:
    """Each size and method in its own process (peak RSS is per process); with --baseline REF, the same work on the
    code at git REF too, interleaved over --rounds, and the ratio of best times."""
    trees = {"streamed": str(ROOT)}
    if args.baseline:
        trees["baseline"] = _checkout(args.baseline)
    out = []
    for n in args.sizes:
        for method in args.methods:
            best = {}
            for _ in range(args.rounds):
                for code, tree in trees.items():
                    env = dict(os.environ, PYTHONPATH=tree, FLUXCAT_TREE=tree)
                    command = [sys.executable, __file__, "search-one", str(n), method, str(args.threshold)]
                    result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, env=env,
                                            cwd=tree)
                    row = ({"n": n, "method": method, "code": code, "error": result.stderr.strip().splitlines()[-1:]}
                           if result.returncode else json.loads(result.stdout.strip().splitlines()[-1]))
                    print(json.dumps(row), flush=True)
                    out.append(row)
                    if "seconds" in row:
                        best[code] = min(best.get(code, 1e9), row["seconds"])
            if len(best) == 2:
                out.append({"n": n, "method": method, "streamed_vs_baseline_time": round(best["streamed"] / best["baseline"], 3)})
                print(json.dumps(out[-1]), flush=True)
    return out


def _checkout(ref: str) -> str:
    """The fluxcat package at git `ref`, extracted into a temporary folder."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="fluxcat-baseline-")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "fluxcat"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    return folder


def bench_agreement(args) -> dict:
    """Cosine between fp32 and each other backend's embedding of the same prompt, over the labelled pairs."""
    import numpy as np

    from fluxcat.dedupe import normalise_prompt
    from fluxcat.dedupe.encoders import Embedder
    from tests.fluxcat.dedupe.pairs import REWORDINGS as PARAPHRASES, VARIANTS

    texts = sorted({normalise_prompt(p) for _, a, b in VARIANTS + PARAPHRASES for p in (a, b)})
    reference = Embedder().embed(texts)
    results = {"prompts": len(texts)}
    for backend in args.backends:
        if backend == "torch":
            continue
        try:
            other = Embedder(backend=backend).embed(texts)
        except Exception as error:  # report why a backend is unavailable instead of failing the whole run
            results[backend] = f"unavailable: {type(error).__name__}: {str(error)[:200]}"
            continue
        agreement = np.sum(reference * other, axis=1)
        decisions = [(_similarity(reference, texts, a, b) >= 0.95) != (_similarity(other, texts, a, b) >= 0.95)
                     for _, a, b in VARIANTS + PARAPHRASES]
        results[backend] = {"min_cosine_vs_fp32": round(float(agreement.min()), 5),
                            "mean_cosine_vs_fp32": round(float(agreement.mean()), 5),
                            "pairs": len(decisions), "pairs_flipping_at_0.95": int(sum(decisions))}
    return results


def _similarity(vectors, texts: list[str], a: str, b: str) -> float:
    from fluxcat.dedupe import normalise_prompt

    return float(vectors[texts.index(normalise_prompt(a))] @ vectors[texts.index(normalise_prompt(b))])


def bench_quality(args) -> dict:
    """Rewordings merged and variants merged through fluxcat's semantic dedupe at its defaults, per labelled set
    (own, tuning, dev, dev2, dev3, dev4, dev5, dev6, dev7, dev8, heldout: tests/fluxcat/dedupe/pairs.py) or folder (--folder), per domain and per category, as
    markdown tables; plus the guard alone, a threshold sweep (guard on) and, with --baseline REF, the code at REF on
    the same pairs. A held-out set or a folder is scored only: its pairs are never printed."""
    import numpy as np

    from fluxcat.dedupe import DEFAULT_THRESHOLD, normalise_prompt
    from fluxcat.dedupe.encoders import Embedder
    from fluxcat.dedupe.guard import compare, load_lexicon, tokenise
    from tests.fluxcat.dedupe.pairs import SEEN, labelled, merged

    embedder, lexicon = Embedder(), load_lexicon()
    results: dict = {"default_threshold": DEFAULT_THRESHOLD, "sets": {}}
    for name in args.sets + args.folder:
        pairs = labelled(name)
        decisions = merged(pairs, embedder=embedder)
        vectors = embedder.embed([normalise_prompt(p) for pair in pairs for p in (pair.a, pair.b)])
        cosine = np.sum(vectors[0::2] * vectors[1::2], axis=1)
        guard = [compare(tokenise(p.a, lexicon), tokenise(p.b, lexicon), lexicon).same for p in pairs]
        tables = {by: _table(pairs, decisions, by) for by in ("domain", "category")}
        summary = _table(pairs, decisions, "set")["rows"][0]
        results["sets"][name] = {
            "pairs": len(pairs), **summary,
            "guard_alone": _counts(pairs, guard),
            "sweep_merged_with_guard": {str(t): _counts(pairs, [g and c >= t for g, c in zip(guard, cosine)])
                                        for t in args.thresholds},
            "by_domain": tables["domain"]["rows"], "by_category": tables["category"]["rows"]}
        if name in SEEN:  # held-out sets and folders are scored, their pairs never printed
            results["sets"][name]["not_as_labelled"] = [
                f"{p.domain}/{p.category}/{p.label}: {p.a} | {p.b} | "
                f"{compare(tokenise(p.a, lexicon), tokenise(p.b, lexicon), lexicon).reason} | cos {c:.3f}"
                for p, m, c in zip(pairs, decisions, cosine) if m != (p.label == "same")]
        print(f"\n### {name}: {summary['rewordings merged']} rewordings merged, {summary['variants merged']} "
              f"variants merged\n\n{tables['domain']['markdown']}\n\n{tables['category']['markdown']}", flush=True)
    if args.baseline:
        tree = _checkout(args.baseline)
        command = [sys.executable, __file__, "quality-one", *args.sets, *args.folder]
        run = subprocess.run(command, capture_output=True, text=True, check=True, cwd=tree,
                             env=dict(os.environ, PYTHONPATH=tree, FLUXCAT_TREE=tree))
        results[f"baseline_{args.baseline}_at_its_defaults"] = json.loads(run.stdout.strip().splitlines()[-1])
    return results


def _counts(pairs, decisions) -> dict:
    same = [m for p, m in zip(pairs, decisions) if p.label == "same"]
    different = [m for p, m in zip(pairs, decisions) if p.label == "different"]
    return {"rewordings merged": _share(sum(same), len(same)), "variants merged": _share(sum(different), len(different))}


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f}%)" if whole else "-"


def _table(pairs, decisions, by: str) -> dict:
    """Rows of (group, rewordings merged, variants merged), and the same as a markdown table."""
    groups: dict[str, list] = {}
    for pair, decision in zip(pairs, decisions):
        groups.setdefault(getattr(pair, by), []).append((pair, decision))
    rows = [{by: group, **_counts([p for p, _ in items], [d for _, d in items])} for group, items in sorted(groups.items())]
    lines = [f"| {by} | rewordings merged | variants merged |", "|---|---:|---:|"]
    lines += [f"| {row[by]} | {row['rewordings merged']} | {row['variants merged']} |" for row in rows]
    return {"rows": rows, "markdown": "\n".join(lines)}


def _merged_counts(sets: list[str]) -> dict:
    """Per set, rewordings and variants merged by find_duplicates at its defaults, one pair at a time (this tree's
    or an older checkout's code: the baseline)."""
    from fluxcat.dedupe import DedupeEntry, find_duplicates
    from tests.fluxcat.dedupe.pairs import labelled

    results = {}
    for name in sets:
        pairs = labelled(name)
        decisions = [bool(find_duplicates([DedupeEntry(0, p.a, "p"), DedupeEntry(1, p.b, "p")], "semantic"))
                     for p in pairs]
        results[name] = _counts(pairs, decisions)
    return results


def bench_lemmas(args) -> dict:
    """Lemmatisers on tests/fluxcat/dedupe/lemmas.tsv: a word is right when it meets its lemma's token (and stays
    apart from the word it must differ from: "glasses" is not "glass"); speed over every word of the labelled pairs,
    caches cold. The optional ones (simplemma, spacy-lookups-data, NLTK with WordNet) are measured when installed."""
    import re as regex

    from tests.fluxcat.dedupe.pairs import HERE, labelled

    rows = [line.split("\t") for line in (HERE / "lemmas.tsv").read_text().splitlines()[1:] if line.strip()]
    vocabulary = sorted({w for name in ("own", "tuning") for p in labelled(name)
                         for w in regex.findall(r"[a-z]+", f"{p.a} {p.b}".lower())})
    results = {"gold_words": len(rows), "speed_words": len(vocabulary)}
    for name, make in _lemmatisers().items():
        try:
            lemmatise = make()
        except ImportError as error:
            results[name] = f"not installed ({error.name})"
            continue
        started = time.perf_counter()
        for word in vocabulary:
            lemmatise(word)
        seconds = time.perf_counter() - started
        wrong = [row[0] for row in rows if not _lemma_right(lemmatise, *row)]
        results[name] = {"right": f"{len(rows) - len(wrong)}/{len(rows)}", "words_per_s": round(len(vocabulary) / seconds),
                         "wrong": wrong}
    if args.baseline:
        tree = _checkout(args.baseline)
        run = subprocess.run([sys.executable, __file__, "lemmas-one"], capture_output=True, text=True, check=True,
                             cwd=tree, env=dict(os.environ, PYTHONPATH=tree, FLUXCAT_TREE=tree))
        results[f"{args.baseline}: suffix rules and lists"] = json.loads(run.stdout.strip().splitlines()[-1])
    return results


def _lemma_right(lemmatise, word: str, lemma: str, apart: str = "") -> bool:
    return lemmatise(word) == lemmatise(lemma) and (not apart or lemmatise(word) != lemmatise(apart))


def _lemmatisers() -> dict:
    def fluxcat():
        from fluxcat.dedupe.lexicon import inflection, lemma, load_lexicon, spelled

        lexicon = load_lexicon()
        inflection.cache_clear()
        return lambda w: lemma(spelled(w), lexicon.irregular, lexicon.not_inflected)[0]

    def lemminflect_alone():
        from fluxcat.dedupe.lexicon import inflection

        return lambda w: inflection.__wrapped__(w)[0]

    def simplemma():
        import simplemma

        return lambda w: simplemma.lemmatize(w, lang="en")

    def spacy_lookups():
        import spacy_lookups_data

        table = json.loads(gzip_or_plain(Path(spacy_lookups_data.__file__).parent / "data" / "en_lemma_lookup.json"))
        return lambda w: table.get(w, w)

    def wordnet_morphy():
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return lambda w: wordnet.morphy(w, "n") or wordnet.morphy(w, "v") or w

    return {"fluxcat: LemmInflect + lists + breame": fluxcat, "LemmInflect alone": lemminflect_alone,
            "simplemma": simplemma, "spaCy lookups (spacy-lookups-data)": spacy_lookups,
            "NLTK WordNet morphy (data downloaded by hand)": wordnet_morphy}


def gzip_or_plain(path: Path) -> str:
    import gzip

    for candidate in (path, path.with_suffix(path.suffix + ".gz")):
        if candidate.exists():
            data = candidate.read_bytes()
            return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()
    raise ImportError(name=str(path))


def _old_rules_lemmas() -> dict:
    """The same measure for an older checkout's hand-written suffix rules (fluxcat.dedupe.guard._lemma)."""
    from fluxcat.dedupe.guard import _lemma, load_lexicon
    from tests.fluxcat.dedupe.pairs import HERE

    lexicon = load_lexicon()
    lemmatise = lambda w: _lemma(w, lexicon.irregular, lexicon.not_inflected)[0]
    rows = [line.split("\t") for line in (HERE / "lemmas.tsv").read_text().splitlines()[1:] if line.strip()]
    wrong = [row[0] for row in rows if not _lemma_right(lemmatise, *row)]
    return {"right": f"{len(rows) - len(wrong)}/{len(rows)}", "wrong": wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    embed = commands.add_parser("embed")
    embed.add_argument("--prompts", type=int, default=2000)
    embed.add_argument("--backends", nargs="*", default=["torch"])
    embed.add_argument("--rounds", type=int, default=3)
    search = commands.add_parser("search")
    search.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    search.add_argument("--methods", nargs="+", default=["auto"], choices=["auto", "exact", "ivf", "faiss"])
    search.add_argument("--threshold", type=float, default=0.95)
    search.add_argument("--timeout", type=int, default=1800)
    search.add_argument("--baseline", default=None, help="git ref whose code runs the same work, e.g. main")
    search.add_argument("--rounds", type=int, default=1)
    one = commands.add_parser("search-one")
    one.add_argument("n", type=int)
    one.add_argument("method")
    one.add_argument("threshold", type=float)
    agreement = commands.add_parser("agreement")
    agreement.add_argument("--backends", nargs="*", default=["onnx", "onnx-int8"])
    from tests.fluxcat.dedupe.pairs import SETS

    quality = commands.add_parser("quality")
    quality.add_argument("--sets", nargs="*", default=["own", "tuning", "dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8"], choices=list(SETS))
    quality.add_argument("--folder", nargs="*", default=[], help="folders of <domain>.tsv pairs to score (never printed)")
    quality.add_argument("--thresholds", type=float, nargs="*", default=[0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    quality.add_argument("--baseline", default=None, help="git ref whose find_duplicates runs the same pairs, e.g. main")
    one_quality = commands.add_parser("quality-one")
    one_quality.add_argument("sets", nargs="+")
    lemmas = commands.add_parser("lemmas")
    lemmas.add_argument("--baseline", default=None, help="git ref whose hand-written rules run the same words, e.g. main")
    commands.add_parser("lemmas-one")
    args = parser.parse_args()
    if args.command == "quality-one":
        print(json.dumps(_merged_counts(args.sets)))
        return
    if args.command == "lemmas-one":
        print(json.dumps(_old_rules_lemmas()))
        return
    if args.command == "search-one":
        print(json.dumps(bench_search_one(args.n, args.threshold, args.method)))
        return
    started = time.perf_counter()
    result = {"embed": bench_embed, "search": bench_search, "agreement": bench_agreement,
              "quality": bench_quality, "lemmas": bench_lemmas}[args.command](args)
    print(json.dumps({"command": " ".join(sys.argv), "wall_s": round(time.perf_counter() - started, 1),
                      "cpus": os.cpu_count(), "load_avg": os.getloadavg(), "result": result}, indent=2))


if __name__ == "__main__":
    main()
