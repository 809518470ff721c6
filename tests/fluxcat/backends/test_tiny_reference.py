"""The tiny FLUX.1 Fill and Kontext pipelines: built from random weights with no download, saved, loaded back with
diffusers' own from_pretrained, and run through the real FluxFillPipeline / FluxKontextPipeline code at FLUX's
geometry, batched with one generator per image, fed fluxcat's own Fill and Kontext inputs."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from fluxcat.backends.tiny import ensure_tiny_reference
from fluxcat.reference import fill_inputs, kontext_input, place, read_reference
from tests.packshots import REFERENCES

SIZE = (128, 96)


@pytest.fixture(scope="module")
def root():
    return ensure_tiny_reference()


@pytest.fixture(scope="module")
def placement():
    return place(read_reference(str(REFERENCES / "candle-jar.png")), SIZE, 0.6)


def load(root, model):
    from diffusers import DiffusionPipeline

    with open(os.path.join(root, model, "model_index.json")) as handle:
        assert json.load(handle)["_class_name"] == {"fill": "FluxFillPipeline", "kontext": "FluxKontextPipeline"}[model]
    pipe = DiffusionPipeline.from_pretrained(os.path.join(root, model), dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generators(*seeds):
    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


def test_the_tiny_fill_pipeline_runs_diffusers_fill_code_on_fluxcats_inputs(root, placement):
    pipe = load(root, "fill")
    assert pipe.transformer.config.in_channels == 384 and pipe.vae.config.latent_channels == 16
    image, mask = fill_inputs(placement, SIZE)
    run = dict(prompt=["a candle on an oak shelf", "a candle on a marble counter"], image=[image, image],
               mask_image=[mask, mask], width=SIZE[0], height=SIZE[1], num_inference_steps=2, guidance_scale=30.0,
               max_sequence_length=64, output_type="pil")
    with torch.inference_mode():
        first = pipe(**run, generator=generators(1, 2)).images
        again = pipe(**run, generator=generators(1, 2)).images
    assert [im.size for im in first] == [SIZE, SIZE]
    assert np.array_equal(np.asarray(first[0]), np.asarray(again[0]))  # one generator per image: reproducible
    assert not np.array_equal(np.asarray(first[0]), np.asarray(first[1]))


def test_the_tiny_kontext_pipeline_runs_diffusers_kontext_code_at_the_planned_size(root, placement):
    pipe = load(root, "kontext")
    with torch.inference_mode():
        images = pipe(prompt=["the same candle in autumn colours"], image=[kontext_input(placement, SIZE)],
                      width=SIZE[0], height=SIZE[1], num_inference_steps=2, guidance_scale=2.5, max_sequence_length=64,
                      generator=generators(3), output_type="pil",
                      max_area=SIZE[0] * SIZE[1], _auto_resize=False).images  # else it makes ~1 MP whatever is asked
    assert images[0].size == SIZE and np.asarray(images[0]).std() > 0
