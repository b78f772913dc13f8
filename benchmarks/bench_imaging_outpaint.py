"""Time each infill method and ``seam_mask`` at 512x512 and 2048x2048.

The hole is a 128-px border on all four sides (an outcrop of 128 px each way),
the worst case for infill. Run: ``python benchmarks/bench_imaging_outpaint.py``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from common import median_ms, picture

from paint_widgets.imaging.infill import infill
from paint_widgets.imaging.seam import seam_mask
from paint_widgets.requests import INFILL_METHODS

SIZES = (512, 2048)
BORDER = 128


def _border_hole(size: int) -> np.ndarray:
    hole = np.ones((size, size), bool)
    hole[BORDER:-BORDER, BORDER:-BORDER] = False
    return hole


def run(sizes: tuple[int, ...] = SIZES) -> list[tuple[str, float]]:
    """``[(name, median milliseconds), ...]`` for every infill method and the seam mask."""
    results: list[tuple[str, float]] = []
    for size in sizes:
        img, hole = picture(size), _border_hole(size)
        repeats = 3 if size <= 512 else 2
        for method in INFILL_METHODS:
            ms = median_ms(partial(infill, img, hole, method), repeats)
            results.append((f"infill {method} {size}x{size}", ms))
        ms = median_ms(partial(seam_mask, hole.astype(np.float32), 96, 16), repeats)
        results.append((f"seam_mask 96/16 {size}x{size}", ms))
    return results


def main() -> None:
    rows = run()
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  {'ms':>9}")
    for name, ms in rows:
        print(f"{name:<{width}}  {ms:9.1f}")


if __name__ == "__main__":
    main()
