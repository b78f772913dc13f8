"""paint_widgets benchmarks: one entry point, one table of ratios measured in the same run.

    python benchmarks/run.py                 # GPU section (if CUDA) + CPU section
    python benchmarks/run.py --cpu-only --quick
    python benchmarks/run.py --gpu-only --only sd15 clipseg
    python benchmarks/run.py --gpu-only --only live sam   # issues #17 and #16
    python benchmarks/run.py --gpu-dry-run   # the GPU code on the CPU, scaled-down models

Columns: name | value | unit | ratio (to the named baseline, same run) | target.
Progress goes to stderr, the table to stdout; ``--markdown FILE`` also writes it as
Markdown (for RESULTS.md). Not part of the test suite (tests/test_benchmarks_smoke.py
only checks that ``--cpu-only --quick`` runs).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common import Row, format_table, markdown_table, note  # noqa: E402


def machine() -> str:
    """A one-line description of this machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-only", action="store_true", help="skip the GPU section")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU section")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (about a minute on CPU)")
    parser.add_argument("--only", nargs="+", choices=("sd15", "sdxl", "flux", "clipseg", "live", "sam"),
                        default=["sd15", "sdxl", "flux", "clipseg", "live", "sam"],
                        help="GPU parts to measure (live: #17's stroke -> preview; sam: #16's SAM ViT-B and SAM 3)")
    parser.add_argument("--no-compile", action="store_true", help="GPU: skip fast='compile' (saves minutes)")
    parser.add_argument("--gpu-dry-run", action="store_true",
                        help="run the GPU section on the CPU with scaled-down models (checks the code only)")
    parser.add_argument("--cpu-threads", type=int, default=1,
                        help="torch threads for the CPU section's tiny-model rows (0: torch's default)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rows: list[Row] = [note(f"machine: {machine()}")]
    if not args.cpu_only or args.gpu_dry_run:
        import gpu

        rows += gpu.run(quick=args.quick, dry_run=args.gpu_dry_run, only=tuple(args.only),
                        compile=not args.no_compile)
    elif args.cpu_only:
        rows.append(note("GPU: skipped (--cpu-only)"))
    if not args.gpu_only:
        import cpu

        rows += cpu.run(quick=args.quick, threads=args.cpu_threads or None)
    rows.append(note(f"total benchmark time: {time.perf_counter() - start:.0f} s"))
    print(format_table(rows))
    if args.markdown:
        args.markdown.write_text(markdown_table(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
