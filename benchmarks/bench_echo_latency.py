"""Stroke echo latency of MaskPainter vs a bare ipycanvas loop, TCP_NODELAY on and off.

Run: ``python benchmarks/bench_echo_latency.py [--moves 40] [--json out.json]``

One run starts JupyterLab twice on 127.0.0.1 (the ``paint_widgets.server_extension``
TCP_NODELAY extension enabled on the command line, and the same with
``PAINT_WIDGETS_TCP_NODELAY=0``), drives Debian's Chromium with Playwright and
reports, side by side:

- echo latency p50/p95: time from the browser dispatching a mouse move to the
  canvas pixel under the pointer changing;
- bytes the browser receives over the kernel websocket per stroke (and per move).

``handler_time_ms(size)`` is the CPU-only cost of MaskPainter's mouse-move handler
on a ``size`` x ``size`` image (no browser), for a benchmarks entry point.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

import harness  # noqa: E402

SELECTOR = "canvas.paint-widgets-canvas"
IMAGE = (
    "import numpy as np\n"
    "yy, xx = np.mgrid[0:384, 0:512]\n"
    "img = np.stack([xx * 255 // 511, yy * 255 // 383, np.full_like(xx, 90)], -1).astype(np.uint8)\n"
)
CASES: dict[str, list[str]] = {
    "ipycanvas loop": [
        IMAGE
        + "from ipycanvas import Canvas, hold_canvas\n"
        "import ipywidgets as W\n"
        "canvas = Canvas(width=512, height=384, layout=W.Layout(width='512px', height='auto'))\n"
        "canvas.add_class('paint-widgets-canvas')\n"
        "canvas.put_image_data(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]), 0, 0)\n"
        "canvas.fill_style = '#ff0050'\n"
        "def _move(x, y):\n"
        "    with hold_canvas():\n"
        "        canvas.fill_circle(x, y, 12)\n"
        "canvas.on_mouse_move(_move)\n"
        "ready = True\n"
        "canvas"
    ],
    "MaskPainter": [
        IMAGE + "from paint_widgets import MaskPainter\npainter = MaskPainter(img, brush=24)\nready = True\npainter"
    ],
}


def handler_time_ms(size: int, moves: int = 200, brush: int = 24) -> float:
    """Median ms of MaskPainter's mouse-move handler on a ``size``² image (CPU, no browser)."""
    import numpy as np

    from paint_widgets.widgets.mask_painter import MaskPainter

    painter = MaskPainter(np.zeros((size, size, 3), np.uint8), brush=brush)
    w, h = painter.view.view_width, painter.view.view_height
    painter._on_mouse_down(5.0, 5.0)
    times = []
    for i in range(moves):
        x, y = 5.0 + (i * 7) % (w - 10), 5.0 + (i * 3) % (h - 10)
        t0 = time.perf_counter()
        painter._on_mouse_move(x, y)
        times.append((time.perf_counter() - t0) * 1000)
    painter._on_mouse_up(x, y)
    return statistics.median(times)


def _stroke_bytes(page: Any, counter: harness.FrameCounter, box: dict[str, float], moves: int) -> int:
    """Bytes received during one stroke of ``moves`` mouse moves, 8 px apart."""
    x0, y = box["x"] + 40, box["y"] + box["height"] - 60
    page.mouse.move(x0, y)
    page.wait_for_timeout(500)
    counter.reset()
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(x0 + 8 * i, y)
        page.wait_for_timeout(15)
    page.mouse.up()
    page.wait_for_timeout(800)  # let the last echoes arrive
    return counter.bytes


def measure_case(lab: harness.LabServer, browser: Any, name: str, cells: list[str],
                 moves: int) -> dict[str, Any]:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    counter = harness.FrameCounter(page)
    path = f"{name.replace(' ', '_')}.ipynb"
    try:
        harness.write_notebook(lab.root_dir / path, cells)
        harness.open_notebook(page, lab, path)
        page.wait_for_selector(SELECTOR, state="visible")
        page.locator(SELECTOR).scroll_into_view_if_needed()
        lab.kernel(path).wait_for("ready")
        box = harness.canvas_box(page, SELECTOR)
        points = harness.snake_points(box, step=30, rows=3, margin=24)[: moves + 5]
        echoes = harness.measure_echo(page, SELECTOR, points, warmup=4)
        ok = [e for e in echoes if e is not None]
        stroke_moves = 40
        nbytes = _stroke_bytes(page, counter, box, stroke_moves)
        return {
            "case": name,
            "p50_ms": harness.percentile(ok, 50),
            "p95_ms": harness.percentile(ok, 95),
            "echoes": len(ok),
            "timeouts": len(echoes) - len(ok),
            "bytes_per_stroke": nbytes,
            "bytes_per_move": nbytes / stroke_moves,
        }
    finally:
        page.context.close()


def run(moves: int = 40) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with harness.chromium() as browser:
        for label, env in (("on", {}), ("off", {"PAINT_WIDGETS_TCP_NODELAY": "0"})):
            with harness.jupyterlab(env=env, server_extension=True) as lab:
                for name, cells in CASES.items():
                    row = measure_case(lab, browser, name, cells, moves)
                    row["tcp_nodelay_ext"] = label
                    rows.append(row)
                    print(f"  measured {name:15s} TCP_NODELAY ext {label}", file=sys.stderr)
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    head = f"{'case':16s} {'TCP_NODELAY ext':>15s} {'p50 ms':>8s} {'p95 ms':>8s} {'echoes':>7s} {'bytes/stroke':>13s} {'bytes/move':>11s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['case']:16s} {r['tcp_nodelay_ext']:>15s} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} "
            f"{r['echoes']:>4d}/{r['echoes'] + r['timeouts']:<2d} {r['bytes_per_stroke']:13,d} {r['bytes_per_move']:11,.0f}"
        )
    by = {(r["case"], r["tcp_nodelay_ext"]): r for r in rows}
    for ext in ("on", "off"):
        bare, painter = by.get(("ipycanvas loop", ext)), by.get(("MaskPainter", ext))
        if bare and painter:
            lines.append(f"MaskPainter / ipycanvas loop p50, ext {ext}: {painter['p50_ms'] / bare['p50_ms']:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40, help="measured mouse moves per case")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--handler-sizes", type=int, nargs="*", default=[512, 4096],
                        help="image sizes for the CPU handler-time benchmark")
    args = parser.parse_args(argv)
    reason = harness.missing_requirements()
    if reason:
        print(f"cannot run the browser benchmark: {reason}", file=sys.stderr)
        return 2
    rows = run(args.moves)
    print(report(rows))
    for size in args.handler_sizes:
        print(f"MaskPainter mouse-move handler, {size}x{size} image, brush 24: {handler_time_ms(size):.2f} ms (CPU, median)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
