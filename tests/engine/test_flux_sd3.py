"""FLUX.1 Fill and SD3 inpainting through the manager, with the tiny flow-matching models.

The tiny models (:mod:`paint_widgets.testing.tiny_flow`) keep the real classes and
geometry (FLUX Fill's 384 packed input channels, SD3's MMDiT with three text encoders,
16-channel VAEs with shift factors, ``FlowMatchEulerDiscreteScheduler``), are written to
disk and loaded through the package's own loading code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from engine_helpers import outside
from PIL import Image

import paint_widgets as pw
from paint_widgets.commands.parser import parse
from paint_widgets.engine import generation
from paint_widgets.engine.api import run
from paint_widgets.engine.denoise import Step
from paint_widgets.engine.families import family_of

FAST: dict[str, Any] = {"steps": 3, "seed": 7}
FAMILY_MODELS = {"flux": "flux-fill", "sd3": "sd3-inpaint"}
PIPELINES = {"flux": "FluxFillPipeline", "sd3": "StableDiffusion3InpaintPipeline"}


@pytest.fixture(params=sorted(FAMILY_MODELS))
def flow(request, mgr, tiny_models: dict[str, Path]):
    """The kernel manager with a tiny flow-matching model (FLUX.1 Fill, then SD3) as its default."""
    mgr.configure(model=str(tiny_models[FAMILY_MODELS[request.param]]))
    mgr.family_name = request.param
    return mgr


@pytest.fixture
def calls(flow, monkeypatch) -> list[dict]:
    """The keyword arguments of every call of the default model's pipeline class (the real call runs)."""
    import diffusers

    cls = getattr(diffusers, PIPELINES[flow.family_name])
    seen: list[dict] = []
    real = cls.__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    return seen


# --------------------------------------------------------------------------- the models


def test_flux_fill_loads_with_fill_packing(mgr, tiny_models):
    pipe = mgr.pipeline(str(tiny_models["flux-fill"]))
    assert type(pipe).__name__ == "FluxFillPipeline"
    family = family_of(pipe)
    assert (family.name, family.native_size, family.generates, family.preview) == ("flux", 1024, True, "flux")
    latent = pipe.vae.config.latent_channels
    assert latent == 16 and pipe.vae_scale_factor == 8
    # 2x2-packed latents + packed masked-image latents + the 8x8-folded mask packed 2x2
    assert pipe.transformer.config.in_channels == 4 * latent + 4 * latent + 4 * 64 == 384
    assert pipe.transformer.config.out_channels == 64 and pipe.transformer.config.guidance_embeds
    assert type(pipe.text_encoder).__name__ == "CLIPTextModel"
    assert type(pipe.text_encoder_2).__name__ == "T5EncoderModel"
    assert type(pipe.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert pipe.vae.config.shift_factor == pytest.approx(0.1159)


def test_sd3_loads_with_three_text_encoders(mgr, tiny_models):
    pipe = mgr.pipeline(str(tiny_models["sd3-inpaint"]))
    assert type(pipe).__name__ == "StableDiffusion3InpaintPipeline"
    family = family_of(pipe)
    assert (family.name, family.native_size, family.generates) == ("sd3", 1024, True)
    assert [type(pipe.text_encoder).__name__, type(pipe.text_encoder_2).__name__,
            type(pipe.text_encoder_3).__name__] == ["CLIPTextModelWithProjection"] * 2 + ["T5EncoderModel"]
    config = pipe.transformer.config
    assert config.pooled_projection_dim == pipe.text_encoder.config.projection_dim + \
        pipe.text_encoder_2.config.projection_dim
    assert config.in_channels == pipe.vae.config.latent_channels == 16


def test_sd3_native_size_comes_from_the_transformer_config(tiny_models, tmp_path):
    folder = tmp_path / "sd3"
    for name in ("model_index.json", "vae/config.json", "transformer/config.json"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        data = json.loads((tiny_models["sd3-inpaint"] / name).read_text())
        if name.startswith("transformer"):
            data["sample_size"] = 64
        (folder / name).write_text(json.dumps(data))
    assert family_of(folder).native_size == 512
    assert family_of(tiny_models["sd3-inpaint"]).native_size == 1024


# --------------------------------------------------------------------------- masks, seeds


def test_painted_mask_keeps_outside_pixels_bit_identical(flow, photo, box_mask):
    result = pw.inpaint(photo, box_mask, "a red barn", **FAST)
    out = np.asarray(result.image)
    keep = outside(box_mask)
    assert np.array_equal(out[keep], photo[keep])
    assert np.abs(out[box_mask].astype(int) - photo[box_mask]).mean() > 5


def test_same_seed_same_pixels_other_seed_differs(flow, photo, box_mask):
    a = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    b = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    c = np.asarray(pw.inpaint(photo, box_mask, "x", steps=3, seed=8).image)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert flow.status()["loads"] == 1


def test_sizes_off_the_16_grid_are_padded_and_cropped_back(flow, photo, box_mask):
    img, mask = photo[:88, :120], box_mask[:88, :120]  # multiples of 8, not of 16
    out = np.asarray(pw.inpaint(img, mask, "x", **FAST).image)
    assert out.shape == img.shape
    keep = outside(mask)
    assert np.array_equal(out[keep], img[keep])


def test_rgba_alpha_is_the_mask(flow, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[10:40, 10:50, 3] = 0
    out = np.asarray(pw.inpaint(rgba, None, "x", **FAST).image)
    keep = outside(1 - rgba[..., 3] / 255.0)
    assert np.array_equal(out[keep], photo[keep])
    assert np.abs(out[15:35, 15:45].astype(int) - photo[15:35, 15:45]).mean() > 5


# --------------------------------------------------------------------------- samplers and refusals


def test_the_model_own_scheduler_answers_to_k_euler_and_the_default(flow, photo, box_mask):
    default = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    euler = pw.inpaint(photo, box_mask, "x", sampler="k_euler", **FAST)
    assert np.array_equal(np.asarray(euler.image), default)
    assert "-A k_euler " in euler.commands[0]
    assert type(flow.pipeline().scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"sampler": "ddim"}, "flow-matching scheduler; .*use k_euler"),
    ({"inpaint_replace": 0.5}, "inpaint_replace 0.5: not available on .* use -f/--strength 1.0"),
    ({"soft": True}, "soft inpainting .*not available on .*SD 1.x/SDXL"),
])
def test_what_a_flow_family_cannot_do_is_refused_by_name(flow, photo, box_mask, kwargs, match):
    label = family_of(flow.pipeline()).label
    with pytest.raises(pw.InvalidInputError, match=match) as err:
        pw.inpaint(photo, box_mask, "x", **FAST, **kwargs)
    assert label in str(err.value)
    assert pw.inpaint(photo, box_mask, "x", **FAST).image.size == (128, 96)  # still usable


def test_flux_refuses_a_negative_prompt_and_sd3_takes_it(mgr, tiny_models, photo, box_mask):
    with pytest.raises(pw.InvalidInputError, match="negative prompt: FLUX.1 takes none"):
        pw.inpaint(photo, box_mask, "x", negative_prompt="blurry", model=str(tiny_models["flux-fill"]), **FAST)
    sd3 = str(tiny_models["sd3-inpaint"])
    plain = np.asarray(pw.inpaint(photo, box_mask, "x", model=sd3, **FAST).image)
    negative = np.asarray(pw.inpaint(photo, box_mask, "x", negative_prompt="blurry", model=sd3, **FAST).image)
    assert not np.array_equal(plain, negative)


def test_the_pipeline_gets_the_image_mask_strength_and_guidance(flow, photo, box_mask, calls):
    pw.inpaint(photo, box_mask, "x", steps=4, strength=0.5, cfg=5.0, seed=1)
    (kwargs,) = calls
    assert (kwargs["height"], kwargs["width"]) == (96, 128)
    assert (kwargs["strength"], kwargs["num_inference_steps"], kwargs["guidance_scale"]) == (0.5, 4, 5.0)
    assert kwargs["output_type"] == "latent" and kwargs["callback_on_step_end"] is not None
    assert np.array_equal(np.asarray(kwargs["mask_image"]) > 0, box_mask)


# --------------------------------------------------------------------------- progress, cancel, commands


def test_progress_previews_unpacked_latents(flow, photo, box_mask):
    steps: list[Step] = []
    pw.inpaint(photo, box_mask, "x", steps=8, strength=0.5, seed=1, progress=steps.append)
    assert [s.step for s in steps] == [1, 2, 3, 4] and all(s.total == 4 for s in steps)
    assert steps[-1].preview_kind == flow.family_name
    assert steps[-1].latents is not None and tuple(steps[-1].latents.shape) == (1, 16, 12, 16)  # FLUX: unpacked
    preview = steps[-1].preview()
    assert preview is not None and preview.shape == (96, 128, 3) and preview.dtype == np.uint8


def test_cancel_from_the_progress_callback_leaves_the_manager_usable(flow, photo, box_mask):
    token = pw.CancelToken()
    seen: list[int] = []

    def cancel_at_two(step: Step) -> None:
        seen.append(step.step)
        if step.step == 2:
            token.cancel()

    with pytest.raises(pw.CancelledError):
        pw.inpaint(photo, box_mask, "x", steps=10, strength=1.0, seed=1, progress=cancel_at_two, cancel=token)
    assert seen == [1, 2]
    assert pw.inpaint(photo, box_mask, "x", **FAST).image.size == (128, 96)
    assert flow.status()["loads"] == 1


def test_the_printed_command_reproduces_the_image(flow, photo, box_mask, tmp_path):
    image_path, mask_path = tmp_path / "in.png", tmp_path / "mask.png"
    Image.fromarray(photo).save(image_path)
    Image.fromarray(np.where(box_mask, 0, 255).astype(np.uint8)).save(mask_path)  # -M: black paints
    model = flow.default_model()
    first = pw.inpaint(str(image_path), str(mask_path), "a red barn", steps=3, seed=11, sampler="k_euler",
                       model=model)
    assert f"--model {model}" in first.commands[0]
    flow.configure(model=str(Path(model).parent / "sd-inpaint"))  # another default: --model decides
    command = parse(first.commands[0])
    assert command is not None
    again = run(command.request)
    assert again.commands == first.commands
    assert np.array_equal(np.asarray(again.image), np.asarray(first.image))


# --------------------------------------------------------------------------- outcrop, crop


def test_outcrop_with_seam_pass_keeps_the_original(flow, calls):
    img = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    result = pw.outcrop(img, top=64, right=10, steps=2, seam_steps=2, seed=5, prompt="x")
    out = np.asarray(result.image)
    assert result.image.size == (192, 192)
    assert np.array_equal(out[64:, :128], img)
    assert out[:64].std() > 0
    assert len(calls) == 2  # the main pass and the seam pass


def test_crop_to_mask_generates_at_the_native_size(flow, monkeypatch):
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
    out = np.asarray(pw.inpaint(img, mask, "x", region="crop", steps=2, seed=3).image)  # one step
    assert shapes == [(1024, 1024, 3)]
    keep = outside(mask)
    assert np.array_equal(out[keep], img[keep])
    assert not np.array_equal(out[mask], img[mask])


# --------------------------------------------------------------------------- families side by side


def test_three_families_resident_at_once_and_switching_back_loads_nothing(mgr, tiny_models, photo, box_mask):
    models = [str(tiny_models[k]) for k in ("sdxl-inpaint", "flux-fill", "sd3-inpaint")]
    first = [np.asarray(pw.inpaint(photo, box_mask, "x", model=m, **FAST).image) for m in models]
    assert mgr.status()["loads"] == 3
    pipes = [mgr.pipeline(m) for m in models]
    assert len({id(p.vae) for p in pipes}) == 3 and len({id(p.scheduler) for p in pipes}) == 3
    again = [np.asarray(pw.inpaint(photo, box_mask, "x", model=m, **FAST).image) for m in reversed(models)]
    assert mgr.status()["loads"] == 3
    for a, b in zip(first, reversed(again), strict=True):
        assert np.array_equal(a, b)


def test_a_budget_evicts_the_least_recent_family_and_it_comes_back(mgr, tiny_models, photo, box_mask):
    flux, sd3 = str(tiny_models["flux-fill"]), str(tiny_models["sd3-inpaint"])
    a = np.asarray(pw.inpaint(photo, box_mask, "x", model=flux, **FAST).image)
    flux_bytes = mgr.device_bytes()
    mgr.pipeline(sd3)
    sd3_bytes = mgr.device_bytes() - flux_bytes
    assert sd3_bytes > 0 and mgr.status()["resident"] == {flux: flux_bytes, sd3: sd3_bytes}
    mgr.configure(budget_bytes=max(flux_bytes, sd3_bytes))  # one fits: the least recently used goes
    assert list(mgr.status()["resident"]) == [sd3] and mgr.device_bytes() <= mgr.budget_bytes
    b = np.asarray(pw.inpaint(photo, box_mask, "x", model=flux, **FAST).image)  # read again
    assert list(mgr.status()["resident"]) == [flux] and mgr.status()["loads"] == 3
    assert np.array_equal(a, b)


def test_a_text_mask_repaints_only_what_it_selects(flow, photo):
    """``-tm``: CLIPSeg's mask (the kernel's text-mask model) drives the flow model too."""
    tm = pw.text_mask(photo, "red square", 0.5)
    paint = tm.mask(tm.threshold)
    result = pw.inpaint(photo, None, "a blue door", text_mask=("red square", 0.5), **FAST)
    out = np.asarray(result.image)
    if paint.any():
        assert np.array_equal(out[outside(paint)], photo[outside(paint)])
    assert "-tm 'red square' 0.5" in result.commands[0] or '-tm "red square" 0.5' in result.commands[0]


def test_outpaint_shifts_and_paints_the_uncovered_strip(flow):
    img = np.random.default_rng(2).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    result = pw.outpaint(img, "left", 32, steps=2, seam_steps=2, seed=3, prompt="x")
    out = np.asarray(result.image)
    assert out.shape == img.shape
    assert np.array_equal(out[:, 32:], img[:, :-32])  # the picture moved right, pixel for pixel
    assert out[:, :32].std() > 0  # the new strip was painted, not left black
    assert result.commands[0].startswith("!fix <image> -D left 32")
