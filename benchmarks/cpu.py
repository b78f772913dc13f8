"""CPU benchmarks: imaging, widget handlers, manager overhead, crop vs full (tiny models).

Everything here runs on any machine in a few minutes (``--quick``: about a minute).
The diffusion figures use the tiny random-weight models from
``paint_widgets.testing``: they are much cheaper than real ones, so they show the
*fixed* costs paint_widgets adds (overhead) and how cost scales with pixels (crop vs
full), not real generation times. Those come from the GPU section.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import Row, median_ms, note

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Log = Callable[[str], None]


def _stderr(text: str) -> None:
    print(f"  [cpu] {text}", file=sys.stderr, flush=True)


def picture(height: int, width: int | None = None) -> np.ndarray:
    width = width or height
    yy, xx = np.mgrid[:height, :width]
    rng = np.random.default_rng(0)
    base = np.stack([xx * 255 // width, yy * 255 // height, ((xx // 16 + yy // 16) % 2) * 200], -1)
    return np.clip(base + rng.integers(-12, 13, size=base.shape), 0, 255).astype(np.uint8)


def square(size: int, side: int, *, at: tuple[int, int] | None = None) -> np.ndarray:
    """A ``size``² bool mask with a ``side``-pixel square painted (centred unless ``at``)."""
    mask = np.zeros((size, size), bool)
    top, left = at or ((size - side) // 2, (size - side) // 2)
    mask[top : top + side, left : left + side] = True
    return mask


# --------------------------------------------------------------------------- imaging


def imaging_rows(sizes: tuple[int, ...], log: Log) -> list[Row]:
    """The numpy/OpenCV steps every generation or widget event runs, per image size."""
    from paint_widgets.imaging import masks
    from paint_widgets.imaging.paste import paste_back

    rows: list[Row] = []
    by_name: dict[str, float] = {}
    for size in sizes:
        log(f"imaging {size}x{size}")
        img = picture(size)
        alpha = np.full((size, size), 255, np.uint8)
        alpha[size // 4 : size // 2, size // 4 : size // 2] = 0
        rgba = np.dstack([img, alpha])
        paint = masks.mask_from_alpha(rgba)
        generated = img[::-1].copy()
        repeats = 7 if size <= 512 else 3
        ops: dict[str, Callable[[], object]] = {
            "mask from alpha": lambda rgba=rgba: masks.mask_from_alpha(rgba),
            "erased-colour check": lambda rgba=rgba: masks.colour_was_erased(rgba),
            "feather 8": lambda paint=paint: masks.feather(paint, 8),
            "paste-back (dilate 8, feather 8)": lambda img=img, g=generated, p=paint: paste_back(img, g, p),
        }
        for label, fn in ops.items():
            ms = median_ms(fn, repeats)
            by_name[f"{label} {size}"] = ms
            ratio = ms / by_name[f"{label} {sizes[0]}"] if size != sizes[0] else None
            rows.append(Row(f"{label} {size}x{size}", ms, "ms", ratio,
                            f"{sizes[0]}² (pixels x{(size // sizes[0]) ** 2})" if ratio else ""))
    return rows


def outpaint_imaging_rows(sizes: tuple[int, ...], log: Log) -> list[Row]:
    import bench_imaging_outpaint

    log("infill methods and seam mask (bench_imaging_outpaint)")
    return [Row(name, ms, "ms") for name, ms in bench_imaging_outpaint.run(sizes)]


def textmask_rows(model_dir: str, log: Log) -> list[Row]:
    try:
        import bench_textmask
    except ImportError:
        return [note("text mask: bench_textmask.py not present, skipped")]
    log("threshold re-slice and preview (bench_textmask)")
    rows = []
    for name, ms in bench_textmask.run(model_dir):
        target = ""
        if name.startswith("slider move: re-threshold") and "512x512" in name:
            target = f"< {bench_textmask.TARGET_MS_512:.0f} ms"
            rows.append(Row(name, ms, "ms", target=target, ok=ms < bench_textmask.TARGET_MS_512))
        else:
            rows.append(Row(name, ms, "ms"))
    return rows


def handler_rows(sizes: tuple[int, ...], log: Log) -> list[Row]:
    try:
        import bench_echo_latency
    except ImportError as err:
        return [note(f"MaskPainter handler: bench_echo_latency not importable ({err}), skipped")]
    if not hasattr(bench_echo_latency, "handler_time_ms"):
        return [note("MaskPainter handler: bench_echo_latency.handler_time_ms missing, skipped")]
    log("MaskPainter per-event handler")
    return [Row(f"MaskPainter mouse-move handler, {s}x{s} image, brush 24", bench_echo_latency.handler_time_ms(s),
                "ms") for s in sizes]


# --------------------------------------------------------------------------- diffusion (tiny models)


def _interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each function, calls interleaved so a noisy machine hits all alike."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: statistics.median(t) for name, t in times.items()}


def overhead_rows(model: str, *, size: int, steps: int, repeats: int, log: Log) -> list[Row]:
    """``paint_widgets.inpaint`` vs calling the same resident diffusers pipeline directly."""
    import torch
    from PIL import Image

    import paint_widgets as pw
    from paint_widgets.engine.manager import PipelineManager

    log(f"manager overhead, tiny model {size}x{size}, {steps} steps")
    mgr = PipelineManager(device="cpu")
    mgr.configure(model=model)
    pipe = mgr.pipeline()
    img, mask = picture(size), square(size, size // 2)
    pil, pil_mask = Image.fromarray(img), Image.fromarray((mask * 255).astype(np.uint8))

    def direct() -> None:
        pipe(prompt="a photo", image=pil, mask_image=pil_mask, height=size, width=size,
             strength=1.0, num_inference_steps=steps, guidance_scale=7.5,
             generator=torch.Generator().manual_seed(1)).images[0]

    def managed() -> None:
        pw.inpaint(img, mask, "a photo", steps=steps, strength=1.0, seed=1, sampler="k_lms", mgr=mgr)

    ms = _interleaved({"direct": direct, "managed": managed}, repeats)
    loads = mgr.status()["loads"]
    mgr.release()
    ratio = ms["managed"] / ms["direct"]
    return [
        Row(f"tiny SD inpaint {size}² {steps} steps: direct diffusers pipeline call", ms["direct"], "ms"),
        Row(f"tiny SD inpaint {size}² {steps} steps: paint_widgets.inpaint (resident)", ms["managed"], "ms",
            ratio, "direct"),
        Row("  manager overhead per call (paint_widgets - direct)", ms["managed"] - ms["direct"], "ms",
            target="small next to a real model call (GPU: <= 2%)"),
        Row(f"  models loaded for {2 * (repeats + 1)} calls", loads, "loads", target="1", ok=loads == 1),
    ]


def crop_rows(model: str, *, big: int, mask_px: int, steps: int, full_repeats: int, repeats: int,
              huge: int, huge_steps: int, log: Log) -> list[Row]:
    """Crop vs full on a large image with a small mask, and a huge crop vs a native-size image."""
    import paint_widgets as pw
    from paint_widgets.engine.manager import PipelineManager

    mgr = PipelineManager(device="cpu")
    mgr.configure(model=model)
    mgr.pipeline()
    kw = {"steps": steps, "strength": 1.0, "seed": 1, "mgr": mgr}
    img, mask = picture(big), square(big, mask_px)
    log(f"crop vs full, {big}x{big}, {mask_px} px mask, {steps} steps")
    crop_ms = median_ms(lambda: pw.inpaint(img, mask, "a photo", region="crop", **kw), repeats)
    full_ms = median_ms(lambda: pw.inpaint(img, mask, "a photo", region="full", **kw), full_repeats, warmup=0)
    rows = [
        Row(f"tiny SD {big}² image, {mask_px} px mask, {steps} steps: region='full'", full_ms, "ms"),
        Row(f"tiny SD {big}² image, {mask_px} px mask, {steps} steps: region='crop' (= auto)", crop_ms, "ms",
            crop_ms / full_ms, "full", target="much less than full", ok=crop_ms < full_ms / 2),
    ]
    himg, hmask = picture(huge), square(huge, 200)
    small_img, small_mask = picture(512), square(512, 200)
    log(f"crop {huge}x{huge} (200 px mask) vs full 512x512, {huge_steps} steps")
    kw["steps"] = huge_steps
    ms = _interleaved({
        "huge": lambda: pw.inpaint(himg, hmask, "a photo", **kw),  # auto -> crop
        "native": lambda: pw.inpaint(small_img, small_mask, "a photo", **kw),
    }, repeats)
    ratio = ms["huge"] / ms["native"]
    rows += [
        Row(f"tiny SD 512² image, 200 px mask, {huge_steps} steps (full)", ms["native"], "ms"),
        Row(f"tiny SD {huge}² image, 200 px mask, {huge_steps} steps (auto -> crop)", ms["huge"], "ms",
            ratio, "512²", target="about 1x (<= 1.25x)", ok=ratio <= 1.25),
        Row(f"  fixed cost of the {huge}² pixels (array conversions, mask, copy-back)",
            ms["huge"] - ms["native"], "ms"),
    ]
    mgr.release()
    return rows


# --------------------------------------------------------------------------- entry point


def run(*, quick: bool = False, threads: int | None = 1, log: Log = _stderr) -> list[Row]:
    """All CPU rows. ``quick``: smaller sizes and fewer repeats (about a minute).

    ``threads``: torch threads for the tiny-model rows (None: torch's default). One by
    default: on a small machine shared with other work, torch's intra-op threads wait
    on each other far longer than these tiny models compute, which buries the
    differences being measured in noise.
    """
    import torch

    default_threads = torch.get_num_threads()
    model_threads = threads or default_threads
    rows: list[Row] = [note(f"CPU section (torch {torch.__version__}, {os.cpu_count()} cores, tiny-model rows on "
                            f"{model_threads} torch thread(s){', quick' if quick else ''})")]
    sizes = (512,) if quick else (512, 2048)
    rows += imaging_rows(sizes, log)
    rows += outpaint_imaging_rows(sizes, log)
    with tempfile.TemporaryDirectory(prefix="pw-bench-cpu-") as tmp:
        from paint_widgets.testing import write_tiny_models

        log("writing the tiny models")
        models = write_tiny_models(Path(tmp) / "models")
        rows += textmask_rows(str(models["clipseg"]), log)
        rows += handler_rows((512,) if quick else (512, 4096), log)
        torch.set_num_threads(model_threads)
        try:
            rows += _model_rows(str(models["sd-inpaint"]), quick, log)
        finally:
            torch.set_num_threads(default_threads)
    return rows


def _model_rows(model: str, quick: bool, log: Log) -> list[Row]:
    rows: list[Row] = []
    if quick:
        rows += overhead_rows(model, size=256, steps=3, repeats=3, log=log)
        rows += crop_rows(model, big=1024, mask_px=100, steps=1, full_repeats=1, repeats=1, huge=2048,
                          huge_steps=1, log=log)
    else:
        rows += overhead_rows(model, size=512, steps=10, repeats=7, log=log)
        rows += crop_rows(model, big=2048, mask_px=200, steps=2, full_repeats=1, repeats=5, huge=4096,
                          huge_steps=10, log=log)
    return rows
