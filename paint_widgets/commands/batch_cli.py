"""``paint-widgets batch``: one recipe over a folder, from a shell.

::

    paint-widgets batch --input DIR [--masks DIR] [-tm TEXT [THRESHOLD]] [--outdir DIR]
                        [--from_file RECIPES] [--ray [ADDRESS]] [--workers N]
                        [--model M] [--textmask-model M] [--device D] "prompt" [switches]

The prompt and switches are one line of the command language without ``-I``
(the images come from ``--input``): the same parser, the same switches, the same
checks as a single image, so ``--outcrop top 64`` (``-c``) grows every image and
``-D top 64`` shifts it, as ``!fix`` would. ``--from_file`` takes a prompt file
instead, each line a recipe applied to every image. ``--input``, ``--masks`` and
``--outdir`` take local paths or fsspec URLs (``s3://bucket/in``, ``gs://...``,
``ftp://host/in``, ``file:///...``). The summary (and each failure: file, reason)
goes to standard output; a bar shows progress on a terminal. Exit status: 0, 1 if
an image failed, 2 for bad options, 130 after Ctrl-C (rerun to resume).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from ..errors import PaintError
from .runner import one_line

USAGE = ('paint-widgets batch --input DIR [--masks DIR] [-tm TEXT [THRESHOLD]] [--outdir DIR] '
         '[--ray [ADDRESS]] "prompt" [switches]')


def build_parser() -> argparse.ArgumentParser:
    from ..batching.api import DEFAULT_BATCH_OUTDIR

    p = argparse.ArgumentParser(prog="paint-widgets batch", usage=USAGE, allow_abbrev=False,
                                description="Inpaint every image of a folder with one recipe "
                                            "(a prompt and invoke> switches, or a prompt file).")
    p.add_argument("--input", "-i", required=True, metavar="DIR",
                   help="folder of images (or one image): a path or an fsspec URL (s3://, gs://, ftp:// ...)")
    p.add_argument("--masks", metavar="DIR", help="folder of masks matched by file stem (black = paint), "
                   "or one mask for every image; a path or a URL")
    p.add_argument("--outdir", "-o", default=DEFAULT_BATCH_OUTDIR, metavar="DIR",
                   help=f"output folder or URL (default: {DEFAULT_BATCH_OUTDIR}); a rerun skips what is there")
    p.add_argument("--from_file", "--from-file", dest="from_file", metavar="FILE",
                   help="prompt file: each line a recipe (prompt and switches, no -I) for every image")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster (ADDRESS, $RAY_ADDRESS or a local one)")
    p.add_argument("--workers", type=int, metavar="N", help="Ray actors (default: one per GPU)")
    p.add_argument("--model", metavar="M", help="diffusion model: folder, hub id or .safetensors file")
    p.add_argument("--textmask-model", "--textmask_model", dest="textmask_model", metavar="M",
                   help="CLIPSeg model for -tm")
    p.add_argument("--device", metavar="D", help="torch device for the local engine")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def _looks_like_address(text: str) -> bool:
    return text in ("", "auto", "local") or ":" in text


def main(argv: Sequence[str]) -> int:
    """Run ``paint-widgets batch ARGS``; the exit status."""
    parser = build_parser()
    args, rest = parser.parse_known_args(list(argv))
    if args.ray is not None and not _looks_like_address(args.ray):
        rest.insert(0, args.ray)  # `--ray "a cat"`: the prompt, not an address
        args.ray = ""
    try:
        from ..batching import Recipe, batch
        from ..engine.manager import manager

        if args.from_file and rest:
            raise PaintError("give the recipe either as a prompt with switches or with --from_file, not both")
        recipe = args.from_file or Recipe.from_line(shlex.join(rest) if rest else '""')
        mgr = manager()
        mgr.configure(model=args.model, textmask_model=args.textmask_model, device=args.device)
        report = batch(args.input, masks=args.masks, outdir=args.outdir, recipe=recipe,
                       engine="local" if args.ray is None else "ray", address=args.ray or None,
                       workers=args.workers, display="bar" if args.progress and sys.stderr.isatty() else None,
                       mgr=mgr)
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    except PaintError as err:
        print(f"error: {one_line(str(err))}", file=sys.stderr)
        return 2
    print(report.summary(), flush=True)
    return 0 if report.ok else 1


__all__ = ["USAGE", "build_parser", "main"]
