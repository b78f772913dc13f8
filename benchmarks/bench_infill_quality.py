"""Infill quality on photos: seam ratio, PSNR in the hole and time, against pypatchmatch.

    python benchmarks/bench_infill_quality.py            # 512² and 2048², all four photos
    python benchmarks/bench_infill_quality.py --quick    # 512² and 2048², two photos, one repeat
    python benchmarks/bench_infill_quality.py --markdown infill.md

Photos: scikit-image's ``astronaut``, ``coffee``, ``chelsea`` and ``rocket``
(``pip install scikit-image``, or ``pip install -e .[bench]``), centre-cropped square
and resized to each size. Holes: a border of 64 or 128 px on all four sides (an
outcrop) and a centred square of side 64 or 128 px (object removal). Methods: every
``infill()`` method, ``patchmatch-numpy`` (``patchmatch`` with pypatchmatch switched
off: our own numpy PatchMatch, the fallback where the wheel is missing) and
``pypatchmatch`` itself on the whole image (InvokeAI's PatchMatch, patch size 3) when
``pip install pypatchmatch`` gives a working library; without it those rows are skipped.

Figures, per photo, size and hole:

- **seam**: mean gradient magnitude (3x3 Sobel on grey) on the ring of pixels within
  2 px of the hole's edge (both sides; the image frame is not an edge), divided by the
  same on the original photo. 1.0 adds no edge; block pasting and colour steps push
  it up, blurring pulls it down.
- **PSNR**: in the hole only, against the original photo (dB).
- **time**: median wall time of one call (ms); the methods run interleaved, case by case.

The summary gives the median over the photos; the acceptance rows check each case
(for ``patchmatch``, and for ``patchmatch-numpy`` where measured): seam <= max(1.15, 1.15x pypatchmatch's), PSNR >= pypatchmatch's - 1 dB,
and at 2048² time <= pypatchmatch's / 5.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Row, format_table, markdown_table, note  # noqa: E402

from paint_widgets.imaging import infill_pypm  # noqa: E402
from paint_widgets.imaging.infill import infill  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
QUICK_PHOTOS = ("astronaut", "coffee")
SIZES = (512, 2048)
HOLES = (("border", 64), ("border", 128), ("square", 64), ("square", 128))
OURS = ("patchmatch", "patchmatch-numpy", "auto", "telea", "tile", "color")
NUMPY = "patchmatch-numpy"  # patchmatch with pypatchmatch switched off
THEIRS = "pypatchmatch"
PYPM_PATCH = 3  # InvokeAI's patch size
SEAM_RING = 2

Filler = Callable[[np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- inputs


def load_photos(names: tuple[str, ...], size: int) -> dict[str, np.ndarray]:
    """scikit-image's photos, centre-cropped square and resized to ``size``²."""
    from skimage import data

    out = {}
    for name in names:
        img = np.ascontiguousarray(getattr(data, name)()[..., :3])
        h, w = img.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        crop = img[top : top + side, left : left + side]
        interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        out[name] = cv2.resize(crop, (size, size), interpolation=interp)
    return out


def make_hole(size: int, shape: str, px: int) -> np.ndarray:
    """A ``px`` border on all sides, or a centred ``px`` x ``px`` square."""
    if shape == "border":
        hole = np.ones((size, size), bool)
        hole[px:-px, px:-px] = False
        return hole
    hole = np.zeros((size, size), bool)
    top = (size - px) // 2
    hole[top : top + px, top : top + px] = True
    return hole


# --------------------------------------------------------------------------- figures


def _gradient(img: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def seam_ring(hole: np.ndarray, width: int = SEAM_RING) -> np.ndarray:
    """Pixels within ``width`` px of the hole's edge, on both sides (not the image frame)."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    h8 = hole.astype(np.uint8)
    # erode's default border counts as hole, so the frame of the image is no edge
    return (cv2.dilate(h8, kernel) > 0) & ~(cv2.erode(h8, kernel) > 0)


def seam_ratio(out: np.ndarray, original: np.ndarray, hole: np.ndarray) -> float:
    """Mean gradient on the seam ring of ``out`` over the same on ``original`` (1.0: no edge added)."""
    ring = seam_ring(hole)
    return float(_gradient(out)[ring].mean() / max(float(_gradient(original)[ring].mean()), 1e-6))


def psnr_hole(out: np.ndarray, original: np.ndarray, hole: np.ndarray) -> float:
    diff = out[hole].astype(np.float64) - original[hole]
    mse = float(np.mean(diff * diff))
    return 99.0 if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


# --------------------------------------------------------------------------- methods


def pypatchmatch_filler() -> Filler | None:
    """InvokeAI's PatchMatch (patch size 3), or None where its library does not load."""
    try:
        from patchmatch import patch_match
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    if not getattr(patch_match, "patchmatch_available", False):
        return None

    def fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
        patch_match.set_random_seed(0)
        return np.asarray(patch_match.inpaint(img, hole.astype(np.uint8) * 255, patch_size=PYPM_PATCH))

    return fill


def numpy_patchmatch(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``patchmatch`` on our own numpy PatchMatch, as where the pypatchmatch wheel is missing."""
    enabled = infill_pypm.ENABLED
    infill_pypm.ENABLED = False
    try:
        return infill(img, hole, "patchmatch")
    finally:
        infill_pypm.ENABLED = enabled


def fillers(methods: tuple[str, ...] = OURS, *, theirs: bool = True) -> dict[str, Filler]:
    def method(name: str) -> Filler:
        return numpy_patchmatch if name == NUMPY else lambda img, hole: infill(img, hole, name)

    out = {m: method(m) for m in methods}
    pypm = pypatchmatch_filler() if theirs else None
    if pypm is not None:
        out[THEIRS] = pypm
    return out


# --------------------------------------------------------------------------- measuring


@dataclass
class Case:
    photo: str
    size: int
    shape: str
    px: int
    seam: dict[str, float] = field(default_factory=dict)
    psnr: dict[str, float] = field(default_factory=dict)
    ms: dict[str, float] = field(default_factory=dict)

    @property
    def hole_name(self) -> str:
        return f"{self.shape} {self.px}"


def measure(img: np.ndarray, hole: np.ndarray, methods: dict[str, Filler], repeats: int,
            slow_repeats: int) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Seam, PSNR and median ms of each method on one case; calls interleaved."""
    seam: dict[str, float] = {}
    psnr: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in methods}
    for rep in range(max(repeats, slow_repeats)):
        for name, fn in methods.items():
            if rep >= (slow_repeats if name == THEIRS else repeats):
                continue
            start = time.perf_counter()
            out = fn(img, hole)
            times[name].append((time.perf_counter() - start) * 1000.0)
            if rep == 0:
                if not np.array_equal(out[~hole], img[~hole]):
                    raise AssertionError(f"{name} changed pixels outside the hole")
                seam[name], psnr[name] = seam_ratio(out, img, hole), psnr_hole(out, img, hole)
    return seam, psnr, {name: statistics.median(t) for name, t in times.items()}


def run_cases(*, photos: tuple[str, ...] = PHOTOS, sizes: tuple[int, ...] = SIZES,
              holes: tuple[tuple[str, int], ...] = HOLES, methods: dict[str, Filler] | None = None,
              repeats: int = 3, slow_repeats: int = 1,
              log: Callable[[str], None] = lambda s: None) -> list[Case]:
    methods = fillers() if methods is None else methods
    warm = load_photos(photos[:1], 64)[photos[0]]
    for fn in methods.values():  # first calls pay for imports and caches: not in the times
        fn(warm, make_hole(64, "square", 16))
    cases = []
    for size in sizes:
        pictures = load_photos(photos, size)
        for shape, px in holes:
            hole = make_hole(size, shape, px)
            for photo, img in pictures.items():
                log(f"{photo} {size}² {shape} {px}")
                # pypatchmatch is slow at 2048²: it repeats at most slow_repeats times there
                slow = slow_repeats if size > 512 else repeats
                seam, psnr, ms = measure(img, hole, methods, repeats, slow)
                cases.append(Case(photo, size, shape, px, seam, psnr, ms))
    return cases


# --------------------------------------------------------------------------- table


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _accepts(case: Case, ours: str = "patchmatch") -> tuple[bool, bool, bool]:
    ref_seam, ref_psnr, ref_ms = case.seam[THEIRS], case.psnr[THEIRS], case.ms[THEIRS]
    seam_ok = case.seam[ours] <= max(1.15, 1.15 * ref_seam)
    psnr_ok = case.psnr[ours] >= ref_psnr - 1.0
    time_ok = case.size <= 512 or case.ms[ours] <= ref_ms / 5
    return seam_ok, psnr_ok, time_ok


def rows(cases: list[Case]) -> list[Row]:
    """Summary table: per size and hole, median over photos of each figure and method."""
    out: list[Row] = []
    if not cases:
        return out
    methods = list(cases[0].seam)
    has_ref = THEIRS in methods
    groups: dict[tuple[int, str], list[Case]] = {}
    for c in cases:
        groups.setdefault((c.size, c.hole_name), []).append(c)
    photos = sorted({c.photo for c in cases}, key=PHOTOS.index)
    out.append(note(f"infill quality on {', '.join(photos)} (medians over the photos)"
                    + ("" if has_ref else "; pypatchmatch not available, skipped")))
    for (size, hole_name), group in groups.items():
        for m in methods:
            seam = _median([c.seam[m] for c in group])
            psnr = _median([c.psnr[m] for c in group])
            ms = _median([c.ms[m] for c in group])
            label = f"infill {m} {size}² {hole_name}"
            if has_ref and m != THEIRS:
                ref_ms = _median([c.ms[THEIRS] for c in group])
                out.append(Row(f"{label}: seam", seam, "ratio",
                               seam / _median([c.seam[THEIRS] for c in group]), THEIRS))
                out.append(Row(f"{label}: PSNR in hole", psnr, "dB"))
                out.append(Row(f"{label}: time", ms, "ms", ms / ref_ms, THEIRS))
            else:
                out.append(Row(f"{label}: seam", seam, "ratio"))
                out.append(Row(f"{label}: PSNR in hole", psnr, "dB"))
                out.append(Row(f"{label}: time", ms, "ms"))
    if has_ref:
        for ours in ("patchmatch", NUMPY):
            if ours in methods:
                out += _acceptance(cases, ours)
    return out


def _acceptance(cases: list[Case], ours: str) -> list[Row]:
    """Case-by-case acceptance rows of ``ours`` against pypatchmatch, per size."""
    out = [note(f"acceptance, {ours} vs pypatchmatch, case by case")]
    for size in sorted({c.size for c in cases}):
        sized = [c for c in cases if c.size == size]
        checks = [_accepts(c, ours) for c in sized]
        n = len(sized)
        seam_n, psnr_n, time_n = (sum(ok[i] for ok in checks) for i in range(3))
        worst_seam = max(c.seam[ours] - max(1.15, 1.15 * c.seam[THEIRS]) for c in sized)
        worst_psnr = min(c.psnr[ours] - c.psnr[THEIRS] for c in sized)
        out.append(Row(f"{ours} {size}²: cases with seam <= max(1.15, 1.15x pypatchmatch)", seam_n,
                       f"of {n}", target=f"{n} (worst margin {worst_seam:+.2f})", ok=seam_n == n))
        out.append(Row(f"{ours} {size}²: cases with PSNR >= pypatchmatch - 1 dB", psnr_n, f"of {n}",
                       target=f"{n} (worst: {worst_psnr:+.2f} dB)", ok=psnr_n == n))
        if size > 512:
            worst_time = max(c.ms[ours] / c.ms[THEIRS] for c in sized)
            out.append(Row(f"{ours} {size}²: cases with time <= pypatchmatch / 5", time_n, f"of {n}",
                           target=f"{n} (worst: {worst_time:.2f}x)", ok=time_n == n))
    return out


def case_lines(cases: list[Case]) -> str:
    """Every case, one line each (seam / PSNR / ms per method)."""
    methods = list(cases[0].seam) if cases else []
    head = "photo      size hole        " + "".join(f"{m[:14]:>24}" for m in methods)
    lines = [head]
    for c in cases:
        cells = "".join(f"{c.seam[m]:7.2f} {c.psnr[m]:5.1f} {c.ms[m]:9.0f}" for m in methods)
        lines.append(f"{c.photo:<10} {c.size:>4} {c.hole_name:<11} {cells}")
    return "\n".join(lines)


def case_markdown(cases: list[Case]) -> str:
    """Every case as a Markdown table; cells: seam / PSNR (dB) / time (ms)."""
    methods = list(cases[0].seam) if cases else []
    lines = ["| photo | size | hole | " + " | ".join(methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for c in cases:
        cells = " | ".join(f"{c.seam[m]:.2f} / {c.psnr[m]:.1f} / {c.ms[m]:.0f}" for m in methods)
        lines.append(f"| {c.photo} | {c.size} | {c.hole_name} | {cells} |")
    return "\n".join(lines)


def run(*, quick: bool = False, log: Callable[[str], None] = lambda s: None) -> list[Row]:
    """Rows for ``benchmarks/run.py``; ``quick``: two photos, one repeat."""
    try:
        import skimage  # noqa: F401
    except ImportError:
        return [note("infill quality: scikit-image not installed (pip install scikit-image), skipped")]
    cases = run_cases(photos=QUICK_PHOTOS if quick else PHOTOS, repeats=1 if quick else 3, log=log)
    return rows(cases)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two photos, one repeat")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--photos", nargs="+", choices=PHOTOS)
    parser.add_argument("--methods", nargs="+", default=list(OURS), help="infill() methods to measure")
    parser.add_argument("--no-reference", action="store_true", help="skip pypatchmatch")
    parser.add_argument("--repeats", type=int, help="timed calls of our methods per case (3; quick: 1)")
    parser.add_argument("--cases", action="store_true", help="also print every case")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--cases-markdown", type=Path, help="also write every case as Markdown here")
    args = parser.parse_args(argv)
    photos = tuple(args.photos or (QUICK_PHOTOS if args.quick else PHOTOS))
    repeats = args.repeats or (1 if args.quick else 3)

    def log(text: str) -> None:
        print(f"  [infill] {text}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    cases = run_cases(photos=photos, sizes=tuple(args.sizes), repeats=repeats,
                      methods=fillers(tuple(args.methods), theirs=not args.no_reference), log=log)
    table = rows(cases) + [note(f"total benchmark time: {time.perf_counter() - start:.0f} s")]
    if args.cases:
        print(case_lines(cases))
    print(format_table(table))
    if args.markdown:
        args.markdown.write_text(markdown_table(table) + "\n", encoding="utf-8")
    if args.cases_markdown:
        args.cases_markdown.write_text(case_markdown(cases) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
