"""Reference-image stage cost per output on the CPU: reading + masking a reference, placing it, the white packshot,
the composite, channel compliance and fidelity checks, against JPEG encoding of the same output (the baseline every
output pays anyway). Also per-pixel CIEDE2000: scikit-image (vectorised) against coloraide (one pair at a time).

    nice -n 10 .venv/bin/python benchmarks/reference.py --size 1024 --repeat 5"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed_ms(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return (time.perf_counter() - start) * 1000


def measure(size: int, repeat: int) -> dict[str, list[float]]:
    import numpy as np
    from PIL import Image

    from fluxcat.channels import bundled_channels
    from fluxcat.qa.channels import channel_checks
    from fluxcat.qa.fidelity import edit_similarity, product_delta_e
    from fluxcat.reference import composite, place, read_reference, white_packshot
    from tests.packshots import REFERENCES

    main = bundled_channels()["marketplace-main"]
    scene = Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))
    times: dict[str, list[float]] = {}
    for _ in range(repeat):
        for name in ("candle-jar.png", "sneaker-white.png", "mug-offwhite.jpg"):
            path = str(REFERENCES / name)
            reference = read_reference(path)
            placement = place(reference, (size, size), 0.6)
            output = composite(scene, placement)
            packshot = white_packshot(placement)
            for label, function, args in (
                ("jpeg encode (baseline)", lambda im: im.save(io.BytesIO(), "JPEG", quality=92), (output,)),
                (f"read + mask ({name.split('.')[-1]}, {reference.mask_source})", read_reference, (path,)),
                ("place", place, (reference, (size, size), 0.6)),
                ("white packshot", white_packshot, (placement,)),
                ("composite", composite, (scene, placement)),
                ("channel compliance (marketplace-main)", channel_checks, (packshot, main, None)),
                ("fidelity: mean + edge CIEDE2000", product_delta_e, (output, placement)),
                ("fidelity: edit colour + SSIM (no OCR)", edit_similarity, (output, placement, None, None)),
            ):
                times.setdefault(label, []).append(timed_ms(function, *args))
    return times


def delta_e_libraries(pixels: int) -> dict[str, float]:
    """Microseconds per pixel pair: coloraide over a sample, scikit-image over all."""
    import numpy as np
    from coloraide import Color
    from skimage.color import deltaE_ciede2000, rgb2lab

    rng = np.random.default_rng(1)
    a, b = rng.random((pixels, 3)), rng.random((pixels, 3))
    sample = min(pixels, 2000)
    start = time.perf_counter()
    for x, y in zip(a[:sample], b[:sample]):
        Color("srgb", list(x)).delta_e(Color("srgb", list(y)), method="2000")
    coloraide_us = (time.perf_counter() - start) / sample * 1e6
    start = time.perf_counter()
    deltaE_ciede2000(rgb2lab(a[None])[0], rgb2lab(b[None])[0])
    skimage_us = (time.perf_counter() - start) / pixels * 1e6
    return {"coloraide": coloraide_us, "scikit-image": skimage_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = measure(args.size, args.repeat)
    baseline = statistics.median(times["jpeg encode (baseline)"])
    print(f"{args.size}x{args.size} output, median of {len(times['place'])} runs per step (ms; x = / JPEG encode)")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:45s} {median:8.1f} ms  {median / baseline:5.1f}x")
    libraries = delta_e_libraries(args.size * args.size)
    print(f"per-pixel CIEDE2000 over {args.size * args.size} pairs: " + ", ".join(
        f"{name} {us:.3f} us/pair" for name, us in libraries.items())
          + f" (coloraide / scikit-image = {libraries['coloraide'] / libraries['scikit-image']:.0f}x)")


if __name__ == "__main__":
    main()
