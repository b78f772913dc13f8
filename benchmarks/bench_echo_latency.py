"""Stroke echo latency of MaskPainter vs a bare ipycanvas loop, TCP_NODELAY on and off.

Run: ``python benchmarks/bench_echo_latency.py [--moves 180] [--repeat 3] [--nodelay on] [--json out.json]``

One run starts JupyterLab (the ``paint_widgets.server_extension`` TCP_NODELAY
extension enabled on the command line, and/or the same with
``PAINT_WIDGETS_TCP_NODELAY=0``), opens each case in its own page of Debian's
Chromium driven by Playwright, and reports, side by side:

- echo latency p50/p95/p99: time from the browser dispatching a mouse move to the
  canvas pixel under the pointer changing (``harness._ECHO_JS``, the same clock as
  the browser test);
- bytes the browser receives over the kernel websocket per 40-move stroke (and per move);
- MaskPainter / bare loop ratios of p50 and p95, and whether p95 is within 1.1x.

Fair on a shared CPU: all pages stay open, their kernels idle in between, and
the measured moves are interleaved in blocks of ``--block`` moves (default 1; the
order A B | B A with two cases, rotated A B C | B C A | C A B with three), so the
cases see the same background load and take each place equally often. Each pass
is one stroke over the canvas in a snake of points 30 px apart (each move lands on
pixels not painted yet); the first ``--warmup`` moves of each pass are not counted.
``--control`` adds a second, identical bare loop: its ratio to the first is the
noise floor of the comparison. ``--repeat`` repeats the interleaved measurement
on the same pages and reports each repeat, the median over repeats and the
percentiles of all repeats' echoes pooled; the verdict uses the pooled p95 ratio.

``handler_time_ms(size)`` is the CPU-only cost of MaskPainter's mouse-move handler
on a ``size`` x ``size`` image (no browser), for a benchmarks entry point.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))

import harness  # noqa: E402

SELECTOR = "canvas.paint-widgets-canvas"
TARGET = 1.1  # MaskPainter p95 within this factor of the bare loop's p95
BARE, PAINTER, CONTROL = "ipycanvas loop", "MaskPainter", "ipycanvas loop (control)"
IMAGE = (
    "import numpy as np\n"
    "yy, xx = np.mgrid[0:384, 0:512]\n"
    "img = np.stack([xx * 255 // 511, yy * 255 // 383, np.full_like(xx, 90)], -1).astype(np.uint8)\n"
)
#: The bare loop: one fill_circle per move, as small as an ipycanvas echo gets.
#: ``reset()`` (between passes, not timed) repaints the picture.
BARE_CELL = (
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
    "def reset():\n"
    "    canvas.put_image_data(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]), 0, 0)\n"
    "ready = True\n"
    "canvas"
)
PAINTER_CELL = (
    IMAGE
    + "from paint_widgets import MaskPainter\n"
    "painter = MaskPainter(img, brush=24)\n"
    "def reset():\n"
    "    painter.clear()\n"
    "ready = True\n"
    "painter"
)
CASES: dict[str, list[str]] = {BARE: [BARE_CELL], PAINTER: [PAINTER_CELL]}
STROKE_MOVES = 40  # moves of the stroke whose bytes are counted


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


@dataclass
class Case:
    """One case open in its own page: the page, a probe on its kernel, its stroke points."""

    name: str
    page: Any
    kernel: harness.KernelProbe
    counter: harness.FrameCounter
    box: dict[str, float]
    points: list[tuple[float, float]]


def open_case(lab: harness.LabServer, browser: Any, name: str, cells: list[str]) -> Case:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    counter = harness.FrameCounter(page)
    path = f"{name.replace(' ', '_').replace('(', '').replace(')', '')}.ipynb"
    harness.write_notebook(lab.root_dir / path, cells)
    harness.open_notebook(page, lab, path)
    page.wait_for_selector(SELECTOR, state="visible")
    page.locator(SELECTOR).scroll_into_view_if_needed()
    kernel = lab.kernel(path)
    kernel.wait_for("ready")
    page.evaluate(harness._ECHO_JS, SELECTOR)  # once per page: it wraps the canvas' drawImage
    box = harness.canvas_box(page, SELECTOR)
    rows = int((box["height"] - 2 * 24) // 30) + 1  # the whole canvas, 30 px apart
    points = harness.snake_points(box, step=30, rows=rows, margin=24)
    return Case(name, page, kernel, counter, box, points)


def _echo(case: Case, x: float, y: float, timeout_ms: int = 3000) -> float | None:
    handle = case.page.evaluate_handle(
        "([x, y, t]) => ({p: window.__pwEcho.arm(x, y, t)})", [x, y, timeout_ms]
    )
    case.page.mouse.move(x, y)
    ms = case.page.evaluate("(h) => h.p", handle)
    handle.dispose()
    return None if ms is None else float(ms)


def _reset(cases: list[Case]) -> None:
    for case in cases:
        case.kernel.run("reset()")
    cases[0].page.wait_for_timeout(300)  # let the redraws land


def _order(cases: list[Case], block: int) -> list[Case]:
    """The cases' order in block ``block``: with two, A B | B A; with more, rotated (A B C | B C A | ...).

    Either way each case takes each place equally often, and with three or more
    no case moves twice in a row (a page that just echoed has its processes warm).
    """
    if len(cases) == 2:
        return cases if block % 2 == 0 else cases[::-1]
    k = block % len(cases)
    return cases[k:] + cases[:k]


def measure_interleaved(cases: list[Case], moves: int, block: int = 1, warmup: int = 4
                        ) -> dict[str, list[float | None]]:
    """``moves`` counted echoes per case, interleaved between the cases in blocks of ``block``."""
    results: dict[str, list[float | None]] = {c.name: [] for c in cases}
    per_pass = min(len(c.points) for c in cases) - 1 - warmup
    if per_pass < 1:
        raise ValueError("the canvas is too small for a pass")
    while len(results[cases[0].name]) < moves:
        n = min(per_pass, moves - len(results[cases[0].name]))
        _reset(cases)
        for case in cases:
            case.page.mouse.move(*case.points[0])
            case.page.mouse.down()
        try:
            for b, start in enumerate(range(1, warmup + n + 1, block)):
                for case in _order(cases, b):
                    for i in range(start, min(start + block, warmup + n + 1)):
                        ms = _echo(case, *case.points[i])
                        if i > warmup:
                            results[case.name].append(ms)
        finally:
            for case in cases:
                case.page.mouse.up()
    return results


def stroke_bytes(case: Case, moves: int = STROKE_MOVES) -> int:
    """Bytes received during one stroke of ``moves`` mouse moves, 8 px apart, on fresh pixels."""
    page, box = case.page, case.box
    x0, y = box["x"] + 40, box["y"] + box["height"] - 60
    page.mouse.move(x0, y)
    page.wait_for_timeout(500)
    case.counter.reset()
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(x0 + 8 * i, y)
        page.wait_for_timeout(15)
    page.mouse.up()
    page.wait_for_timeout(800)  # let the last echoes arrive
    return case.counter.bytes


def summarise(name: str, echoes: list[float | None]) -> dict[str, Any]:
    ok = [e for e in echoes if e is not None]
    return {
        "case": name,
        "p50_ms": harness.percentile(ok, 50),
        "p95_ms": harness.percentile(ok, 95),
        "p99_ms": harness.percentile(ok, 99),
        "mean_ms": statistics.fmean(ok) if ok else float("nan"),
        "echoes": len(ok),
        "timeouts": len(echoes) - len(ok),
    }


def run(moves: int = 180, *, repeat: int = 1, block: int = 1, warmup: int = 4,
        nodelay: str = "both", control: bool = False) -> list[dict[str, Any]]:
    """Rows (one per case, TCP_NODELAY setting and repeat) with latency and bytes per stroke."""
    cases_def = dict(CASES)
    if control:
        cases_def[CONTROL] = [BARE_CELL]
    settings = [("on", {}), ("off", {"PAINT_WIDGETS_TCP_NODELAY": "0"})]
    settings = [s for s in settings if nodelay in ("both", s[0])]
    rows: list[dict[str, Any]] = []
    with harness.chromium() as browser:
        for label, env in settings:
            with harness.jupyterlab(env=env, server_extension=True) as lab:
                cases = [open_case(lab, browser, name, cells) for name, cells in cases_def.items()]
                try:
                    for r in range(repeat):
                        echoes = measure_interleaved(cases, moves, block, warmup)
                        for case in cases:
                            rows.append({**summarise(case.name, echoes[case.name]),
                                         "tcp_nodelay_ext": label, "repeat": r, "echo_ms": echoes[case.name]})
                        print(f"  measured repeat {r + 1}/{repeat}, TCP_NODELAY ext {label}", file=sys.stderr)
                    _reset(cases)
                    for case in cases:
                        nbytes = stroke_bytes(case)
                        for row in rows:
                            if row["case"] == case.name and row["tcp_nodelay_ext"] == label:
                                row["bytes_per_stroke"] = nbytes
                                row["bytes_per_move"] = nbytes / STROKE_MOVES
                finally:
                    for case in cases:
                        case.page.context.close()
    return rows


def _ratios(rows: list[dict[str, Any]], ext: str, repeat: int | None) -> dict[str, float] | None:
    by = {r["case"]: r for r in rows if r["tcp_nodelay_ext"] == ext and (repeat is None or r["repeat"] == repeat)}
    bare, painter = by.get(BARE), by.get(PAINTER)
    if not (bare and painter):
        return None
    out = {"p50": painter["p50_ms"] / bare["p50_ms"], "p95": painter["p95_ms"] / bare["p95_ms"]}
    if CONTROL in by:
        out["control_p50"] = by[CONTROL]["p50_ms"] / bare["p50_ms"]
        out["control_p95"] = by[CONTROL]["p95_ms"] / bare["p95_ms"]
    return out


def report(rows: list[dict[str, Any]]) -> str:
    head = (f"{'case':25s} {'TCP_NODELAY ext':>15s} {'rep':>3s} {'p50 ms':>7s} {'p95 ms':>7s} {'p99 ms':>7s} "
            f"{'echoes':>8s} {'bytes/stroke':>13s} {'bytes/move':>11s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['case']:25s} {r['tcp_nodelay_ext']:>15s} {r['repeat'] + 1:>3d} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f} "
            f"{r['p99_ms']:7.1f} {r['echoes']:>4d}/{r['echoes'] + r['timeouts']:<3d} "
            f"{r.get('bytes_per_stroke', 0):13,d} {r.get('bytes_per_move', 0):11,.0f}"
        )
    for ext in ("on", "off"):
        repeats = sorted({r["repeat"] for r in rows if r["tcp_nodelay_ext"] == ext})
        per = [x for x in (_ratios(rows, ext, k) for k in repeats) if x]
        if not per:
            continue
        for k, ratio in zip(repeats, per, strict=True):
            extra = (f"; control / loop p50 {ratio['control_p50']:.2f}x, p95 {ratio['control_p95']:.2f}x"
                     if "control_p95" in ratio else "")
            lines.append(f"ext {ext}, repeat {k + 1}: MaskPainter / ipycanvas loop p50 {ratio['p50']:.2f}x, "
                         f"p95 {ratio['p95']:.2f}x{extra}")
        med = {key: statistics.median(p[key] for p in per) for key in per[0]}
        pooled: list[dict[str, Any]] = []
        for case in (BARE, PAINTER, CONTROL):
            mine = [r for r in rows if r["tcp_nodelay_ext"] == ext and r["case"] == case]
            if mine:
                all_echoes = [e for r in mine for e in r.get("echo_ms", [])]
                pooled.append({**summarise(case, all_echoes), "tcp_nodelay_ext": ext, "repeat": -1})
                lines.append(f"ext {ext}, {case}: median of {len(mine)} repeat(s) "
                             f"p50 {statistics.median(r['p50_ms'] for r in mine):.1f} ms, "
                             f"p95 {statistics.median(r['p95_ms'] for r in mine):.1f} ms; "
                             f"pooled ({pooled[-1]['echoes']} echoes) p50 {pooled[-1]['p50_ms']:.1f} ms, "
                             f"p95 {pooled[-1]['p95_ms']:.1f} ms")
        all_ratio = _ratios(pooled, ext, None)
        if all_ratio is None:
            continue
        extra = (f"; control / loop p95 {all_ratio['control_p95']:.2f}x (noise floor)"
                 if "control_p95" in all_ratio else "")
        verdict = "PASS" if all_ratio["p95"] <= TARGET else "FAIL"
        lines.append(f"ext {ext}: MaskPainter / ipycanvas loop, pooled p95 {all_ratio['p95']:.2f}x "
                     f"(p50 {all_ratio['p50']:.2f}x; median of repeats p95 {med['p95']:.2f}x){extra}: "
                     f"{verdict} against <= {TARGET}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=180, help="counted mouse moves per case and repeat")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved measurements on the same pages")
    parser.add_argument("--block", type=int, default=1, help="moves per case before switching to the other")
    parser.add_argument("--warmup", type=int, default=4, help="moves not counted at the start of each pass")
    parser.add_argument("--nodelay", choices=("on", "off", "both"), default="both",
                        help="TCP_NODELAY extension setting(s) to measure")
    parser.add_argument("--control", action="store_true",
                        help="add a second identical bare loop (the noise floor of the ratio)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--handler-sizes", type=int, nargs="*", default=[512, 4096],
                        help="image sizes for the CPU handler-time benchmark")
    args = parser.parse_args(argv)
    reason = harness.missing_requirements()
    if reason:
        print(f"cannot run the browser benchmark: {reason}", file=sys.stderr)
        return 2
    rows = run(args.moves, repeat=args.repeat, block=args.block, warmup=args.warmup,
               nodelay=args.nodelay, control=args.control)
    print(report(rows))
    for size in args.handler_sizes:
        print(f"MaskPainter mouse-move handler, {size}x{size} image, brush 24: {handler_time_ms(size):.2f} ms (CPU, median)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
