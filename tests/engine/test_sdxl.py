"""Every feature on SDXL, with the tiny SDXL-inpainting model, through the public API.

The tiny model has SDXL's real geometry (two text encoders, ``text_time`` added
conditioning, a x8 VAE with SDXL's scaling factor, ``EulerDiscreteScheduler``), so the
same code paths run as with the real weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from engine_helpers import outside
from PIL import Image

import paint_widgets as pw
from paint_widgets.commands.parser import parse
from paint_widgets.engine import denoise, generation
from paint_widgets.engine.api import run
from paint_widgets.engine.denoise import Step
from paint_widgets.engine.families import family_of
from paint_widgets.requests import SAMPLERS

FAST: dict[str, Any] = {"steps": 3, "seed": 7}



@pytest.fixture
def xl(mgr, tiny_models: dict[str, Path]):
    """The kernel manager with the tiny SDXL-inpainting model as its default."""
    mgr.configure(model=str(tiny_models["sdxl-inpaint"]))
    return mgr


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """The keyword arguments of every SDXL pipeline call (the real call still runs)."""
    from diffusers import StableDiffusionXLInpaintPipeline

    seen: list[dict] = []
    real = StableDiffusionXLInpaintPipeline.__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionXLInpaintPipeline, "__call__", spy)
    return seen


# --------------------------------------------------------------------------- the model


def test_the_sdxl_model_loads_as_sdxl_inpainting_with_its_geometry(xl):
    pipe = xl.pipeline()
    assert type(pipe).__name__ == "StableDiffusionXLInpaintPipeline"
    family = family_of(pipe)
    assert (family.name, family.native_size, family.inpaint_unet) == ("sdxl", 1024, True)
    unet = pipe.unet.config
    te1, te2 = pipe.text_encoder.config, pipe.text_encoder_2.config
    assert type(pipe.text_encoder).__name__ == "CLIPTextModel"
    assert type(pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert unet.in_channels == 9 and unet.addition_embed_type == "text_time"
    assert unet.cross_attention_dim == te1.hidden_size + te2.hidden_size
    assert unet.projection_class_embeddings_input_dim == 6 * unet.addition_time_embed_dim + te2.projection_dim
    assert pipe.vae_scale_factor == 8 and pipe.vae.config.scaling_factor == 0.13025
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    assert pipe.tokenizer.model_max_length == pipe.tokenizer_2.model_max_length == 77


def test_sdxl_gets_its_size_conditioning(xl, photo, box_mask, calls):
    pw.inpaint(photo, box_mask, "x", **FAST)
    (kwargs,) = calls
    assert kwargs["original_size"] == kwargs["target_size"] == (96, 128)
    assert kwargs["crops_coords_top_left"] == (0, 0)
    assert kwargs["output_type"] == "latent" and kwargs["callback_on_step_end"] is not None


# --------------------------------------------------------------------------- masks


def test_painted_mask_keeps_outside_pixels_bit_identical(xl, photo, box_mask):
    result = pw.inpaint(photo, box_mask, "a red barn", **FAST)
    out = np.asarray(result.image)
    keep = outside(box_mask)
    assert keep.sum() > 0.4 * keep.size
    assert np.array_equal(out[keep], photo[keep])
    assert np.abs(out[box_mask].astype(int) - photo[box_mask]).mean() > 5
    assert result.metadata[0]["params"]["model"] == xl.default_model()


def test_same_seed_same_pixels_other_seed_differs(xl, photo, box_mask):
    a = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    b = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    c = np.asarray(pw.inpaint(photo, box_mask, "x", steps=3, seed=8).image)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert xl.status()["loads"] == 1


def test_rgba_alpha_is_the_mask_and_partial_alpha_blends(xl, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[10:40, 10:50, 3] = 0
    rgba[60:90, 80:120, 3] = 128
    out = np.asarray(pw.inpaint(rgba, None, "x", **FAST).image)
    keep = outside(1 - rgba[..., 3] / 255.0)
    assert np.array_equal(out[keep], photo[keep])
    assert np.abs(out[15:35, 15:45].astype(int) - photo[15:35, 15:45]).mean() > 5
    # half transparent: the result lies between the original and a full repaint
    half = (slice(70, 80), slice(90, 110))
    assert 0 < np.abs(out[half].astype(int) - photo[half]).mean()


def test_mask_file_and_invert_mask(xl, photo, tmp_path):
    mask_img = np.full((96, 128), 255, np.uint8)  # -M convention: white keeps
    mask_img[:, :40] = 0
    path = tmp_path / "m.png"
    Image.fromarray(mask_img).save(path)
    out = np.asarray(pw.inpaint(photo, str(path), "x", **FAST).image)
    assert np.array_equal(out[:, 70:], photo[:, 70:])
    assert not np.array_equal(out[:, :30], photo[:, :30])
    inv = np.asarray(pw.inpaint(photo, str(path), "x", invert_mask=True, **FAST).image)
    assert np.array_equal(inv[:, :20], photo[:, :20])
    assert not np.array_equal(inv[:, 70:], photo[:, 70:])


def test_text_mask_with_the_tiny_clipseg(xl, photo):
    tm = pw.text_mask(photo, "orange")
    threshold = round(float(np.quantile(tm.heatmap, 0.7)), 3)  # about 30 % of the picture
    selected = tm.mask(threshold)
    assert 0 < selected.sum() < selected.size
    result = pw.inpaint(photo, prompt="a baseball", text_mask=("orange", threshold), **FAST)
    out = np.asarray(result.image)
    assert result.commands[0].endswith(f"-tm orange {threshold:g}")
    keep = outside(selected)
    assert np.array_equal(out[keep], photo[keep])
    assert not np.array_equal(out[selected], photo[selected])


def test_inpaint_replace_changes_the_painted_area_only(xl, photo, box_mask):
    plain = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    replaced = np.asarray(pw.inpaint(photo, box_mask, "x", inpaint_replace=1.0, **FAST).image)
    keep = outside(box_mask)
    assert np.array_equal(replaced[keep], photo[keep])
    assert np.abs(plain[box_mask].astype(int) - replaced[box_mask]).mean() > 1


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_invokeai_sampler_runs_on_sdxl(xl, sampler):
    img = np.full((64, 64, 3), 100, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    result = pw.inpaint(img, mask, "x", steps=3, seed=1, sampler=sampler)
    assert result.image.size == (64, 64)
    assert f"-A {sampler} " in result.commands[0]
    scheduler = xl.pipeline().scheduler
    assert scheduler.config.timestep_spacing == "leading"  # built from SDXL's own config
    assert xl.pipeline()._paint_widgets_base_scheduler["_class_name"] == "EulerDiscreteScheduler"


# --------------------------------------------------------------------------- crop, outcrop, outpaint


def test_crop_to_mask_generates_at_sdxl_native_size(xl, monkeypatch):
    shapes: list[tuple[int, ...]] = []
    real = generation.denoise_masked

    def spy(pipe, image, paint, *args, **kwargs):
        shapes.append(image.shape)
        return real(pipe, image, paint, *args, **kwargs)

    monkeypatch.setattr(generation, "denoise_masked", spy)
    yy, xx = np.mgrid[0:1600, 0:1600]
    img = np.stack([xx * 255 // 1600, yy * 255 // 1600, (xx + yy) % 200], axis=-1).astype(np.uint8)
    mask = np.zeros((1600, 1600), bool)
    mask[700:800, 900:1000] = True
    # steps 2 at strength 0.75: one denoising step at 1024 x 1024
    out = np.asarray(pw.inpaint(img, mask, "x", region="crop", steps=2, seed=3).image)
    assert shapes == [(1024, 1024, 3)]
    assert out.shape == img.shape
    keep = outside(mask)
    assert np.array_equal(out[keep], img[keep])
    assert not np.array_equal(out[mask], img[mask])


def test_outcrop_with_seam_pass_keeps_the_original(xl, calls):
    img = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    result = pw.outcrop(img, top=64, right=10, steps=2, seam_steps=2, seed=5, prompt="x")
    out = np.asarray(result.image)
    assert result.image.size == (192, 192)
    assert np.array_equal(out[64:, :128], img)
    assert len(calls) == 2  # the main pass and the seam pass (outcrop's seam_size 96)
    assert result.commands[0].startswith("!fix <image> --outcrop top 64 right 10")  # as asked


def test_outpaint_shifts_and_paints_the_strip(xl, calls):
    img = np.random.default_rng(2).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    result = pw.outpaint(img, "top", 64, steps=2, seed=5, prompt="x", seam_size=16, seam_steps=2)
    out = np.asarray(result.image)
    assert result.image.size == (128, 128)
    assert np.array_equal(out[64:], img[:64])
    assert out[:64].std() > 0 and len(calls) == 2


# --------------------------------------------------------------------------- progress, cancel, commands


def test_progress_previews_sdxl_latents(xl, photo, box_mask):
    steps: list[Step] = []
    pw.inpaint(photo, box_mask, "x", steps=8, strength=0.5, seed=1, progress=steps.append)
    assert [s.step for s in steps] == [1, 2, 3, 4] and all(s.total == 4 for s in steps)
    assert steps[-1].preview_kind == "sdxl"
    preview = steps[-1].preview()
    assert preview is not None and preview.shape == (96, 128, 3) and preview.dtype == np.uint8
    as_sd = Step(4, 4, steps[-1].latents, "sd").preview()
    assert as_sd is not None and not np.array_equal(preview, as_sd)  # SDXL's own factors


def test_cancel_with_a_token_and_from_the_progress_callback(xl, photo, box_mask):
    token = pw.CancelToken()
    seen: list[int] = []

    def cancel_at_two(step: Step) -> None:
        seen.append(step.step)
        if step.step == 2:
            token.cancel()

    with pytest.raises(pw.CancelledError):
        pw.inpaint(photo, box_mask, "x", steps=10, strength=1.0, seed=1, progress=cancel_at_two, cancel=token)
    assert seen == [1, 2]
    seen.clear()

    def manager_cancel(step: Step) -> None:
        seen.append(step.step)
        if step.step == 1:
            pw.manager().cancel()

    with pytest.raises(pw.CancelledError):
        pw.outcrop(np.zeros((64, 64, 3), np.uint8), top=64, steps=10, seed=1, prompt="x", progress=manager_cancel)
    assert seen == [1]  # no seam pass after a cancel
    assert pw.inpaint(photo, box_mask, "x", **FAST).image.size == (128, 96)
    assert xl.status()["loads"] == 1


def test_the_printed_command_reproduces_the_image(xl, photo, box_mask, tmp_path):
    image_path, mask_path = tmp_path / "in.png", tmp_path / "mask.png"
    Image.fromarray(photo).save(image_path)
    Image.fromarray(np.where(box_mask, 0, 255).astype(np.uint8)).save(mask_path)  # -M: black paints
    first = pw.inpaint(str(image_path), str(mask_path), "a red barn", steps=3, seed=11, sampler="k_euler_a",
                       inpaint_replace=0.3)
    command = parse(first.commands[0])
    assert command is not None
    again = run(command.request)
    assert again.commands == first.commands
    assert np.array_equal(np.asarray(again.image), np.asarray(first.image))


# --------------------------------------------------------------------------- decoding


def test_decode_upcasts_an_fp16_sdxl_vae_and_not_an_sd_one(xl, tiny_models, monkeypatch):
    latents = torch.randn(1, 4, 8, 8)
    for key, upcast in (("sdxl-inpaint", True), ("sd-inpaint", False)):
        pipe = xl.pipeline(str(tiny_models[key]))
        seen: list[torch.dtype] = []
        real = type(pipe.vae).decode

        def spy(vae, z, *args, _seen=seen, _real=real, **kwargs):
            _seen.append(z.dtype)
            return _real(vae, z.float() if vae.dtype == torch.float32 else z, *args, **kwargs)

        monkeypatch.setattr(type(pipe.vae), "decode", spy)
        pipe.vae.to(torch.float16)
        try:
            out = denoise.decode_latents(pipe, latents)
        finally:
            pipe.vae.to(torch.float32)
            monkeypatch.undo()
        assert seen == [torch.float32 if upcast else torch.float16]
        assert out.shape == (64, 64, 3) and out.dtype == np.uint8


def test_decode_uses_latents_mean_and_std_when_the_vae_has_them(xl):
    pipe = xl.pipeline()
    latents = torch.randn(1, 4, 8, 8)
    plain = denoise.decode_latents(pipe, latents)
    config = pipe.vae.config
    pipe.vae.register_to_config(latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    try:
        assert np.array_equal(denoise.decode_latents(pipe, latents), plain)  # identity statistics
        pipe.vae.register_to_config(latents_mean=[0.5] * 4, latents_std=[2.0] * 4)
        assert not np.array_equal(denoise.decode_latents(pipe, latents), plain)
    finally:
        pipe.vae.register_to_config(latents_mean=getattr(config, "latents_mean", None),
                                    latents_std=getattr(config, "latents_std", None))
