"""Image QA cost per image on the CPU: blank, OCR text and colour checks, against PNG encoding of the same image."""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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

    backend, settings = TextRenderBackend(misspell_rate=0.5), QaSettings()
    times: dict[str, list[float]] = {"png encode (baseline)": [], "blank": [], "ocr text": [], "colour": []}
    for n in range(images):
        prompt = PROMPTS[n % len(PROMPTS)].format(COLOURS[n % len(COLOURS)])
        image, expects = backend.render(prompt, n, size, size), expectation({"prompt": prompt})
        times["png encode (baseline)"].append(timed_ms(lambda: image.save(io.BytesIO(), "PNG", compress_level=3)))
        times["blank"].append(timed_ms(blank_check, image, settings))
        times["ocr text"].append(timed_ms(text_check, image, expects.text, settings))
        times["colour"].append(timed_ms(colour_check, image, expects.colour, expects.colour_source, settings))
    return times


class BusyBackend:
    """The text-render backend taking `latency` seconds of wall time per image with the CPU free, as a GPU does."""

    def __init__(self, latency: float):
        from fluxcat.backends.text_render import TextRenderBackend

        self.inner, self.latency = TextRenderBackend(misspell_rate=0.0), latency
        self.name, self.max_batch, self.model_id = "busy", 4, self.inner.model_id

    def cost_per_image(self, request) -> float:
        return 0.0

    def generate(self, requests):
        for request in requests:
            time.sleep(self.latency)
            yield from self.inner.generate([request])


def overlap(images: int, latency: float, size: int) -> dict[str, float]:
    """Wall time of one shard with QA off and on: how much of QA hides behind generation."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from fluxcat.generate import run_shard
    from fluxcat.qa import QaSettings
    from fluxcat.qa.stage import ShardQa
    from fluxcat.shards import PlanSettings, plan_catalog
    from fluxcat.store import Store

    backend = BusyBackend(latency)
    walls = {}
    with tempfile.TemporaryDirectory() as root:
        catalog = f"{root}/catalog.parquet"
        prompts = [PROMPTS[n % len(PROMPTS)].format(COLOURS[n % len(COLOURS)]) + f", shot {n}" for n in range(images)]
        pq.write_table(pa.table({"prompt": prompts, "width": [size] * images, "height": [size] * images}), catalog)
        for mode in ("off", "on"):
            store = Store(f"{root}/out-{mode}")
            settings = PlanSettings(model_id=backend.model_id, dedupe="off", shard_size=images)
            [shard] = plan_catalog(catalog, store, settings).shards
            qa = ShardQa(QaSettings(), backend.model_id) if mode == "on" else None
            start = time.perf_counter()
            run_shard(store, shard.name, backend, qa=qa)
            walls[mode] = time.perf_counter() - start
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--images", type=int, default=20, help="images per size")
    parser.add_argument("--latency", type=float, default=1.0, help="overlap run: seconds of generation per image")
    parser.add_argument("--overlap-images", type=int, default=16, help="overlap run: images in the shard (0 skips it)")
    args = parser.parse_args()
    from fluxcat.qa.ocr import _load

    load_ms = timed_ms(_load)
    print(f"OCR engine load (once per process): {load_ms:.0f} ms")
    print("| size | check | median ms/image | mean ms/image | x PNG encode (median) |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        times = measure(size, args.images)
        baseline = statistics.median(times["png encode (baseline)"])
        for check, values in times.items():
            median = statistics.median(values)
            print(f"| {size}x{size} | {check} | {median:.1f} | {statistics.mean(values):.1f} | {median / baseline:.2f} |")
    if args.overlap_images:
        walls = overlap(args.overlap_images, args.latency, args.sizes[-1])
        extra = walls["on"] - walls["off"]
        print(f"\nshard of {args.overlap_images} text+colour images at {args.sizes[-1]} px, generation {args.latency:g} s/image "
              f"(CPU idle): QA off {walls['off']:.2f} s, QA on {walls['on']:.2f} s, "
              f"QA adds {extra:.2f} s = {1000 * extra / args.overlap_images:.0f} ms/image, x{walls['on'] / walls['off']:.3f}")


if __name__ == "__main__":
    main()
