"""Crop-to-mask inpainting: exact geometry, native-size generation, stitching, the auto rule."""

from __future__ import annotations

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.engine import crop, generation
from paint_widgets.engine.crop import Box, choose_region, crop_box, generation_size, native_size
from paint_widgets.imaging.paste import paste_alpha


def square_mask(height: int, width: int, top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[top : top + size, left : left + size] = True
    return mask


def picture(height: int, width: int) -> np.ndarray:
    """Gradients and stripes: every pixel differs from its neighbours a little."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // width, yy * 255 // height, ((xx // 7 + yy // 5) % 2) * 180 + 30],
                    axis=-1).astype(np.uint8)


@pytest.fixture
def denoised_shapes(monkeypatch) -> list[tuple[int, ...]]:
    """The shapes of the images handed to the denoiser (no timing involved)."""
    shapes: list[tuple[int, ...]] = []
    real = generation.denoise_masked

    def spy(pipe, image, paint, *args, **kwargs):
        shapes.append(image.shape)
        assert paint.shape == image.shape[:2]
        return real(pipe, image, paint, *args, **kwargs)

    monkeypatch.setattr(generation, "denoise_masked", spy)
    return shapes


# --------------------------------------------------------------------------- geometry


def test_box_is_the_padded_bounding_box_when_already_square_and_on_the_grid():
    mask = square_mask(2048, 2048, 1000, 1000, 200)
    assert crop_box(mask, 32) == Box(968, 968, 1232, 1232)  # 200 + 2*32 = 264, a multiple of 8
    assert crop_box(mask, 0) == Box(1000, 1000, 1200, 1200)


def test_sides_round_up_to_multiples_of_eight_around_the_centre():
    mask = square_mask(1000, 1000, 400, 400, 201)  # 201 + 64 = 265 -> 272
    box = crop_box(mask, 32)
    assert (box.bottom - box.top, box.right - box.left) == (272, 272)
    assert box == Box(364, 364, 636, 636)  # centre (368 + 633) / 2 kept, rounded down


def test_a_wide_mask_grows_to_the_square_aspect_and_a_tall_one_too():
    wide = np.zeros((2000, 2000), bool)
    wide[1000:1040, 500:800] = True  # 40 x 300 -> padded 60 x 320 -> 320 x 320
    assert crop_box(wide, 10) == Box(860, 490, 1180, 810)
    tall = wide.T
    assert crop_box(tall, 10) == Box(490, 860, 810, 1180)


def test_other_aspects():
    mask = square_mask(2000, 3000, 900, 1400, 100)  # padded 164 x 164
    box = crop_box(mask, 32, aspect=2.0)
    assert (box.bottom - box.top, box.right - box.left) == (168, 328)
    box = crop_box(mask, 32, aspect=0.5)
    assert (box.bottom - box.top, box.right - box.left) == (328, 168)


def test_boxes_shift_inside_the_image_at_edges_instead_of_shrinking():
    corner = square_mask(1500, 1200, 0, 0, 50)  # padded box starts at -32
    assert crop_box(corner, 32) == Box(0, 0, 120, 120)  # 50 + 64 = 114 -> 120
    far = square_mask(1500, 1200, 1450, 1150, 50)
    assert crop_box(far, 32) == Box(1380, 1080, 1500, 1200)


def test_a_box_larger_than_the_image_becomes_the_whole_side():
    strip = np.zeros((100, 3000), bool)
    strip[40:60, 1000:1400] = True  # padded 84 x 464 -> square 464, but the image is 100 tall
    box = crop_box(strip, 32)
    assert box == Box(0, 968, 100, 1432)


def test_boxes_always_hold_the_padded_mask_and_stay_in_the_image():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(64, 900, size=2))
        mask = np.zeros((h, w), bool)
        t, c = int(rng.integers(0, h)), int(rng.integers(0, w))
        mask[t : t + int(rng.integers(1, 200)), c : c + int(rng.integers(1, 200))] = True
        pad = int(rng.integers(0, 80))
        box = crop_box(mask, pad)
        top, left, bottom, right = crop.bounding_box(mask)
        assert 0 <= box.top and 0 <= box.left and box.bottom <= h and box.right <= w
        assert box.top <= max(top - pad, 0) and box.left <= max(left - pad, 0)
        assert box.bottom >= min(bottom + pad, h) and box.right >= min(right + pad, w)
        bh, bw = box.bottom - box.top, box.right - box.left
        assert bh % 8 == 0 or bh == h
        assert bw % 8 == 0 or bw == w
        if bh < h and bw < w:
            assert bh == bw  # square unless the image cut it


def test_generation_size_puts_the_long_side_at_native_size():
    assert generation_size(Box(0, 0, 264, 264), 512) == (512, 512)
    assert generation_size(Box(0, 0, 2000, 2000), 512) == (512, 512)
    assert generation_size(Box(0, 0, 1000, 2000), 512) == (512, 256)
    assert generation_size(Box(0, 0, 100, 300), 512) == (512, 168)
    assert generation_size(Box(0, 0, 10, 3000), 1024) == (1024, 64)  # at least 64


def test_native_size_of_the_tiny_model_and_of_sdxl(mgr):
    assert native_size(mgr.pipeline()) == 512  # sample_size 64 x vae factor 8

    class StableDiffusionXLInpaintPipeline:  # only the name matters
        pass

    assert native_size(StableDiffusionXLInpaintPipeline()) == 1024


# --------------------------------------------------------------------------- the auto rule


def test_auto_crops_a_small_mask_on_a_large_image_only():
    native = 512
    small_mask_big_image = square_mask(2048, 2048, 900, 900, 200)
    assert choose_region(small_mask_big_image, "auto", 32, native) == crop_box(small_mask_big_image, 32)
    # the image is not large: its longest side is at most 1.5 x native
    on_768 = square_mask(768, 600, 300, 300, 50)
    assert choose_region(on_768, "auto", 32, native) is None
    on_776 = square_mask(776, 600, 300, 300, 50)
    assert choose_region(on_776, "auto", 32, native) is not None
    # the mask is not small: its crop box covers half the image or more
    big_mask = square_mask(2048, 2048, 300, 300, 1400)  # box 1464^2 = 51% of the image
    assert choose_region(big_mask, "auto", 32, native) is None
    smaller = square_mask(2048, 2048, 300, 300, 1380)  # box 1448^2 = 49.98%
    assert choose_region(smaller, "auto", 32, native) is not None
    # SDXL's native size moves the threshold
    assert choose_region(small_mask_big_image, "auto", 32, 1024) is not None
    assert choose_region(square_mask(1536, 1536, 700, 700, 50), "auto", 32, 1024) is None


def test_full_and_crop_are_taken_literally():
    mask = square_mask(96, 128, 32, 48, 20)
    assert choose_region(mask, "full", 32, 512) is None
    assert choose_region(mask, "crop", 32, 512) == crop_box(mask, 32)
    with pytest.raises(pw.InvalidInputError, match="region"):
        choose_region(mask, "sideways", 32, 512)


def test_crop_with_an_empty_mask_errors_clearly(mgr, photo):
    with pytest.raises(pw.MaskError, match="region='crop'.*empty"):
        choose_region(np.zeros((96, 128), np.float32), "crop", 32, 512)
    with pytest.raises(pw.MaskError, match="empty"):
        pw.inpaint(photo, np.zeros((96, 128), bool), "x", region="crop", steps=2)
    with pytest.raises(pw.MaskError, match="empty"):
        pw.inpaint(photo, np.zeros((96, 128), np.float32), "x", region="crop", steps=2)
    opaque = np.dstack([photo, np.full((96, 128), 255, np.uint8)])  # no mask, nothing transparent
    with pytest.raises(pw.MaskError, match="empty"):
        pw.inpaint(opaque, None, "x", region="crop", steps=2)
    with pytest.raises(pw.InvalidInputError, match="region"):
        pw.inpaint(photo, square_mask(96, 128, 10, 10, 10), "x", region="middle")


def test_padding_smaller_than_the_paste_feather_is_raised_to_it():
    assert crop.crop_padding_for(0, 8, 8) == 16
    assert crop.crop_padding_for(32, 8, 8) == 32


# --------------------------------------------------------------------------- generation


def test_crop_on_a_large_image_generates_at_native_size_and_stitches_back(mgr, denoised_shapes):
    img = picture(2048, 2048)
    mask = square_mask(2048, 2048, 1300, 700, 200)
    out = np.asarray(pw.inpaint(img, mask, "x", region="crop", steps=2, seed=3).image)
    assert denoised_shapes == [(512, 512, 3)]
    assert out.shape == img.shape
    box = crop_box(mask, 32)
    outside_box = np.ones(mask.shape, bool)
    outside_box[box.top : box.bottom, box.left : box.right] = False
    assert np.array_equal(out[outside_box], img[outside_box])
    # inside the box too, everything beyond the dilated, feathered mask is untouched
    from paint_widgets.engine.inpainting import PASTE_BLUR, PASTE_DILATE

    untouched = paste_alpha(mask.astype(np.float32), dilate=PASTE_DILATE, blur=PASTE_BLUR) == 0
    assert np.array_equal(out[untouched], img[untouched])
    assert np.abs(out[mask].astype(int) - img[mask]).mean() > 5


def test_crop_is_correct_at_an_image_corner_on_a_non_square_image(mgr, denoised_shapes):
    img = picture(1200, 2000)
    mask = np.zeros((1200, 2000), np.float32)
    mask[1150:, 1900:] = 1.0  # touches the bottom-right corner
    mask[1100:1150, 1900:1950] = 0.5  # soft paint counts too
    out = np.asarray(pw.inpaint(img, mask, "x", region="crop", steps=2, seed=1).image)
    box = crop_box(mask, 32)
    assert (box.bottom, box.right) == (1200, 2000)
    assert denoised_shapes == [(512, 512, 3)]
    from paint_widgets.engine.inpainting import PASTE_BLUR, PASTE_DILATE

    untouched = paste_alpha(mask, dilate=PASTE_DILATE, blur=PASTE_BLUR) == 0
    assert np.array_equal(out[untouched], img[untouched])
    assert not np.array_equal(out[1160:, 1910:], img[1160:, 1910:])


def test_auto_crops_the_large_image_and_keeps_small_images_whole(mgr, photo, box_mask, denoised_shapes):
    pw.inpaint(photo, box_mask, "x", steps=2, seed=1)  # region="auto" is the default
    assert denoised_shapes == [(96, 128, 3)]
    big, mask = picture(800, 800), square_mask(800, 800, 100, 500, 150)  # 800 > 1.5 x 512
    pw.inpaint(big, mask, "x", steps=2, seed=1)
    assert denoised_shapes[-1] == (512, 512, 3)
    pw.inpaint(big, mask, "x", steps=2, seed=1, region="full")
    assert denoised_shapes[-1] == (800, 800, 3)


def test_crop_padding_widens_the_context(mgr, denoised_shapes, monkeypatch):
    boxes: list[Box] = []
    real = generation.choose_region

    def spy(*args, **kwargs):
        boxes.append(real(*args, **kwargs))
        return boxes[-1]

    monkeypatch.setattr(generation, "choose_region", spy)
    img, mask = picture(1024, 1024), square_mask(1024, 1024, 500, 500, 40)
    pw.inpaint(img, mask, "x", region="crop", crop_padding=100, steps=2, seed=1)
    pw.inpaint(img, mask, "x", region="crop", crop_padding=0, steps=2, seed=1)
    assert boxes == [Box(400, 400, 640, 640), Box(484, 484, 556, 556)]  # padding 0 -> 16 (paste reach)
    assert denoised_shapes == [(512, 512, 3), (512, 512, 3)]


def test_a_4096_image_with_a_200_px_mask_is_generated_as_one_native_crop(mgr, denoised_shapes):
    img = np.zeros((4096, 4096, 3), np.uint8)
    img[..., 0] = 90
    img[::64] = 255
    mask = square_mask(4096, 4096, 2900, 1000, 200)
    result = pw.inpaint(img, mask, "x", steps=2, seed=5)  # auto
    assert result.image.size == (4096, 4096)
    assert denoised_shapes == [(512, 512, 3)]
    out = np.asarray(result.image)
    assert np.array_equal(out[:2800], img[:2800])
    assert np.array_equal(out[:, :900], img[:, :900])


def test_paste_near_the_mask_gives_exactly_the_pixels_of_a_whole_image_paste():
    from paint_widgets.engine.inpainting import PASTE_BLUR, PASTE_DILATE, paste_near_mask
    from paint_widgets.imaging.paste import paste_back

    rng = np.random.default_rng(1)
    for trial in range(12):
        h, w = (int(v) for v in rng.integers(40, 300, size=2))
        original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        generated = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        paint = np.zeros((h, w), np.float32)
        t, c = int(rng.integers(0, h)), int(rng.integers(0, w))
        paint[t : t + int(rng.integers(1, 80)), c : c + int(rng.integers(1, 80))] = 1.0 if trial % 2 else 0.4
        whole = paste_back(original, generated, paint, dilate=PASTE_DILATE, blur=PASTE_BLUR)
        assert np.array_equal(paste_near_mask(original, generated, paint), whole)
    empty = np.zeros((50, 60), np.float32)
    assert np.array_equal(paste_near_mask(original[:50, :60], generated[:50, :60], empty), original[:50, :60])
