"""Image QA cost per image on the CPU: blank, OCR text and colour checks, against PNG encoding of the same image."""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fluxcat.backends.base import Backend  # noqa: E402

PROMPTS = ['a {} coffee bag printed with "FRESH COFFEE"', 'a {} tote bag with the label "NORTH TRAIL 42"',
           'a {} candle jar, label reading "Fig & Cedar"', 'a {} water bottle printed "SUMMER SALE 2026"']
COLOURS = ["navy", "red", "teal", "olive", "burgundy"]


def timed_ms(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return (time.perf_counter() - start) * 1000


def measure(size: int, images: int) -> dict[str, list[float]]:
    from fluxcat.backends.text_render import TextRenderBackend
    from fluxcat.qa import QaSettings
    from fluxcat.qa.checks import blank_check, colour_check, text_check
    from fluxcat.qa.expect import expectation
    from fluxcat.qa.ocr import TextReader

    backend, settings, reader = TextRenderBackend(misspell_rate=0.5), QaSettings(), TextReader(engines=1)
    times: dict[str, list[float]] = {"png encode (baseline)": [], "blank": [], "ocr text": [], "colour": []}
    for n in range(images):
        prompt = PROMPTS[n % len(PROMPTS)].format(COLOURS[n % len(COLOURS)])
        image, expects = backend.render(prompt, n, size, size), expectation({"prompt": prompt})
        times["png encode (baseline)"].append(timed_ms(lambda: image.save(io.BytesIO(), "PNG", compress_level=3)))
        times["blank"].append(timed_ms(blank_check, image, settings))
        times["ocr text"].append(timed_ms(text_check, image, expects.text, settings, reader))
        times["colour"].append(timed_ms(colour_check, image, expects.colour, expects.colour_source, settings))
    return times


def throughput(size: int, images: int) -> list[tuple[str, float, float]]:
    """OCR images per second on this machine's cores: one engine spreading each image over every core, against
    one single-threaded engine per core reading images side by side (what the QA threads do)."""
    from concurrent.futures import ThreadPoolExecutor

    from fluxcat.backends.text_render import TextRenderBackend
    from fluxcat.qa.ocr import TextReader

    cores = os.cpu_count() or 1
    backend = TextRenderBackend(misspell_rate=0.0)
    batch = [backend.render(PROMPTS[n % len(PROMPTS)].format(COLOURS[n % len(COLOURS)]), n, size, size)
             for n in range(images)]
    out = []
    for label, engines, threads in ((f"1 engine x {cores} threads", 1, cores), (f"{cores} engines x 1 thread", cores, 1)):
        reader = TextReader(engines=engines, threads_per_engine=threads)
        with ThreadPoolExecutor(engines) as pool:
            list(pool.map(reader, batch[:engines]))  # load the engines first
            start = time.perf_counter()
            list(pool.map(reader, batch))
            seconds = time.perf_counter() - start
        out.append((label, images / seconds, images / seconds / cores))
    return out


class BusyBackend(Backend):
    """The text-render backend taking `latency` seconds of wall time per image with the CPU free, as a GPU does."""

    name, max_batch = "busy", 4

    def __init__(self, latency: float):
        from fluxcat.backends.text_render import TextRenderBackend

        self.inner, self.latency = TextRenderBackend(misspell_rate=0.0), latency
        self.model_id = self.inner.model_id

    def generate(self, requests):
        for request in requests:
            time.sleep(self.latency)
            yield from self.inner.generate([request])


def overlap(images: int, latency: float, size: int) -> dict[str, float]:
    """Wall time of one shard with QA off and on: how much of QA hides behind generation."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fluxcat.pipeline import RunOptions, open_run, plan, run_one_shard

    walls = {}
    with tempfile.TemporaryDirectory() as root:
        catalog = f"{root}/catalog.parquet"
        prompts = [PROMPTS[n % len(PROMPTS)].format(COLOURS[n % len(COLOURS)]) + f", shot {n}" for n in range(images)]
        pq.write_table(pa.table({"prompt": prompts, "width": [size] * images, "height": [size] * images}), catalog)
        for mode in ("off", "on"):
            options = RunOptions(catalog=catalog, output=f"{root}/out-{mode}", dedupe="off", shard_size=images,
                                 qa=mode == "on")
            with open_run(options, backend=BusyBackend(latency)) as run:
                [shard] = plan(run).shards
                start = time.perf_counter()
                run_one_shard(run, shard.name)
                walls[mode] = time.perf_counter() - start
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--images", type=int, default=20, help="images per size")
    parser.add_argument("--latency", type=float, default=1.0, help="overlap run: seconds of generation per image")
    parser.add_argument("--overlap-images", type=int, default=16, help="overlap run: images in the shard (0 skips it)")
    parser.add_argument("--throughput-images", type=int, default=0, help="OCR images per second per core (0 skips)")
    args = parser.parse_args()
    from fluxcat.qa.ocr import load_engine

    load_ms = timed_ms(load_engine)
    print(f"OCR engine load (once per run and QA thread): {load_ms:.0f} ms")
    print("| size | check | median ms/image | mean ms/image | x PNG encode (median) |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        times = measure(size, args.images)
        baseline = statistics.median(times["png encode (baseline)"])
        for check, values in times.items():
            median = statistics.median(values)
            print(f"| {size}x{size} | {check} | {median:.2f} | {statistics.mean(values):.2f} | {median / baseline:.2f} |")
    if args.throughput_images:
        print(f"\n| OCR of {args.sizes[-1]}x{args.sizes[-1]} images | images/s | images/s per core |\n|---|---|---|")
        for label, per_second, per_core in throughput(args.sizes[-1], args.throughput_images):
            print(f"| {label} | {per_second:.2f} | {per_core:.2f} |")
    if args.overlap_images:
        walls = overlap(args.overlap_images, args.latency, args.sizes[-1])
        extra = walls["on"] - walls["off"]
        print(f"\nshard of {args.overlap_images} text+colour images at {args.sizes[-1]} px, generation {args.latency:g} s/image "
              f"(CPU idle): QA off {walls['off']:.2f} s, QA on {walls['on']:.2f} s, "
              f"QA adds {extra:.2f} s = {1000 * extra / args.overlap_images:.0f} ms/image, x{walls['on'] / walls['off']:.3f}")


if __name__ == "__main__":
    main()
