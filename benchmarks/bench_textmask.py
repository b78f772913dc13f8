"""Re-thresholding a text mask and redrawing the TextMaskTuner preview, next to one model call.

What a threshold-slider move costs (``tuner.threshold = t``: compare the kept
heatmap, build the overlay alpha, encode it as a palette PNG, hand it to the
canvas) at 512x512 and 2048x2048 (previewed at 768x768), against one CLIPSeg call
(preprocessing + forward + resize back) of the tiny random-weight model. Also:
the full-size ``TextMask.mask()`` and what ipycanvas' own ``put_image_data`` of an
RGBA overlay would cost instead of the palette PNG.

The tiny model is far cheaper than ``CIDAS/clipseg-rd64-refined`` (ViT-B/16 at
352x352), so the model-call rows are a lower bound. Run:
``python benchmarks/bench_textmask.py``.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
from common import picture
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIZES = (512, 2048)
TARGET_MS_512 = 20.0


def _heatmap(size: int) -> np.ndarray:
    """A smooth heatmap with blobs, like CLIPSeg's (bilinear-upsampled 22x22 noise)."""
    small = np.random.default_rng(1).random((22, 22)).astype(np.float32)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.BILINEAR), dtype=np.float32)


def _median_ms(fn: Callable[[int], object], repeats: int) -> float:
    fn(0)  # warm-up
    times = []
    for i in range(1, repeats + 1):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _thresholds(i: int) -> float:
    return 0.3 + 0.4 * ((i * 7) % 20) / 20.0  # changes every call


def run(model_dir: str | None = None) -> list[tuple[str, float]]:
    """``[(name, median milliseconds), ...]``; writes tiny models to a temp dir unless given."""
    from paint_widgets.engine import textmask
    from paint_widgets.engine.manager import PipelineManager
    from paint_widgets.imaging.text_mask import TextMask, overlay_preview, view_of
    from paint_widgets.widgets.text_mask_tuner import TextMaskTuner

    results: list[tuple[str, float]] = []
    for size in SIZES:
        tm = TextMask(picture(size), _heatmap(size), "thing")
        tuner = TextMaskTuner(tm)
        vw, vh = tuner.canvas.width, tuner.canvas.height

        def slide(i: int, tuner: TextMaskTuner = tuner) -> None:
            tuner.threshold = _thresholds(i)

        results.append((f"slider move: re-threshold + preview redraw {size}x{size} (view {vw}x{vh})",
                        _median_ms(slide, 30)))
        tuner.grow, tuner.feather = 8, 8
        results.append((f"slider move with grow 8 + feather 8 {size}x{size}", _median_ms(slide, 15)))
        results.append((f"TextMask.mask(t) full size {size}x{size}",
                        _median_ms(lambda i, tm=tm: tm.mask(_thresholds(i)), 30)))
        _image_view, heat_view = view_of(tm.image, tm.heatmap, 768)

        def rgba_png(i: int, heat_view: np.ndarray = heat_view) -> None:
            # what ipycanvas.put_image_data(rgba) would spend encoding the same overlay
            rgba = overlay_preview(None, heat_view, _thresholds(i))
            Image.fromarray(rgba).save(io.BytesIO(), format="PNG", quality=75)

        results.append((f"(for comparison) RGBA overlay via put_image_data's PNG {size}x{size}",
                        _median_ms(rgba_png, 10)))

    with tempfile.TemporaryDirectory(prefix="pw-bench-") as tmp:
        if model_dir is None:
            from paint_widgets.testing import write_tiny_models

            model_dir = str(write_tiny_models(tmp)["clipseg"])
        mgr = PipelineManager(device="cpu")
        mgr.configure(textmask_model=model_dir)
        for size in SIZES:
            img = picture(size)
            results.append((f"one tiny-CLIPSeg call: text_mask() {size}x{size}",
                            _median_ms(lambda i, img=img: textmask.text_mask(img, "hair", manager=mgr), 5)))
        img = picture(512)
        results.append(("one tiny-CLIPSeg call, 3 prompts batched, 512x512",
                        _median_ms(lambda i: textmask.text_mask(img, "face|hair|eyes", manager=mgr), 5)))
        # On a small, shared CPU torch's intra-op threads can wait on each other far
        # longer than this tiny model computes: the same call on one thread.
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            results.append(("one tiny-CLIPSeg call: text_mask() 512x512, torch on 1 thread",
                            _median_ms(lambda i: textmask.text_mask(img, "hair", manager=mgr), 5)))
        finally:
            torch.set_num_threads(threads)
        mgr.release()
    return results


def main() -> None:
    results = run()
    width = max(len(name) for name, _ in results)
    print(f"{'benchmark':<{width}}  median ms")
    for name, ms in results:
        print(f"{name:<{width}}  {ms:9.2f}")
    slide_512 = results[0][1]
    verdict = "meets" if slide_512 < TARGET_MS_512 else "MISSES"
    print(f"\nslider move at 512x512: {slide_512:.2f} ms, {verdict} the {TARGET_MS_512:.0f} ms target")


if __name__ == "__main__":
    main()
