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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--images", type=int, default=20, help="images per size")
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


if __name__ == "__main__":
    main()
