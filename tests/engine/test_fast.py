"""Fast mode on the CPU with the tiny models: same pipeline, same images (within rounding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import paint_widgets as pw
from paint_widgets.engine.fast import fast_setting, is_compiled, make_fast
from paint_widgets.testing import build_tiny_sd

FAST = {"steps": 3, "seed": 7}


@pytest.fixture
def fast_mgr(mgr):
    """The test manager; fast mode is switched off again afterwards (it is kernel-wide)."""
    yield mgr
    mgr.configure(fast=False)


def channels_last(module: torch.nn.Module) -> bool:
    convs = [m.weight for m in module.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1]
    return bool(convs) and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (None, False), (1, True), ("on", True), ("off", False),
     ("compile", "compile"), ("Compile", "compile")],
)
def test_fast_settings(value, expected):
    assert fast_setting(value) == expected


def test_unknown_fast_setting_is_refused(mgr):
    with pytest.raises(pw.InvalidInputError, match="fast must be"):
        mgr.configure(fast="turbo")
    assert mgr.fast is False


def test_fast_mode_gives_a_working_pipeline_with_close_results(fast_mgr, photo, box_mask):
    plain = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    pw.manager(fast=True)  # the documented spelling; releases the loaded model
    assert fast_mgr.status()["fast"] is True and fast_mgr.status()["resident"] == {}
    quick = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    pipe = fast_mgr.pipeline()
    info = pipe._paint_widgets_fast
    assert info.sdpa == ["unet", "vae"] and info.channels_last == ["unet", "vae"] and info.compiled == []
    assert channels_last(pipe.unet) and channels_last(pipe.vae)
    assert pipe.vae.config.force_upcast is False  # SD 1.x VAEs decode in the pipeline's dtype
    assert quick.shape == plain.shape
    diff = np.abs(quick.astype(int) - plain)
    assert diff.mean() < 0.5 and diff.max() <= 8  # channels_last reorders float sums: rounding only
    assert fast_mgr.status()["loads"] == 2  # once before, once after switching fast on


def test_fast_mode_keeps_unpainted_pixels_identical_and_works_with_crop(fast_mgr, box_mask, photo):
    fast_mgr.configure(fast=True)
    out = np.asarray(pw.inpaint(photo, box_mask, "x", region="crop", **FAST).image)
    from paint_widgets.engine.inpainting import PASTE_BLUR, PASTE_DILATE
    from paint_widgets.imaging.paste import paste_alpha

    keep = paste_alpha(box_mask.astype(np.float32), dilate=PASTE_DILATE, blur=PASTE_BLUR) == 0
    assert np.array_equal(out[keep], photo[keep])


def test_make_fast_compile_wraps_the_unet_and_vae_decoder_without_running_them():
    pipe = build_tiny_sd()
    make_fast(pipe, compile=True)
    assert is_compiled(pipe.unet) and is_compiled(pipe.vae.decoder)
    assert not is_compiled(pipe.vae.encoder) and not is_compiled(pipe.text_encoder)
    info = pipe._paint_widgets_fast
    assert info.compiled == ["unet", "vae.decoder"] and info.compile_mode == "default"  # CPU
    make_fast(pipe, compile=True)  # idempotent
    assert info.compiled == ["unet", "vae.decoder"]
    assert type(pipe.unet).__name__ == "UNet2DConditionModel"  # compiled in place: class and config kept
    assert pipe.unet.config.in_channels == 9


def test_sdxl_fp16_vae_that_is_upcast_to_decode_is_not_compiled():
    pipe = build_tiny_sd()
    pipe.vae.to(torch.float16)
    pipe.__class__ = type("StableDiffusionXLInpaintPipeline", (type(pipe),), {})  # only the name matters
    make_fast(pipe, compile=True)
    info = pipe._paint_widgets_fast
    assert info.compiled == ["unet"] and pipe.vae.config.force_upcast is True
    assert any("not compiled" in note for note in info.notes)


def test_manager_compile_setting_compiles_on_load(fast_mgr):
    fast_mgr.configure(fast="compile")
    assert fast_mgr.status()["fast"] == "compile"
    pipe = fast_mgr.pipeline()
    assert is_compiled(pipe.unet) and is_compiled(pipe.vae.decoder)
    fast_mgr.configure(fast="compile")  # unchanged: nothing is released
    assert fast_mgr.pipeline() is pipe and fast_mgr.status()["loads"] == 1


def test_compiled_shapes_stay_stable_across_calls_and_crop_sizes(fast_mgr):
    """Traced and guarded as inductor would (backend="eager": no code generation, so cheap)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    try:
        img = np.random.default_rng(0).integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
        small, large = np.zeros((1024, 1024), bool), np.zeros((1024, 1024), bool)
        small[100:140, 100:140] = True
        large[500:800, 300:700] = True
        reference = np.asarray(pw.inpaint(img, small, "x", region="crop", **FAST).image)
        make_fast(fast_mgr.pipeline(), compile=True, backend="eager")
        first = np.asarray(pw.inpaint(img, small, "x", region="crop", **FAST).image)
        graphs = counters["stats"]["unique_graphs"]
        assert graphs == 2  # the UNet and the VAE decoder, once each
        pw.inpaint(img, large, "x", region="crop", **FAST)  # another box, the same native size
        pw.inpaint(img, small, "x", region="crop", steps=5, seed=1)
        assert counters["stats"]["unique_graphs"] == graphs  # no recompiles
        diff = np.abs(first.astype(int) - reference)
        assert diff.mean() < 0.5 and diff.max() <= 8
    finally:
        torch._dynamo.reset()


def test_warm_up_runs_one_short_generation_at_a_size(fast_mgr):
    fast_mgr.configure(fast=True)
    seconds = fast_mgr.warm_up(64, 96)
    assert seconds > 0
    assert (64, 96) in fast_mgr.pipeline()._paint_widgets_fast.warmed
    assert fast_mgr.status()["loads"] == 1
    with pytest.raises(pw.InvalidInputError, match="multiples of 8"):
        fast_mgr.warm_up(100, 64)
