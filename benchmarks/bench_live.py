"""Live mode: the time from a finished stroke to the preview being set in the Studio (kernel side).

A real ``pw.Studio`` with the tiny random-weight SD 1.x inpainting model and the tiny
LCM-LoRA: a stroke is delivered as ipycanvas delivers it (mouse down, move, up through
``_handle_frontend_event``), and the clock stops when ``studio.live_view.value`` (the PNG
the browser will show) is set. Measured at the model's native size (512, as the issue
asks) and at 256 and 128 (``studio.live_size``), 4 LCM steps at strength 0.75 (3 run),
one torch thread. Also: how much a burst of 20 strokes costs (all but the newest are
superseded). The browser's share (message round trip, PNG decode, paint) is not here;
``bench_echo_latency.py`` measures the echo in a real Chromium.

Run: ``python benchmarks/bench_live.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _send(painter, event: str, **content: object) -> None:
    painter.canvas[-1]._handle_frontend_event(None, {"event": event, **content}, [])


def _stroke(painter, y: float, x0: float, x1: float) -> None:
    _send(painter, "mouse_down", x=x0, y=y)
    _send(painter, "mouse_move", x=(x0 + x1) / 2, y=y)
    _send(painter, "mouse_up", x=x1, y=y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    import paint_widgets as pw
    from paint_widgets.testing import write_tiny_models

    folder = Path(tempfile.mkdtemp(prefix="pw-bench-live-"))
    paths = write_tiny_models(folder)
    mgr = pw.manager()
    mgr.configure(model=str(paths["sd-inpaint"]), lora_dir=str(paths["loras/tiny-lcm"].parent))
    yy, xx = np.mgrid[0:384, 0:512]
    photo = np.stack([xx // 2, yy // 2, (xx + yy) // 4], axis=-1).astype(np.uint8)
    studio = pw.Studio(photo, outdir=folder / "out")
    studio.prompt.value = "a red barn"
    studio.live_lora = "tiny-lcm"
    shown = threading.Event()
    studio.live_view.observe(lambda _c: shown.set(), names="value")
    rows: list[tuple[str, float, str]] = []
    for size in (None, 256, 128):
        studio.live_size = size
        studio.live = True
        studio.painter.set_mask(np.zeros((384, 512), bool))
        _stroke(studio.painter, 150.0, 150.0, 260.0)  # warm-up: the LoRA loads, first encodes
        studio.live_wait(600)
        times = []
        for i in range(args.repeats):
            shown.clear()
            started = time.perf_counter()
            _stroke(studio.painter, 160.0 + 8 * i, 150.0, 260.0)
            shown.wait(600)
            times.append((time.perf_counter() - started) * 1000)
            studio.live_wait(600)
        label = f"native {mgr.pipeline().unet.config.sample_size * 8}" if size is None else str(size)
        box = studio.live_result.metadata[0]["preview"] if studio.live_result else {}
        rows.append((f"stroke -> preview set, {label} ({box.get('size')})", statistics.median(times), "ms"))
        studio.live = False
    studio.live_size = 128
    studio.live = True
    studio.live_wait(600)
    started = time.perf_counter()
    before = studio._live.started
    for i in range(20):
        _stroke(studio.painter, 100.0 + 4 * i, 100.0, 300.0)
    studio.live_wait(600)
    rows.append(("burst of 20 strokes -> newest preview set, 128", (time.perf_counter() - started) * 1000, "ms"))
    rows.append(("previews run for those 20 strokes", studio._live.started - before, "runs"))
    rows.append(("model loads", mgr.loads, "loads"))
    studio.close()
    print(f"{'name':<62} | {'value':>9} | unit")
    for name, value, unit in rows:
        print(f"{name:<62} | {value:>9.1f} | {unit}")


if __name__ == "__main__":
    main()
