"""Inpainting with the tiny models, through the real loading path."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from engine_helpers import outside
from PIL import Image

import paint_widgets as pw
from paint_widgets.engine.denoise import Step
from paint_widgets.requests import SAMPLERS

FAST = {"steps": 3, "seed": 7}



def test_result_carries_images_seeds_and_reproducing_commands(mgr, photo, box_mask, tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(photo).save(path)
    result = pw.inpaint(str(path), box_mask, "a red barn", steps=3, seed=123, cfg=7.5)
    assert isinstance(result, pw.Result)
    assert [im.size for im in result.images] == [(128, 96)]
    assert result.seeds == [123]
    assert result.commands[0].startswith('"a red barn" -s 3 -S 123 -W 128 -H 96 -C 7.5 -I ')
    assert f"-I {path}" in result.commands[0] and "-A k_lms -f 0.75" in result.commands[0]


def test_unmasked_pixels_are_bit_identical_and_masked_pixels_change(mgr, photo, box_mask):
    out = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    keep = outside(box_mask)
    assert keep.sum() > 0.4 * keep.size
    assert np.array_equal(out[keep], photo[keep])
    assert np.abs(out[box_mask].astype(int) - photo[box_mask]).mean() > 5


def test_same_seed_gives_identical_pixels_and_another_seed_differs(mgr, photo, box_mask):
    a = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    b = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    c = np.asarray(pw.inpaint(photo, box_mask, "x", steps=3, seed=8).image)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_invokeai_sampler_runs(mgr, sampler):
    img = np.full((64, 64, 3), 100, np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[16:48, 16:48] = True
    result = pw.inpaint(img, mask, "x", steps=3, seed=1, sampler=sampler)
    assert result.image.size == (64, 64)
    assert f"-A {sampler} " in result.commands[0]


@pytest.mark.parametrize("model_key", ["sd-inpaint", "sd"])
def test_both_unet_types_and_inpaint_replace(mgr, tiny_models, photo, box_mask, model_key):
    model = str(tiny_models[model_key])
    plain = np.asarray(pw.inpaint(photo, box_mask, "x", model=model, **FAST).image)
    replaced = np.asarray(pw.inpaint(photo, box_mask, "x", model=model, inpaint_replace=1.0, **FAST).image)
    keep = outside(box_mask)
    assert np.array_equal(replaced[keep], photo[keep])
    # -r changes what grows in the painted area, on both model types
    assert np.abs(plain[box_mask].astype(int) - replaced[box_mask]).mean() > 1


def test_four_channel_unet_is_loaded_as_an_inpainting_pipeline(mgr, tiny_models):
    pipe = mgr.pipeline(str(tiny_models["sd"]))
    assert pipe.unet.config.in_channels == 4 and "Inpaint" in type(pipe).__name__


def test_transparent_rgba_needs_no_mask_and_partial_alpha_blends(mgr, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[10:40, 10:50, 3] = 0
    rgba[60:90, 80:120, 3] = 128
    out = np.asarray(pw.inpaint(rgba, None, "x", **FAST).image)
    paint = 1 - rgba[..., 3] / 255.0
    keep = outside(paint)
    assert np.array_equal(out[keep], photo[keep])
    assert np.abs(out[15:35, 15:45].astype(int) - photo[15:35, 15:45]).mean() > 5


def test_mask_file_replaces_alpha_and_invert_mask(mgr, photo, tmp_path):
    mask_img = np.full((96, 128), 255, np.uint8)  # -M convention: white keeps
    mask_img[:, :40] = 0  # black paints the left band
    mpath = tmp_path / "m.png"
    Image.fromarray(mask_img).save(mpath)
    out = np.asarray(pw.inpaint(photo, str(mpath), "x", **FAST).image)
    left = np.zeros((96, 128), bool)
    left[:, :40] = True
    assert np.array_equal(out[:, 70:], photo[:, 70:])
    inv = np.asarray(pw.inpaint(photo, str(mpath), "x", invert_mask=True, **FAST).image)
    assert np.array_equal(inv[:, :20], photo[:, :20])
    assert not np.array_equal(inv[:, 70:], photo[:, 70:])


def test_sizes_off_the_grid_are_restored(mgr):
    img = np.random.default_rng(0).integers(0, 255, (75, 101, 3), dtype=np.uint8)
    mask = np.zeros((75, 101), bool)
    mask[20:50, 30:70] = True
    out = pw.inpaint(img, mask, "x", **FAST)
    assert out.image.size == (101, 75)
    keep = outside(mask)
    assert np.array_equal(np.asarray(out.image)[keep], img[keep])


def test_width_height_resize_the_request(mgr, photo, box_mask):
    out = pw.inpaint(photo, box_mask, "x", width=192, height=144, **FAST)
    assert out.image.size == (192, 144)
    assert "-W 192 -H 144" in out.commands[0]


def test_iterations_give_one_image_per_seed(mgr, photo, box_mask):
    out = pw.inpaint(photo, box_mask, "x", steps=2, seed=10, iterations=3)
    assert out.seeds == [10, 11, 12] and len(out.images) == 3
    assert not np.array_equal(np.asarray(out.images[0]), np.asarray(out.images[1]))


def test_progress_is_called_every_step_with_a_preview(mgr, photo, box_mask):
    steps: list[Step] = []
    pw.inpaint(photo, box_mask, "x", steps=8, strength=0.5, seed=1, sampler="ddim", progress=steps.append)
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert all(s.total == 4 for s in steps)
    preview = steps[-1].preview()
    assert preview.shape == (96, 128, 3) and preview.dtype == np.uint8


def test_cancel_stops_within_one_step_and_manager_stays_usable(mgr, photo, box_mask):
    seen: list[int] = []

    def cancel_at_two(step: Step) -> None:
        seen.append(step.step)
        if step.step == 2:
            mgr.cancel()

    with pytest.raises(pw.CancelledError):
        pw.inpaint(photo, box_mask, "x", steps=10, strength=1.0, seed=1, sampler="ddim", progress=cancel_at_two)
    assert seen == [1, 2]
    assert pw.inpaint(photo, box_mask, "x", **FAST).image.size == (128, 96)


def test_out_of_memory_is_reported_and_the_next_call_works(mgr, photo, box_mask, monkeypatch):
    pipe = mgr.pipeline()
    calls = {"n": 0}
    real_forward = pipe.unet.forward

    def exploding(*args, **kwargs):
        calls["n"] += 1
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(pipe.unet, "forward", exploding)
    with pytest.raises(pw.OutOfMemoryError, match="still usable"):
        pw.inpaint(photo, box_mask, "x", **FAST)
    assert calls["n"] == 1
    monkeypatch.setattr(pipe.unet, "forward", real_forward)
    assert pw.inpaint(photo, box_mask, "x", **FAST).image.size == (128, 96)
    assert mgr.status()["loads"] == 1


def test_two_threads_are_served_one_after_the_other_with_correct_results(mgr, photo, box_mask):
    expected = np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(np.asarray(pw.inpaint(photo, box_mask, "x", **FAST).image))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 2 and all(np.array_equal(r, expected) for r in results)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strength": 0.0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"strength": float("nan")}, "strength"),
        ({"sampler": "k_unknown"}, "unknown sampler"),
        ({"steps": 0}, "steps"),
        ({"cfg": -1}, "cfg"),
        ({"seed": -5}, "seed"),
        ({"inpaint_replace": 2}, "inpaint_replace"),
    ],
)
def test_bad_parameters_get_clear_errors(mgr, photo, box_mask, kwargs, message):
    with pytest.raises(pw.InvalidInputError, match=message):
        pw.inpaint(photo, box_mask, "x", **kwargs)


def test_bad_images_and_masks_get_clear_errors(mgr, photo, box_mask, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(pw.ImageLoadError, match="not an image"):
        pw.inpaint(str(text), box_mask, "x")
    with pytest.raises(pw.ImageLoadError, match="not found"):
        pw.inpaint(str(tmp_path / "missing.png"), box_mask, "x")
    with pytest.raises(pw.MaskError, match="but the image is"):
        pw.inpaint(photo, np.ones((10, 10), bool), "x")
    with pytest.raises(pw.MaskError, match="empty"):
        pw.inpaint(photo, np.zeros((96, 128), bool), "x")
    with pytest.raises(pw.MaskError, match="empty"):
        pw.inpaint(photo, None, "x")  # opaque RGB, no mask: nothing to paint
    with pytest.raises(pw.ImageLoadError):
        pw.inpaint(42, box_mask, "x")  # type: ignore[arg-type]


def test_img2img_over_an_opaque_image_is_a_property_of_the_request(mgr, photo):
    from paint_widgets.engine.api import run
    from paint_widgets.requests import GenerationParams, InpaintRequest

    params = GenerationParams(prompt="x", steps=4, strength=0.5, seed=3)
    with pytest.raises(pw.MaskError):  # the API's default: nothing painted, nothing to do
        run(InpaintRequest(image=photo, params=params))
    result = run(InpaintRequest(image=photo, params=params, if_opaque="img2img", image_ref="p.png"))
    out = np.asarray(result.image)
    assert out.shape == photo.shape and not np.array_equal(out, photo)  # the whole image was repainted
    assert result.metadata[0]["mode"] == "img2img" and " -M " not in result.commands[0]
    with pytest.raises(pw.InvalidInputError, match="if_opaque"):
        InpaintRequest(image=photo, if_opaque="sometimes")
