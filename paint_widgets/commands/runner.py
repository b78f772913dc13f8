"""Run ``invoke>`` commands: parse, generate, save numbered outputs, print ``Outputs:``.

One :class:`Runner` serves the ``%invoke`` magic and the ``paint-widgets`` console
script alike. For every command it prints what InvokeAI 2.x printed::

    Outputs:
    [3] outputs/img-samples/000024.801380492.png: "medusa with cobras" -s 50 -S 801380492 ...

and for ``!mask``::

    >> generating masks from ./test-pictures/curly.png
    Outputs:
    [4.1] outputs/img-samples/000025.curly.hair.deselected.png: !mask ./test-pictures/curly.png -tm hair 0.5
    ...

``[N]`` counts the outputs of this runner (session). A command that fails prints
one line, ``error: <problem> in: <command>``, to standard error; the runner goes
on and counts it in :attr:`Runner.failures`.

Semantics the reference leaves to the implementation:

* **img2img**: a prompt line whose ``-I`` image is opaque and has no ``-M``/``-tm``
  repaints the whole image (InvokeAI ran img2img there): the parser builds the
  request with ``if_opaque="img2img"``, the engine paints the whole image and
  ``-f`` says how much changes. The printed and stored command is the line
  without a mask, so it reproduces itself. (The Python ``inpaint()`` raises on
  an empty mask instead, unless given ``if_opaque="img2img"``.)
* **!fix defaults**: the prompt and seed default to the ones stored in the image
  (this package's metadata, or InvokeAI's ``sd-metadata``/``Dream``).
* Output names are built here and in the engine from a number and the seed (or
  the image stem and a sanitised prompt for ``!mask``) and are checked to lie in
  the output folder: no prompt or path can place a file elsewhere; existing
  files are never overwritten.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from ..errors import CommandError, OutputError, PaintError
from ..io import (
    check_image_file,
    check_inside,
    ensure_outdir,
    load_image,
    safe_name,
    save_numbered,
    user_path,
)
from ..result import Result
from .parser import BOM, DEFAULT_OUTDIR, Command, parse, with_image_defaults

#: Lines that end an interactive session or a stream of commands.
QUIT_WORDS = frozenset({"q", "quit", "exit"})


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return re.sub(r"\s+", " ", str(text)).strip()


# --------------------------------------------------------------------------- reading command text
#
# Commands are read as UTF-8 whatever the locale, with a byte-order mark at the start
# dropped, and split into lines on "\n" and "\r\n" only: str.splitlines would also
# split on U+2028, U+2029, U+0085, \x0b, \x0c and \x1c-\x1e, which may sit inside
# a quoted prompt. A line whose bytes are not UTF-8 is an error for that line alone.


def split_lines(text: str) -> list[str]:
    """``text`` as command lines: a leading BOM dropped, split on ``\n``/``\r\n`` only."""
    text = text.removeprefix(BOM)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no new one
    return [line.removesuffix("\r") for line in lines]


#: One decoded line: (line number from 1, text, problem or None). With a problem, the
#: text shows the undecodable bytes as ``\xNN`` escapes.
Line = tuple[int, str, str | None]


def decode_lines(raw_lines: Iterable[bytes], source: str) -> Iterator[Line]:
    """Decode ``raw_lines`` (bytes split on ``\n``, as a binary file iterates) one at a time.

    The first line loses a UTF-8 BOM; ``\r\n`` endings are dropped. A line that is not
    UTF-8 yields a problem naming ``source``, the line number and the first bad byte,
    and the lines after it still come.
    """
    for number, raw in enumerate(raw_lines, start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        try:
            yield number, raw.decode("utf-8"), None
        except UnicodeDecodeError as err:
            bad = raw[err.start:err.start + 1].hex()
            problem = (f"line {number} of {source} is not valid UTF-8 text (byte 0x{bad} at position "
                       f"{err.start + 1}); save it as UTF-8")
            yield number, raw.decode("utf-8", "backslashreplace"), problem


def text_lines(stream: TextIO | BinaryIO, source: str) -> Iterator[Line]:
    """Lines of a command stream: bytes (``sys.stdin.buffer`` when there is one) decoded
    per line by :func:`decode_lines`; an already decoded text stream split on ``\n`` only."""
    binary: Any = getattr(stream, "buffer", None)
    if binary is None and "b" in str(getattr(stream, "mode", "")):
        binary = stream  # a file opened in binary mode
    if binary is not None:
        yield from decode_lines(binary, source)
        return
    text: Any = stream
    for number, line in enumerate(_text_stream_lines(text), start=1):
        if number == 1:
            line = line.removeprefix(BOM)
        yield number, line.removesuffix("\n").removesuffix("\r"), None


def _text_stream_lines(stream: TextIO) -> Iterator[str]:
    """A text stream's lines split on ``\n`` only, read as they arrive."""
    pending = ""
    while chunk := stream.readline():
        pending += chunk
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    if pending:
        yield pending


#: File types a command file may be: a regular file, a pipe (``<(...)``), a terminal (``/dev/stdin``).
_READABLE_STREAMS = (stat.S_ISREG, stat.S_ISFIFO, stat.S_ISCHR)


class Runner:
    """Parses and runs commands, keeping the output counter and the failure count.

    ``outdir``: folder for outputs (relative paths resolve against the working
    folder at the time each command runs); a command's ``-o DIR`` overrides it.
    ``mgr``: the PipelineManager (default: the kernel's). ``overrides``:
    GenerationParams fields forced on every generating command (e.g.
    ``{"steps": 2}`` to try a prompt file quickly; the printed commands show them).
    ``on_result``: called with each :class:`Result` after it is saved (the magic
    displays images with it). ``stdout``/``stderr``: streams (default: ``sys.stdout``
    and ``sys.stderr`` at the time of printing, so IPython's capture works).
    """

    def __init__(
        self,
        outdir: str | os.PathLike = DEFAULT_OUTDIR,
        *,
        mgr: Any = None,
        overrides: Mapping[str, Any] | None = None,
        on_result: Callable[[Result], None] | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        verbose: bool = False,
    ) -> None:
        self.outdir = outdir
        self.mgr = mgr
        self.overrides = dict(overrides or {})
        self.on_result = on_result
        self._stdout = stdout
        self._stderr = stderr
        self.verbose = verbose
        self.counter = 0
        self.failures = 0
        self.succeeded = 0
        self._announced: set[str] = set()

    # ------------------------------------------------------------------ printing

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    def say(self, text: str) -> None:
        """Print one line to standard output; characters the stream cannot encode are escaped."""
        try:
            print(text, file=self.stdout, flush=True)
        except UnicodeEncodeError:
            encoding = getattr(self.stdout, "encoding", None) or "utf-8"
            print(text.encode(encoding, "backslashreplace").decode(encoding), file=self.stdout, flush=True)

    def error(self, message: str, line: str) -> None:
        """Print one ``error: ...`` line for a failed command and count it."""
        self.failures += 1
        print(f"error: {one_line(message)} in: {one_line(line)}", file=self.stderr, flush=True)

    # ------------------------------------------------------------------ running

    def manager(self) -> Any:
        if self.mgr is None:
            from ..engine.manager import manager

            self.mgr = manager()
        return self.mgr

    def run(self, line: str, overrides: Mapping[str, Any] | None = None) -> Result | None:
        """Run one line; print its outputs or one error line. ``None`` for comments and failures.

        Never raises for a bad command or a failed generation (``KeyboardInterrupt``
        still propagates).
        """
        try:
            command = parse(line)
            if command is None:
                return None
            result = self.execute(command, overrides=overrides)
        except PaintError as err:
            self.error(str(err), line)
            return None
        except Exception as err:  # a bug or an unexpected library error: still one line
            self.error(f"{type(err).__name__}: {err}", line)
            return None
        self.succeeded += 1
        return result

    def run_lines(self, lines: Iterable[str], overrides: Mapping[str, Any] | None = None) -> list[Result]:
        """Run each line (blank lines and ``#`` comments skipped); the Results of those that worked."""
        results = []
        for line in lines:
            result = self.run(line, overrides=overrides)
            if result is not None:
                results.append(result)
        return results

    def run_decoded(self, lines: Iterable[Line], overrides: Mapping[str, Any] | None = None, *,
                    stop: Iterable[str] = ()) -> list[Result]:
        """Run lines from :func:`decode_lines`/:func:`text_lines`: a line that could not be
        decoded is one error line and the next line runs; a line in ``stop`` ends the run."""
        stop_words = frozenset(stop)
        results = []
        for _number, line, problem in lines:
            if problem is not None:
                self.error(problem, line)
                continue
            if stop_words and line.strip().lower() in stop_words:
                break
            result = self.run(line, overrides=overrides)
            if result is not None:
                results.append(result)
        return results

    def run_file(self, path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> list[Result]:
        """Run a prompt file (InvokeAI's ``--from_file`` format: one command a line).

        Read as UTF-8 (BOM dropped), split on ``\n``/``\r\n`` only, one line at a time:
        an undecodable line is an error for that line, naming its number. ``~`` is
        expanded; a pipe (``<(...)``) or a terminal is fine; a folder, socket or block device
        is refused.
        """
        where = f"--from_file {path}"
        try:
            checked = user_path(path, "command file (--from_file)", CommandError)
            mode = os.stat(checked).st_mode
            if stat.S_ISDIR(mode):
                raise CommandError(f"command file {checked} is a folder; give a text file of commands")
            if not any(test(mode) for test in _READABLE_STREAMS):
                raise CommandError(f"command file {checked} is not a regular file or a pipe; "
                                   "give a text file of commands")
            handle = open(checked, "rb")  # noqa: SIM115 - closed below
        except PaintError as err:
            self.error(str(err), where)
            return []
        except OSError as err:
            self.error(f"cannot read command file {path}: {err.strerror or err}", where)
            return []
        with handle:
            try:
                return self.run_decoded(decode_lines(handle, f"command file {checked}"), overrides=overrides)
            except OSError as err:  # the file went away or the disk failed while reading
                self.error(f"cannot read command file {path}: {err.strerror or err}", where)
                return []

    def execute(self, command: Command, overrides: Mapping[str, Any] | None = None) -> Result:
        """Run a parsed command, save and print its outputs; raises on failure.

        Everything saving will need is checked first: the output folder (created,
        writable, a name that can be printed) and each input file (a regular,
        non-empty file, by ``os.stat``; an image header within the limits), so nothing
        is generated that cannot be saved.
        """
        outdir = ensure_outdir(command.outdir or self.outdir)  # a bad or read-only folder: before any work
        self._check_inputs(command)
        forced = {**self.overrides, **(overrides or {})}
        started = time.perf_counter()
        before = self._resident()
        if command.kind == "mask":
            self.say(f">> generating masks from {command.request.image_ref or command.request.image}")
            result = self._run_mask(command, outdir)
        else:
            command = command.with_params(**forced) if forced else command
            command = with_image_defaults(command)
            result = self._run_generation(command, outdir)
        self._announce_loads(before)
        self._print_outputs(result, sub=command.kind == "mask")
        if self.verbose:
            self.say(f">> {len(result.paths)} file(s) in {time.perf_counter() - started:.1f} s")
        if self.on_result is not None:
            self.on_result(result)
        return result

    @staticmethod
    def _check_inputs(command: Command) -> None:
        """Each input file of ``command`` must be a regular, non-empty file (by ``os.stat``,
        before anything opens it: a FIFO would block the first read) with an image header
        within the limits (a decompression bomb is refused before any pixel or model)."""
        request = command.request
        name = {"fix": "!fix image", "mask": "!mask image"}.get(command.kind, "image (-I)")
        for what, value in ((name, request.image), ("mask (-M)", getattr(request, "mask", None))):
            if isinstance(value, (str, os.PathLike)):
                check_image_file(value, what)

    def _run_generation(self, command: Command, outdir: str | os.PathLike) -> Result:
        from ..engine.api import run as run_request

        if command.preview:  # --preview: 4 LCM steps at -C 1.5 unless the line says -s/-C
            from ..engine.preview import PREVIEW_CFG, PREVIEW_STEPS, PreviewRequest, run_preview

            p = command.request.params
            preview = PreviewRequest(command.request, steps=p.steps if "steps" in command.given else PREVIEW_STEPS,
                                     cfg=p.cfg if "cfg" in command.given else PREVIEW_CFG)
            result = run_preview(preview, mgr=self.manager())
            self._save(result, outdir)
            return result
        result = run_request(command.request, mgr=self.manager())
        self._save(result, outdir)
        return result

    def _run_mask(self, command: Command, outdir: str | os.PathLike) -> Result:
        """``!mask``: the three images of :func:`~paint_widgets.engine.textmask.save_mask_debug`,
        named and stored as it names them, saved under one atomically claimed number
        (:func:`~paint_widgets.io.save_numbered`), so processes sharing the folder never
        share a number."""
        from ..engine.textmask import DEBUG_KINDS, text_mask
        from ..requests import mask_command

        request = command.request
        tm = text_mask(request.image, request.prompt, request.threshold, manager=self.manager())
        ref = str(request.image)
        stored = mask_command(ref, tm.prompt, tm.threshold)
        pictures = {"deselected": tm.deselected(), "selected": tm.selected(), "masked": tm.masked(tm.threshold)}
        base = f"{Path(ref).stem}.{safe_name(tm.prompt)}"
        files = [(f"{base}.{kind}.png", pictures[kind],
                  {"app": "paint_widgets", "type": "mask_debug", "kind": kind, "image": ref,
                   "prompt": tm.prompt, "threshold": tm.threshold, "command": stored}, stored)
                 for kind in DEBUG_KINDS]
        paths = save_numbered(outdir, files)
        for path in paths:
            _check_inside(outdir, path)
        line = request.command()
        images = [load_image(path, what="mask image") for path in paths]
        return Result(images=images, seeds=[], commands=[line] * len(paths), request=request,
                      metadata=[{"command": line} for _ in paths], paths=list(paths))

    def _save(self, result: Result, outdir: str | os.PathLike) -> None:
        for path in result.save(outdir):
            _check_inside(outdir, path)

    def _print_outputs(self, result: Result, *, sub: bool) -> None:
        self.say("Outputs:")
        if sub:
            self.counter += 1
            for i, (path, line) in enumerate(zip(result.paths, result.commands, strict=False), start=1):
                self.say(f"[{self.counter}.{i}] {path}: {line}")
        else:
            for path, line in zip(result.paths, result.commands, strict=False):
                self.counter += 1
                self.say(f"[{self.counter}] {path}: {line}")

    # ------------------------------------------------------------------ models

    def _resident(self) -> set[str]:
        mgr = self.mgr
        if mgr is None:
            return set()
        try:
            return set(mgr.status()["resident"])
        except Exception:  # a stand-in manager in tests, or one without status()
            return set()

    def _announce_loads(self, before: set[str]) -> None:
        for source in sorted(self._resident() - before):
            if source not in self._announced:
                self._announced.add(source)
                self.say(f">> loaded model {source}")


def _check_inside(outdir: str | os.PathLike, path: Path) -> None:
    if Path(path).resolve() != check_inside(outdir, Path(path).name):
        raise OutputError(f"output {path} is not inside the output folder {outdir}")


def run_file(
    path: str | os.PathLike,
    *,
    outdir: str | os.PathLike = DEFAULT_OUTDIR,
    overrides: Mapping[str, Any] | None = None,
    runner: Runner | None = None,
) -> list[Result]:
    """Run every command of a prompt file; ``overrides`` (e.g. ``{"steps": 2}``) apply to each.

    Returns the Results of the commands that worked; failures print one line each
    (``runner.failures`` counts them).
    """
    runner = runner or Runner(outdir)
    return runner.run_file(path, overrides=overrides)


__all__ = ["QUIT_WORDS", "Runner", "decode_lines", "one_line", "run_file", "split_lines", "text_lines"]
