"""Text masks: CLIPSeg preprocessing, the kept heatmap, prompts, ``!mask`` files, inpaint -tm.

The tiny CLIPSeg has random weights: its heatmaps are arbitrary but deterministic,
so these tests assert properties (shapes, monotonicity, unions, call counts), not values.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import paint_widgets as pw
from paint_widgets.engine import textmask as T
from paint_widgets.errors import InvalidInputError, MaskError
from paint_widgets.imaging import masks
from paint_widgets.imaging.text_mask import (
    TextMask,
    overlay_alpha,
    overlay_preview,
    union,
    view_of,
)


def picture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A structured RGB picture: gradients, a square, a little noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx + yy) % 256], -1)
    img[h // 4 : h // 2, w // 3 : 2 * w // 3] = (230, 140, 30)
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)


def synthetic(h: int = 64, w: int = 80, seed: int = 0) -> TextMask:
    """A TextMask with a smooth random heatmap (no model)."""
    rng = np.random.default_rng(seed)
    small = rng.random((8, 10)).astype(np.float32)
    heat = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR), dtype=np.float32)
    return TextMask(picture(h, w, seed), heat, "thing")


class ForwardSpy:
    """Counts CLIPSeg forward passes and keeps their inputs (wraps the resident model)."""

    def __init__(self, mgr, monkeypatch: pytest.MonkeyPatch) -> None:
        self.net, _ = mgr.clipseg()
        self.calls: list[dict] = []
        self.lock_held: list[bool] = []
        original = self.net.forward

        def forward(*args, **kwargs):
            self.calls.append({k: v.detach().clone() for k, v in kwargs.items() if torch.is_tensor(v)})
            self.lock_held.append(mgr.lock._is_owned())
            return original(*args, **kwargs)

        monkeypatch.setattr(self.net, "forward", forward)


@pytest.fixture
def tmask(tmgr):
    """``text_mask`` on the module's manager."""
    return functools.partial(T.text_mask, manager=tmgr)


@pytest.fixture
def spy(tmgr, monkeypatch: pytest.MonkeyPatch) -> ForwardSpy:
    return ForwardSpy(tmgr, monkeypatch)


# --------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize(("w", "h", "content"), [(200, 100, (352, 176)), (100, 200, (176, 352)),
                                                 (352, 352, (352, 352)), (1000, 10, (352, 4)),
                                                 (64, 48, (352, 264))])
def test_prepare_image_scales_longest_side_and_pads_top_left(w: int, h: int, content: tuple) -> None:
    img = Image.fromarray(np.full((h, w, 3), 200, np.uint8))
    canvas, got = T.prepare_image(img)
    assert canvas.size == (352, 352) and canvas.mode == "RGB"
    assert got == content
    arr = np.asarray(canvas)
    cw, ch = content
    assert (arr[:ch, :cw] > 150).all()  # the image, top-left
    assert (arr[ch:] == 0).all() and (arr[:, cw:] == 0).all()  # black padding


def test_heatmap_to_image_crops_the_padding_and_resizes() -> None:
    heat = np.ones((352, 352), np.float32)  # padding says "selected" ...
    heat[:176, :352] = 0.25  # ... the image part says 0.25
    out = T.heatmap_to_image(heat, (352, 176), (200, 100))
    assert out.shape == (100, 200) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.25, atol=1e-6)  # nothing of the padding leaks in
    # geometry: a left/right split at the content's middle stays at the image's middle
    heat = np.zeros((352, 352), np.float32)
    heat[:, 176:] = 1.0
    out = T.heatmap_to_image(heat, (352, 352), (1000, 1000))
    assert out[:, :495].max() == 0.0 and out[:, 505:].min() == 1.0
    # a heatmap at another resolution than the canvas is scaled along
    out = T.heatmap_to_image(np.full((88, 88), 0.5, np.float32), (352, 176), (30, 15))
    assert out.shape == (15, 30)


def test_processor_gets_a_352_canvas_and_does_not_resize(tmask, spy: ForwardSpy) -> None:
    img = picture(90, 150)
    tmask(img, "orange")
    pixels = spy.calls[-1]["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 352, 352)
    canvas, _ = T.prepare_image(Image.fromarray(img))
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    expected = ((np.asarray(canvas, np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(pixels[0].numpy(), expected, atol=1e-5)


# --------------------------------------------------------------------------- the TextMask


@pytest.mark.parametrize("shape", [(96, 128), (128, 96), (300, 40), (352, 352)])
def test_shapes_and_dtypes(tmask, shape: tuple[int, int]) -> None:
    img = picture(*shape)
    tm = tmask(img, "orange", 0.4)
    assert isinstance(tm, TextMask) and isinstance(tm, pw.TextMask)
    assert pw.text_mask is T.text_mask and pw.save_mask_debug is T.save_mask_debug
    assert tm.heatmap.shape == shape and tm.heatmap.dtype == np.float32
    assert 0.0 <= tm.heatmap.min() and tm.heatmap.max() <= 1.0
    assert tm.threshold == 0.4 and tm.prompt == "orange" and tm.prompts == ("orange",)
    mask = tm.mask()
    assert mask.shape == shape and mask.dtype == bool
    np.testing.assert_array_equal(mask, tm.heatmap >= 0.4)
    np.testing.assert_array_equal(tm.image, img)
    assert tm.refined(0.5).dtype == np.float32
    assert tm.size == (shape[1], shape[0])


def test_accepts_paths_pil_and_rgba(tmask, tmp_path: Path) -> None:
    img = picture(100, 140)
    path = tmp_path / "pic.png"
    Image.fromarray(img).save(path)
    rgba = np.dstack([img, np.full(img.shape[:2], 7, np.uint8)])  # alpha ignored, colour kept
    heats = [tmask(src, "orange").heatmap for src in (img, path, Image.fromarray(img), rgba)]
    for heat in heats[1:]:
        np.testing.assert_array_equal(heat, heats[0])


def test_deterministic(tmask) -> None:
    img = picture(96, 128)
    np.testing.assert_array_equal(tmask(img, "hair").heatmap, tmask(img, "hair").heatmap)


def test_model_loads_once_and_stays_resident(mgr, tiny_models) -> None:
    img = picture(96, 128)
    T.text_mask(img, "orange")
    T.text_mask(img, "hair", model=str(tiny_models["clipseg"]))
    status = pw.manager().status()
    assert status["loads"] == 1
    assert str(tiny_models["clipseg"]) in status["resident"]
    assert status["resident"][str(tiny_models["clipseg"])] > 0


def test_forward_runs_under_the_manager_lock(tmgr, tmask, spy: ForwardSpy) -> None:
    tm = tmask(picture(64, 64), "orange")
    assert spy.lock_held == [True]
    assert not tmgr.lock._is_owned()
    assert tm.heatmap.flags.writeable


def test_threshold_monotonic_on_model_heatmap(tmask) -> None:
    tm = tmask(picture(120, 90), "orange")
    thresholds = np.linspace(0.0, 1.0, 41)
    counts = [tm.mask(float(t)).sum() for t in thresholds]
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    assert counts[0] == tm.heatmap.size  # 0 selects everything
    for lo, hi in zip(thresholds, thresholds[1:], strict=False):
        assert not (tm.mask(float(hi)) & ~tm.mask(float(lo))).any()  # higher ⊆ lower


@settings(max_examples=80, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(0, 2**16))
def test_threshold_monotonic_property(t1: float, t2: float, seed: int) -> None:
    tm = synthetic(seed=seed)
    lo, hi = min(t1, t2), max(t1, t2)
    assert not (tm.mask(hi) & ~tm.mask(lo)).any()
    assert tm.coverage(hi) <= tm.coverage(lo)
    # the preview follows the same rule
    assert (overlay_alpha(tm.heatmap, hi) > 0).sum() <= (overlay_alpha(tm.heatmap, lo) > 0).sum()


def test_rethresholding_never_calls_the_model(tmask, spy: ForwardSpy) -> None:
    tm = tmask(picture(96, 128), "orange")
    before, forwards = T.model_calls(), len(spy.calls)
    painted = np.zeros(tm.shape, bool)
    painted[10:40, 10:40] = True
    for t in np.linspace(0, 1, 21):
        t = float(t)
        tm.mask(t), tm.coverage(t), tm.selected(t), tm.deselected(t), tm.masked(t)
        tm.refined(t, grow=3, feather=2), tm.combine(painted, "subtract", t), tm.preview(t)
        tm.with_threshold(t).mask()
    tm.selected(), tm.deselected(), repr(tm), tm._repr_png_()
    assert T.model_calls() == before and len(spy.calls) == forwards


# --------------------------------------------------------------------------- several prompts


def test_union_of_prompts_is_one_batched_call(tmask, spy: ForwardSpy) -> None:
    img = picture(96, 128)
    before = T.model_calls()
    both = tmask(img, "face|hair", 0.5)
    assert T.model_calls() == before + 1 and len(spy.calls) == 1
    call = spy.calls[0]
    assert call["input_ids"].shape[0] == 2 and call["pixel_values"].shape[0] == 2
    assert both.prompts == ("face", "hair") and both.prompt == "face|hair"
    face, hair = both.part("face"), both.part(1)
    np.testing.assert_array_equal(both.heatmap, np.maximum(face.heatmap, hair.heatmap))
    assert (both.heatmap >= face.heatmap).all() and (both.heatmap >= hair.heatmap).all()
    for t in (0.3, 0.5, 0.7):
        np.testing.assert_array_equal(both.mask(t), face.mask(t) | hair.mask(t))
    # a batched prompt gives (numerically) what it gives alone
    alone = tmask(img, "hair")
    np.testing.assert_allclose(hair.heatmap, alone.heatmap, atol=1e-4)


def test_list_of_prompts_equals_pipe_syntax(tmask, spy: ForwardSpy) -> None:
    img = picture(80, 100)
    listed = tmask(img, ["face", "hair"])
    piped = tmask(img, " face | hair ")
    assert len(spy.calls) == 2  # one call each
    assert listed.prompts == piped.prompts == ("face", "hair")
    np.testing.assert_allclose(listed.heatmap, piped.heatmap, atol=1e-6)
    # repeats are dropped, list items are split too
    assert T.split_prompts(["face|hair", "face", "eyes"]) == ["face", "hair", "eyes"]


def test_union_helper() -> None:
    a, b = synthetic(seed=1).heatmap, synthetic(seed=2).heatmap
    u = union([a, b])
    assert (u >= a).all() and (u >= b).all() and u.dtype == np.float32
    with pytest.raises(InvalidInputError):
        union([])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("prompt", ["", "   ", "face|", "|hair", "face||hair", [], [""], ["face", " "]])
def test_empty_prompts_are_clear_errors(tmask, prompt) -> None:
    before = T.model_calls()
    with pytest.raises(InvalidInputError, match="empty"):
        tmask(picture(64, 64), prompt)
    assert T.model_calls() == before


@pytest.mark.parametrize("prompt", [None, 3, b"hair", ["hair", 2]])
def test_non_string_prompts_are_clear_errors(tmask, prompt) -> None:
    with pytest.raises(InvalidInputError, match="string"):
        tmask(picture(64, 64), prompt)


@pytest.mark.parametrize("threshold", [-0.01, 1.01, math.nan, math.inf, "0.5", None, True])
def test_threshold_outside_0_1_is_a_clear_error(tmask, threshold) -> None:
    before = T.model_calls()
    with pytest.raises(InvalidInputError, match=r"threshold"):
        tmask(picture(64, 64), "hair", threshold)
    assert T.model_calls() == before  # rejected before the model runs
    if threshold is None:
        return  # None is "the TextMask's own threshold" for its methods
    tm = synthetic()
    for method in (tm.mask, tm.coverage, tm.selected, tm.deselected, tm.masked, tm.refined):
        with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
            method(threshold)


def test_threshold_bounds_are_inclusive() -> None:
    tm = synthetic()
    assert tm.mask(0.0).all()
    assert tm.coverage(1.0) == float((tm.heatmap >= 1.0).mean())


def test_bad_images_and_heatmaps(tmask) -> None:
    with pytest.raises(pw.ImageLoadError):
        tmask("/no/such/file.png", "hair")
    img = picture(20, 30)
    with pytest.raises(MaskError):
        TextMask(img, np.zeros((20, 31), np.float32))
    with pytest.raises(MaskError):
        TextMask(img, np.zeros((20, 30), np.uint8))
    with pytest.raises(MaskError):
        TextMask(img, np.full((20, 30), np.nan, np.float32))
    clipped = TextMask(img, np.full((20, 30), 1.5, np.float32)).heatmap
    assert clipped.max() == 1.0


# --------------------------------------------------------------------------- images, refine, combine


def test_selected_deselected_masked_images() -> None:
    tm = synthetic(60, 90)
    sel, desel, masked = tm.selected(), tm.deselected(), tm.masked(0.6)
    assert sel.mode == desel.mode == "RGBA" and masked.mode == "L"
    assert sel.size == desel.size == masked.size == (90, 60)
    a_sel, a_desel = np.asarray(sel)[..., 3], np.asarray(desel)[..., 3]
    np.testing.assert_array_equal(a_sel, np.round(tm.heatmap * 255).astype(np.uint8))
    np.testing.assert_array_equal(a_desel.astype(int), 255 - a_sel.astype(int))
    np.testing.assert_array_equal(np.asarray(sel)[..., :3], tm.image)
    m = np.asarray(masked)
    assert set(np.unique(m)) <= {0, 255}
    np.testing.assert_array_equal(m == 0, tm.mask(0.6))  # black = selected, as -M reads it
    np.testing.assert_array_equal(masks.mask_from_mask_image(masked) > 0.5, tm.mask(0.6))
    # with a threshold the alpha is the hard mask
    np.testing.assert_array_equal(np.asarray(tm.selected(0.6))[..., 3] == 255, tm.mask(0.6))
    np.testing.assert_array_equal(np.asarray(tm.deselected(0.6))[..., 3] == 0, tm.mask(0.6))


def test_refined_grow_and_feather() -> None:
    tm = synthetic(80, 80)
    base = tm.mask(0.5)
    np.testing.assert_array_equal(tm.refined(0.5), base.astype(np.float32))
    grown = tm.refined(0.5, grow=4)
    assert (grown[base] == 1.0).all() and grown.sum() > base.sum()
    shrunk = tm.refined(0.5, grow=-3)
    assert shrunk.sum() < base.sum() and not (shrunk.astype(bool) & ~base).any()
    soft = tm.refined(0.5, grow=4, feather=4)
    assert soft.dtype == np.float32 and 0.0 <= soft.min() and soft.max() <= 1.0
    assert ((soft > 0) & (soft < 1)).any()  # a soft edge
    with pytest.raises(InvalidInputError):
        tm.refined(0.5, feather=-1)


def test_combine_with_painted_masks() -> None:
    tm = synthetic(50, 70)
    text = tm.mask(0.5)
    painted = np.zeros(text.shape, bool)
    painted[5:30, 10:50] = True
    np.testing.assert_array_equal(tm.combine(painted, "add"), text | painted)
    np.testing.assert_array_equal(tm.combine(painted, "subtract"), text & ~painted)
    np.testing.assert_array_equal(tm.combine(painted, "intersect"), text & painted)
    soft = tm.combine(painted.astype(np.float32) * 0.5, "add")
    assert soft.dtype == np.float32 and soft.max() == 1.0
    np.testing.assert_array_equal(soft[~text & painted], 0.5)
    with pytest.raises(MaskError):
        tm.combine(np.zeros((10, 10), bool))
    with pytest.raises(MaskError):
        tm.combine(painted, "xor")  # type: ignore[arg-type]


def test_preview_helpers() -> None:
    tm = synthetic(1000, 600)
    image_view, heat_view = view_of(tm.image, tm.heatmap, 500)
    assert heat_view.shape == (500, 300) and image_view.shape == (500, 300, 3)
    layer = overlay_preview(None, heat_view, 0.5, (10, 20, 30), 0.5)
    assert layer.shape == (500, 300, 4) and layer.dtype == np.uint8
    np.testing.assert_array_equal(layer[..., 3] > 0, heat_view >= 0.5)
    assert (layer[..., 3][heat_view >= 0.5] == 128).all()
    composite = overlay_preview(image_view, heat_view, 0.5, (10, 20, 30), 0.5)
    assert (composite[..., 3] == 255).all()
    off = heat_view < 0.5
    np.testing.assert_array_equal(composite[..., :3][off], image_view[off])
    soft = overlay_alpha(heat_view, 0.5, 1.0, grow=2, feather=3)
    assert soft.dtype == np.uint8 and ((soft > 0) & (soft < 255)).any()
    assert tm.preview().size == (308, 512) or max(tm.preview().size) == 512


# --------------------------------------------------------------------------- !mask


def test_save_mask_debug_names_and_contents(tmgr, tmask, tmp_path: Path) -> None:
    src = tmp_path / "still-life.png"
    Image.fromarray(picture(96, 128)).save(src)
    out = tmp_path / "img-samples"
    out.mkdir()
    (out / "000041.123.png").write_bytes(b"")  # outputs already there: numbering continues
    paths = pw.save_mask_debug(src, 'a bagel/cup?"', 0.4, out, manager=tmgr)
    names = [p.name for p in paths]
    assert names == [
        "000042.still-life.a_bagel_cup.deselected.png",
        "000042.still-life.a_bagel_cup.selected.png",
        "000042.still-life.a_bagel_cup.masked.png",
    ]
    assert all(p.parent == out and p.exists() for p in paths)
    tm = tmask(src, 'a bagel/cup?"', 0.4)
    with Image.open(paths[2]) as masked:
        assert masked.mode == "L"
        np.testing.assert_array_equal(np.asarray(masked) == 0, tm.mask())
        assert masked.info["Dream"].startswith("!mask ")
    with Image.open(paths[1]) as sel:
        assert sel.mode == "RGBA" and sel.size == (128, 96)
    again = T.save_mask_debug(src, "face|hair", 0.5, out, manager=tmgr)
    assert [p.name for p in again] == [f"000043.still-life.face_hair.{k}.png" for k in T.DEBUG_KINDS]


def test_save_mask_debug_from_threads_at_once_never_shares_a_number(tmgr, tmp_path: Path) -> None:
    """Four ``!mask`` runs into one folder at once: four numbers, three whole sets each."""
    from concurrent.futures import ThreadPoolExecutor

    src = tmp_path / "still-life.png"
    Image.fromarray(picture(96, 128)).save(src)
    out = tmp_path / "img-samples"
    with ThreadPoolExecutor(4) as pool:
        sets = list(pool.map(lambda i: T.save_mask_debug(src, f"cup{i}", 0.5, out, manager=tmgr), range(4)))
    numbers = [{p.name.split(".")[0] for p in paths} for paths in sets]
    assert all(len(n) == 1 for n in numbers) and len(set.union(*numbers)) == 4
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for paths in sets for p in paths)


def test_save_mask_debug_bad_input(tmgr, tmp_path: Path) -> None:
    src = tmp_path / "x.png"
    Image.fromarray(picture(40, 40)).save(src)
    with pytest.raises(InvalidInputError, match="empty"):
        T.save_mask_debug(src, "  ", 0.5, tmp_path / "out", manager=tmgr)
    with pytest.raises(InvalidInputError, match="threshold"):
        T.save_mask_debug(src, "hair", 2.0, tmp_path / "out", manager=tmgr)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --------------------------------------------------------------------------- inpaint -tm


def test_inpaint_with_text_mask_end_to_end(mgr, photo: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    from paint_widgets.engine import inpainting

    used: list[np.ndarray] = []
    original = inpainting.masks.require_paint
    monkeypatch.setattr(inpainting.masks, "require_paint", lambda m: (used.append(m.copy()), original(m)))
    tm = T.text_mask(photo, "orange")
    before = T.model_calls()
    result = pw.inpaint(photo, prompt="a baseball", text_mask=("orange", 0.6), steps=2, seed=1)
    assert T.model_calls() == before + 1
    np.testing.assert_array_equal(used[-1], tm.mask(0.6).astype(np.float32))  # the mask it painted
    assert result.commands[0].endswith("-tm orange 0.6")
    out = np.asarray(result.images[0])
    assert out.shape == photo.shape
    assert not np.array_equal(out[tm.mask(0.6)], photo[tm.mask(0.6)])
    # a bare string uses the default threshold 0.5
    default = pw.inpaint(photo, prompt="a baseball", text_mask="orange", steps=2, seed=1)
    np.testing.assert_array_equal(used[-1], tm.mask(0.5).astype(np.float32))
    assert default.commands[0].endswith("-tm orange 0.5")
    # a tight threshold leaves pixels far from the mask: those are the input's, bit for bit
    tight = pw.inpaint(photo, prompt="a baseball", text_mask=("orange", 0.85), steps=2, seed=1)
    far = ~masks.grow(tm.mask(0.85), 17)  # beyond paste-back's dilate + feather
    assert far.any()
    np.testing.assert_array_equal(np.asarray(tight.images[0])[far], photo[far])
