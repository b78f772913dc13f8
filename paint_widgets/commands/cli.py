"""``paint-widgets``: the ``invoke>`` command language from a shell.

::

    paint-widgets [--model M] [--textmask-model M] [--outdir D] [--device D]
                  [--from_file FILE] [-v] [COMMAND ...]

* With COMMAND arguments, runs each in order, in one process (models load once).
  Quote each command as one argument:
  ``paint-widgets '"a cat" -I photo.png -tm hair' '!fix out.png -c top 64'``.
* With ``--from_file FILE``, runs the file's commands, one a line (InvokeAI's
  prompt-file format: blank lines and ``#`` comments skipped).
* Otherwise reads commands from standard input, one a line; on a terminal it
  shows an ``invoke>`` prompt with line editing and history
  (``~/.paint_widgets_history``). ``q``, ``quit``, ``exit`` or end of input stop.

Files and standard input are read as UTF-8 whatever the locale (a BOM at the start
is dropped) and split into lines on ``\n``/``\r\n`` only; a line that is not UTF-8
is an error for that line, naming its number. ``~`` is expanded in every path
(``--outdir``, ``--from_file``, ``--model``, ``--textmask-model``), as in the commands.

A failed command prints one ``error: ...`` line and the next one runs; the exit
status is 1 if any command failed, 0 otherwise (2 for bad options).

A model that is not on disk yet is downloaded on first use; its progress (which
model, bytes done of total, then the load) goes to standard error. The libraries'
own progress bars and import warnings are shown only with ``-v``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..errors import CommandError, PaintError
from ..io import user_path
from .parser import DEFAULT_OUTDIR
from .runner import QUIT_WORDS, Runner, one_line, text_lines

HISTORY_FILE = "~/.paint_widgets_history"
PROMPT = "invoke> "
EPILOG = """\
commands (one a line on standard input, or one per COMMAND argument):
  PROMPT -I IMAGE [-M MASK | -tm TEXT [THRESHOLD]] [--invert_mask] [-s N] [-S SEED]
         [-C CFG] [-f STRENGTH] [-A SAMPLER] [-n N] [-W W] [-H H] [-r R] [-o DIR]
  PROMPT -I IMAGE -c DIR PX [DIR PX ...] | -D DIR [PX]   (outcrop / outpaint)
  !fix IMAGE --outcrop DIR PX [DIR PX ...] | --out_direction DIR [PX]  [switches]
  !mask IMAGE -tm TEXT [THRESHOLD]

examples:
  paint-widgets '"a baseball" -I still_life.png -tm orange 0.6 -s 30'
  paint-widgets '!fix images/curly.png --outcrop top 128 right 64 bottom 64'
  paint-widgets --from_file prompts.txt
  paint-widgets batch --input photos/ -tm background 0.5 "a white studio wall"   (see: batch --help)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="paint-widgets",
        description="Run InvokeAI 2.x-style invoke> commands (inpaint, !fix outcrop/outpaint, !mask).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("--model", metavar="M", help="diffusion model: folder, hub id or .safetensors file "
                   "(default: $PAINT_WIDGETS_MODEL or stable-diffusion-inpainting)")
    p.add_argument("--textmask-model", "--textmask_model", dest="textmask_model", metavar="M",
                   help="CLIPSeg model for -tm and !mask (default: $PAINT_WIDGETS_TEXTMASK_MODEL or CIDAS/clipseg-rd64-refined)")
    p.add_argument("--outdir", "-o", default=DEFAULT_OUTDIR, metavar="D",
                   help=f"output folder (default: {DEFAULT_OUTDIR})")
    p.add_argument("--device", metavar="D", help="torch device: cpu, cuda, cuda:1, mps (default: the best available)")
    p.add_argument("--from_file", "--from-file", dest="from_file", metavar="FILE",
                   help="run the commands in FILE, one a line")
    p.add_argument("-v", "--verbose", action="store_true", help="print the device and the time each command took")
    p.add_argument("commands", nargs="*", metavar="COMMAND", help="commands to run, each one argument")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["batch"]:  # `paint-widgets batch ...`: a folder, see commands/batch_cli.py
        from .batch_cli import main as batch_main

        return batch_main(words[1:])
    args = build_parser().parse_args(argv)
    from ..engine import hub

    if args.verbose:  # otherwise leave the setting (and $PAINT_WIDGETS_VERBOSE) as it is
        hub.set_verbose(True)
    with hub.report_loads(LoadPrinter(sys.stderr)):
        return _main(args)


class LoadPrinter:
    """Model download and load progress as lines on a stream (redrawn in place on a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last: tuple[str, str, str, int] | None = None

    def __call__(self, event: object) -> None:
        phase, model = getattr(event, "phase", ""), getattr(event, "model", "")
        done, total = getattr(event, "done", 0), getattr(event, "total", 0)
        quarter = 4 * done // total if phase == "download" and total else 0
        key = (phase, model, getattr(event, "device", ""), quarter)
        if not self.tty and key == self._last:
            return  # a log file gets a line per phase and per quarter of a download, not per chunk
        end = "\r" if self.tty and phase == "download" and done < total else "\n"
        print(f"{event.describe()}\033[K" if self.tty else event.describe(),  # type: ignore[attr-defined]
              end=end, file=self.stream, flush=True)
        self._last = key


def _model_arg(value: str | None, switch: str) -> str | None:
    """A ``--model`` value: a path gets ``~`` expanded like every other path; a hub id is unchanged."""
    if value is None:
        return None
    user_path(value, switch, CommandError)  # control characters or non-UTF-8 bytes: refused
    return os.path.expanduser(value)


def _main(args: argparse.Namespace) -> int:
    try:
        user_path(args.outdir, "--outdir", CommandError)
        args.outdir = os.path.expanduser(args.outdir)
        model = _model_arg(args.model, "--model")
        textmask_model = _model_arg(args.textmask_model, "--textmask-model")
        from ..engine.manager import manager

        mgr = manager()
        mgr.configure(model=model, textmask_model=textmask_model, device=args.device)
    except PaintError as err:
        print(f"error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError) as err:  # torch: an unknown or unavailable device
        print(f"error: --device {args.device}: {one_line(str(err))}", file=sys.stderr)
        return 2
    runner = Runner(args.outdir, mgr=mgr, verbose=args.verbose)
    if args.verbose:
        status = mgr.status()
        runner.say(f">> device {status['device']} ({status['dtype']}), model {status['model']}, "
                   f"text-mask model {status['textmask_model']}")
    try:
        if args.commands:
            for command in args.commands:
                runner.run(command)
        if args.from_file:
            runner.run_file(args.from_file)
        if not args.commands and not args.from_file:
            if sys.stdin.isatty():
                interactive(runner)
            else:
                run_stream(runner, sys.stdin)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1 if runner.failures else 0


def run_stream(runner: Runner, stream: TextIO) -> None:
    """Run commands read from ``stream`` one a line, until a quit word or the end.

    The bytes (``stream.buffer``) are decoded per line, so one line that is not UTF-8
    is an error for that line and the next one runs.
    """
    runner.run_decoded(text_lines(stream, "standard input"), stop=QUIT_WORDS)


def _history_path() -> Path:
    return Path(os.path.expanduser(HISTORY_FILE))


def interactive(runner: Runner) -> None:
    """The ``invoke>`` prompt, with readline editing and history where available."""
    readline = _setup_readline()
    print('paint_widgets command line: a prompt with switches, !fix, !mask; "q" quits.', flush=True)
    try:
        while True:
            try:
                line = input(PROMPT)
            except EOFError:
                print()
                break
            except KeyboardInterrupt:  # ^C at the prompt: a fresh line
                print()
                continue
            except UnicodeDecodeError as err:  # the terminal sent bytes that are not UTF-8
                runner.error(f"the line typed is not valid UTF-8 text ({err.reason}); "
                             "set the terminal to UTF-8", "<input>")
                continue
            if line.strip().lower() in QUIT_WORDS:
                break
            try:
                runner.run(line)
            except KeyboardInterrupt:  # ^C while generating: back to the prompt
                print("\ninterrupted", file=sys.stderr)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(str(_history_path()))
            except OSError:
                pass  # history is a convenience: a read-only home is fine


def _setup_readline():
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return None
    readline.set_history_length(1000)
    try:
        readline.read_history_file(str(_history_path()))
    except OSError:
        pass
    return readline


if __name__ == "__main__":
    raise SystemExit(main())
