"""Every path of an output tree, relative to the output root, and the image formats it stores."""

from __future__ import annotations

MANIFEST = "manifest.parquet"  # the latest manifest: one row per catalog row and image
HISTORY_DIR = "manifests"  # every earlier manifest, one file per run
INDEX = "index.html"  # the contact sheet
IMAGES_DIR = "images"  # images by content key: images/ab/abcdef....png
WORK_DIR = "_work"  # a run's working state; never read by consumers
PLAN_DIR = f"{WORK_DIR}/plan"  # planned shards
PARTS_DIR = f"{WORK_DIR}/parts"  # finished shards' manifest parts
REFRESH_DIR = f"{WORK_DIR}/refresh"  # a refresh's comparison with the previous manifest
QUOTA_DIR = f"{WORK_DIR}/quota"  # hosted providers' quota usage
LEDGER_DIR = f"{WORK_DIR}/ledger"  # billed jobs: open/ until their image is stored, closed/ after (fluxcat/ledger.py)
TEMP_DIR = f"{WORK_DIR}/tmp"  # local writes go through temp files here, swept by the next run; never beside their targets
LEASE_PATH = f"{WORK_DIR}/lease.json"  # the writer's lease

IMAGE_FORMATS = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}  # format -> content type
IMAGE_EXTENSIONS = {"png": "png", "webp": "webp", "jpeg": "jpg"}  # format -> file name extension


def image_path(key: str, image_format: str) -> str:
    """Where the image with this content key lives."""
    return f"{IMAGES_DIR}/{key[:2]}/{key}.{IMAGE_EXTENSIONS[image_format]}"
