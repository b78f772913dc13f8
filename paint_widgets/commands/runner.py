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
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from ..errors import OutputError, PaintError
from ..io import check_inside, ensure_outdir, load_image
from ..result import Result
from .parser import DEFAULT_OUTDIR, Command, parse, with_image_defaults

#: Lines that end an interactive session or a stream of commands.
QUIT_WORDS = frozenset({"q", "quit", "exit"})


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return re.sub(r"\s+", " ", str(text)).strip()


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
        print(text, file=self.stdout, flush=True)

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

    def run_file(self, path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> list[Result]:
        """Run a prompt file (InvokeAI's ``--from_file`` format: one command a line)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            self.error(f"cannot read command file: {err}", f"--from_file {path}")
            return []
        return self.run_lines(text.splitlines(), overrides=overrides)

    def execute(self, command: Command, overrides: Mapping[str, Any] | None = None) -> Result:
        """Run a parsed command, save and print its outputs; raises on failure."""
        outdir = command.outdir or self.outdir
        ensure_outdir(outdir)  # a bad or read-only folder fails before any generation
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

    def _run_generation(self, command: Command, outdir: str | os.PathLike) -> Result:
        from ..engine.api import run as run_request

        result = run_request(command.request, mgr=self.manager())
        self._save(result, outdir)
        return result

    def _run_mask(self, command: Command, outdir: str | os.PathLike) -> Result:
        from ..engine.textmask import save_mask_debug

        request = command.request
        paths = save_mask_debug(request.image, request.prompt, request.threshold, outdir,
                                manager=self.manager())
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


__all__ = ["QUIT_WORDS", "Runner", "one_line", "run_file"]
