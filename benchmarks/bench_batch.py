"""Batch throughput: images per second, the local engine vs Ray with two workers (tiny models).

The same folder (``--images`` pictures of ``--side`` px, a square mask each) and the same
recipe run side by side in one process: the local engine (one manager, the model already
loaded), the local engine writing to an fsspec URL (``memory://``: the temp-name-then-move
path every remote output takes, without a network), and Ray Data with one and with two
CPU actors (``ray.init`` on this machine; the figure includes each actor's model load, as
a real batch pays it once per actor). Outputs of every run are compared with the local
ones (same seeds: same pixels).

The tiny random-weight models make the per-image work small, so Ray's fixed costs (actor
start, model load per actor, scheduling) weigh far more here than with real models on GPUs.
Run: ``python benchmarks/bench_batch.py [--images 8] [--side 128] [--steps 10]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Row, format_table, picture
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_folder(root: Path, count: int, side: int) -> tuple[Path, Path]:
    inputs, masks = root / "in", root / "masks"
    inputs.mkdir()
    masks.mkdir()
    keep = np.full((side, side), 255, np.uint8)
    keep[side // 4: 3 * side // 4, side // 4: 3 * side // 4] = 0  # black = paint
    for i in range(count):
        Image.fromarray(np.roll(picture(side), 7 * i, axis=1)).save(inputs / f"img{i:03d}.png")
        Image.fromarray(keep).save(masks / f"img{i:03d}.png")
    return inputs, masks


def same_pixels(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.glob("*.png"))
    return names == sorted(p.name for p in b.glob("*.png")) and all(
        np.array_equal(np.asarray(Image.open(a / n)), np.asarray(Image.open(b / n))) for n in names)


def same_pixels_url(a: Path, url: str) -> bool:
    """Whether the PNGs under ``url`` (fsspec) are those of local folder ``a``."""
    import io

    from paint_widgets.batching import storage

    names = sorted(p.name for p in a.glob("*.png"))
    made = sorted(n for n in storage.names(url) if n.endswith(".png"))
    return names == made and all(np.array_equal(np.asarray(Image.open(a / n)), np.asarray(
        Image.open(io.BytesIO(storage.read_bytes(f"{url}/{n}"))))) for n in names)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--side", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    import paint_widgets as pw
    from paint_widgets.testing import write_tiny_models

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = write_tiny_models(root / "models")
        inputs, masks = make_folder(root, args.images, args.side)
        mgr = pw.manager(model=str(models["sd-inpaint"]), textmask_model=str(models["clipseg"]), device="cpu")
        common = {"masks": masks, "prompt": "a brick wall", "steps": args.steps, "display": None, "mgr": mgr}
        pw.batch([inputs / "img000.png"], outdir=root / "warm", **common)  # load the model once
        rows: list[Row] = []
        local = pw.batch(inputs, outdir=root / "local", **common)
        base = local.images_per_second
        rows.append(Row(f"local, {args.images} images {args.side}px, {args.steps} steps", base, "images/s"))
        url = "memory://bench-batch/out"
        remote = pw.batch(inputs, outdir=url, **common)
        rows.append(Row("local, outputs to memory:// (fsspec: temp name, then move)", remote.images_per_second,
                        "images/s", ratio=remote.images_per_second / base, versus="local",
                        target="same pixels as local", ok=same_pixels_url(root / "local", url)))
        try:
            import ray
        except ImportError:
            rows.append(Row('Ray: skipped (pip install "paint-widgets[ray]")', None, ""))
            print(format_table(rows))
            return 0
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False
        rows.append(Row("ray.init(num_cpus=2)", time.perf_counter() - started, "s"))
        for workers in (1, 2):
            out = root / f"ray{workers}"
            report = pw.batch(inputs, outdir=out, engine="ray", workers=workers, **common)
            rows.append(Row(f"Ray Data, {workers} CPU actor(s), incl. actor start + model load",
                            report.images_per_second, "images/s", ratio=report.images_per_second / base,
                            versus="local", target="same pixels as local",
                            ok=same_pixels(root / "local", out)))
        ray.shutdown()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
