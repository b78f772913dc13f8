"""Soft inpainting (``soft=True``, ``--soft``): differential diffusion on every model type.

The tiny models have random weights, so their VAE does not round-trip an image: even
latents that followed the original all the way decode to noise-like colours, and
"how far from the photo" says little. The region change is measured against what the
region would be had it followed the original to the end (the original's latents,
decoded), in pixels and in latents.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from engine_helpers import outside
from PIL import Image

import paint_widgets as pw
from paint_widgets.commands.parser import parse
from paint_widgets.engine import denoise
from paint_widgets.engine.api import run

REGION = (slice(32, 64), slice(48, 88))  # on the latent grid (multiples of 8) of the 96x128 photo
LATENT_REGION = (slice(4, 8), slice(6, 11))
FAST: dict[str, Any] = {"steps": 20, "seed": 7}


def soft_box(value: float) -> np.ndarray:
    mask = np.zeros((96, 128), np.float32)
    mask[REGION] = value
    return mask



@pytest.fixture
def soft_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each soft run's callback saw: the pipeline, the original's latents, the last latents."""
    runs: list[dict[str, Any]] = []
    real = denoise.SoftSteps.apply

    def spy(self: denoise.SoftSteps, pipe: Any, i: int, latents: torch.Tensor) -> torch.Tensor:
        out = real(self, pipe, i, latents)
        if i == 0:
            runs.append({})
        runs[-1].update(pipe=pipe, original=self.image_latents, last=out)
        return out

    monkeypatch.setattr(denoise.SoftSteps, "apply", spy)
    return runs


# --------------------------------------------------------------------------- the schedule itself


def test_each_value_changes_for_its_share_of_the_steps() -> None:
    """After step i of n a cell with value m is reset unless it is in its last ceil(m n) steps."""
    n = 10
    values = torch.tensor([0.0, 0.05, 0.25, 0.5, 0.99, 1.0]).view(1, 1, 1, 6)
    scheduler = SimpleNamespace(timesteps=torch.arange(40, 0, -1),  # longer than the run: strength < 1
                                add_noise=lambda x, noise, t: x + noise * t.float())
    pipe = SimpleNamespace(_num_timesteps=n, scheduler=scheduler)
    soft = denoise.SoftSteps(values, seed=0)
    soft.noise, soft.image_latents = torch.ones(1, 1, 1, 6), torch.zeros(1, 1, 1, 6)
    free = torch.zeros(6, dtype=torch.int64)
    for i in range(n):
        sentinel = torch.full((1, 1, 1, 6), -100.0)
        out = soft.apply(pipe, i, sentinel)
        evolved = out == -100.0
        free += evolved.view(-1)
        if i < n - 1:  # reset to the original noised to the next timestep of the run
            assert torch.all(out[~evolved] == float(scheduler.timesteps[-n:][i + 1]))
        else:  # the last step: the clean original
            assert torch.all(out[~evolved] == 0.0)
    assert free.tolist() == [math.ceil(m * n - 1e-4) for m in values.view(-1).tolist()] == [0, 1, 3, 5, 10, 10]


def test_soft_latent_mask_averages_each_cell() -> None:
    paint = np.zeros((16, 24), np.float32)
    paint[:8, :8] = 0.25
    paint[8:, 8:12] = 1.0  # half of cell (1, 1)
    cells = denoise.soft_latent_mask(paint, 16, 24, 8)
    assert cells.shape == (1, 1, 2, 3)
    assert cells[0, 0].tolist() == [[0.25, 0.0, 0.0], [0.0, 0.5, 0.0]]


# --------------------------------------------------------------------------- the models


@pytest.mark.parametrize("model", ["sd", "sd-inpaint", "sdxl-inpaint"])
def test_a_region_at_a_quarter_changes_less_than_one_at_one(mgr, tiny_models: dict[str, Path], photo: np.ndarray,
                                                            soft_runs: list[dict[str, Any]], model: str) -> None:
    """4- and 9-channel UNets, SD 1.x and SDXL: less change at m = 0.25 than at 0.5 and 1.0."""
    mgr.configure(model=str(tiny_models[model]))
    pixel, latent = {}, {}
    for value in (0.25, 0.5, 1.0):
        out = np.asarray(pw.inpaint(photo, soft_box(value), "a cat", soft=True, mgr=mgr, **FAST).images[0])
        seen = soft_runs[-1]
        followed = denoise.decode_latents(seen["pipe"], seen["original"])  # the region had it never changed
        pixel[value] = float(np.abs(out[REGION].astype(float) - followed[REGION]).mean())
        latent[value] = float((seen["last"] - seen["original"]).abs()[(..., *LATENT_REGION)].mean())
        assert np.array_equal(out[outside(soft_box(value))], photo[outside(soft_box(value))])
    assert pixel[0.25] < pixel[1.0], pixel
    assert latent[0.25] < latent[0.5] < latent[1.0], latent


@pytest.mark.parametrize("model", ["sd", "sd-inpaint"])
def test_m0_stays_bit_identical_with_soft_values_around(mgr, tiny_models: dict[str, Path], photo: np.ndarray,
                                                         model: str) -> None:
    """A feathered soft mask: every pixel beyond the paste-back reach of ``m > 0`` is the input's."""
    mgr.configure(model=str(tiny_models[model]))
    yy, xx = np.mgrid[0:96, 0:128]
    paint = np.clip(1.0 - np.hypot(yy - 48, xx - 64) / 30.0, 0.0, 1.0).astype(np.float32)  # a soft cone
    out = np.asarray(pw.inpaint(photo, paint, "a cat", soft=True, mgr=mgr, **FAST).images[0])
    keep = outside(paint)
    assert keep.sum() > 4000
    assert np.array_equal(out[keep], photo[keep])
    assert not np.array_equal(out[paint > 0.5], photo[paint > 0.5])


def test_soft_with_a_hard_mask_on_a_4_channel_model_is_the_plain_result(mgr, tiny_models: dict[str, Path],
                                                                        photo: np.ndarray, box_mask: np.ndarray):
    """0 and 1 only, on the latent grid: diffusers' own 4-channel blend already does what soft does."""
    mgr.configure(model=str(tiny_models["sd"]))
    plain = pw.inpaint(photo, box_mask, "a cat", mgr=mgr, **FAST).images[0]
    soft = pw.inpaint(photo, box_mask, "a cat", soft=True, mgr=mgr, **FAST).images[0]
    assert np.array_equal(np.asarray(plain), np.asarray(soft))


def test_soft_is_deterministic_and_differs_from_plain(mgr, photo: np.ndarray) -> None:
    """Same seed, same pixels; without ``soft`` a partial pixel is repainted and only blended."""
    a = np.asarray(pw.inpaint(photo, soft_box(0.25), "a cat", soft=True, mgr=mgr, **FAST).images[0])
    b = np.asarray(pw.inpaint(photo, soft_box(0.25), "a cat", soft=True, mgr=mgr, **FAST).images[0])
    plain = np.asarray(pw.inpaint(photo, soft_box(0.25), "a cat", mgr=mgr, **FAST).images[0])
    assert np.array_equal(a, b)
    assert not np.array_equal(a[REGION], plain[REGION])


def test_soft_with_inpaint_replace_and_a_crop(mgr, photo: np.ndarray) -> None:
    """``-r`` and ``--soft`` both wrap ``prepare_latents``: they nest and leave the pipeline as it was."""
    result = pw.inpaint(photo, soft_box(0.5), "a cat", soft=True, inpaint_replace=0.5, region="crop", mgr=mgr,
                        steps=4, seed=1)
    assert result.images[0].size == (128, 96)
    assert "prepare_latents" not in vars(mgr.pipeline())


# --------------------------------------------------------------------------- the command language


def test_soft_line_replays_to_the_same_pixels(mgr, photo: np.ndarray, tmp_path: Path) -> None:
    """``--soft`` with a partly transparent ``-I``: parsed, printed, parsed back, same image."""
    rgba = np.dstack([photo, np.full((96, 128), 255, np.uint8)])
    rgba[REGION + (3,)] = 191  # alpha 75 %: paint 0.25
    path = tmp_path / "soft.png"
    Image.fromarray(rgba).save(path)
    command = parse(f'"a cat" -s 20 -S 7 -I {path} --soft')
    assert command is not None and command.params.soft is True
    first = run(command.request, mgr=mgr)
    line = first.commands[0]
    assert " --soft" in line
    assert first.metadata[0]["params"]["soft"] is True
    again = parse(line)
    assert again is not None and again.params.soft is True
    second = run(again.request, mgr=mgr)
    assert np.array_equal(np.asarray(first.images[0]), np.asarray(second.images[0]))
    plain = parse(f'"a cat" -s 20 -S 7 -I {path}')
    assert plain is not None and plain.params.soft is False
    assert "--soft" not in plain.request.command(7, 128, 96)
