"""What the benchmark sections share: a table row, timers and the table itself."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Row:
    """One line of the table: a figure, what it is relative to, and the goal."""

    name: str
    value: float | None
    unit: str
    ratio: float | None = None  # value / baseline, measured in the same run
    versus: str = ""  # what the ratio is relative to
    target: str = ""  # the goal, in words ("<= 1.02x", "< 15 ms")
    ok: bool | None = None  # whether the goal is met (None: not judged here)

    def cells(self) -> list[str]:
        value = "-" if self.value is None else _num(self.value)
        ratio = "" if self.ratio is None else f"{_ratio(self.ratio)}x {self.versus}".rstrip()
        mark = {True: " (met)", False: " (MISSED)", None: ""}[self.ok]
        target = f"{self.target}{mark}" if self.target else ""
        return [self.name, value, self.unit, ratio, target]


def note(text: str) -> Row:
    """A line of text in the table (a skipped section, a heading)."""
    return Row(text, None, "")


def _num(value: float) -> str:
    if isinstance(value, int) or (abs(value) < 1e6 and float(value).is_integer()):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def median_ms(fn: Callable[[], object], repeats: int, *, warmup: int = 1,
              sync: Callable[[], object] | None = None) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(repeats, 1)):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def format_table(rows: list[Row]) -> str:
    """A plain-text table: name | value | unit | ratio | target; notes span the line."""
    head = ["name", "value", "unit", "ratio", "target"]
    body = [r.cells() for r in rows if r.value is not None]
    widths = [max([len(head[i])] + [len(c[i]) for c in body]) for i in range(5)]
    widths[0] = min(widths[0], 78)

    def line(cells: list[str]) -> str:
        name, value, unit, ratio, target = cells
        return (f"{name:<{widths[0]}} | {value:>{widths[1]}} | {unit:<{widths[2]}} | "
                f"{ratio:<{widths[3]}} | {target}").rstrip()

    out = [line(head), "-" * (sum(widths) + 12 + max(len("target"), 12))]
    for r in rows:
        out.append(r.name if r.value is None else line(r.cells()))
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    """The same table in Markdown, for RESULTS.md."""
    out = ["| name | value | unit | ratio | target |", "|---|---:|---|---|---|"]
    for r in rows:
        if r.value is None:
            out.append(f"| **{r.name}** | | | | |")
        else:
            out.append("| " + " | ".join(c.replace("|", "/") for c in r.cells()) + " |")
    return "\n".join(out)


def picture(size: int) -> np.ndarray:
    """A textured square test picture: gradients, a checkerboard and some noise."""
    yy, xx = np.mgrid[:size, :size]
    rng = np.random.default_rng(0)
    base = np.stack([xx * 255 // size, yy * 255 // size, ((xx // 16 + yy // 16) % 2) * 200], -1)
    return np.clip(base + rng.integers(-12, 13, size=base.shape), 0, 255).astype(np.uint8)
