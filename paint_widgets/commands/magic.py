"""``%invoke`` / ``%%invoke``: the ``invoke>`` command language in a notebook.

``%load_ext paint_widgets`` registers them. ::

    %invoke "a cat" -I photo.png -tm hair -s 30 -S 7
    r = %invoke !fix outputs/img-samples/000000.7.png --outcrop top 64

    %%invoke
    # one command a line; blank lines and comments are skipped
    a baseball -I still_life.png -tm orange
    !mask still_life.png -tm orange 0.6

Each command prints InvokeAI's ``Outputs:`` block, saves its images under
``outputs/img-samples/`` (or the command's ``-o DIR``), and shows them in the
cell as it finishes. ``%invoke`` returns the :class:`~paint_widgets.Result`
(``None`` if the command failed; for ``!mask`` it holds the three debug images and
their ``paths``, with no seeds); ``%%invoke`` returns a list with the Result of
every command that worked, in order. Since the images were already shown, a
returned Result displays as its one-line summary (``r.image`` shows the picture). A failed command prints one
``error: ...`` line to standard error (no traceback) and, in a cell, the next
line still runs. The magics share one output counter and the kernel's
PipelineManager, so models load once per kernel.

A cell is split into lines on ``\n`` only, so a Unicode line separator inside a
quoted prompt stays in the prompt; a byte-order mark at its start is dropped.

As in any IPython line magic, ``{expression}`` and ``$name`` in a ``%invoke`` line
are replaced by Python values (``%invoke "a cat" -I {path}``); the lines of a
``%%invoke`` cell are taken literally.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from ..result import Result
from .runner import Runner, split_lines


def _show(result: Result) -> None:
    """Display every image of ``result`` in the cell; its own repr then stays text."""
    for image in result.images:
        display(image)
    result.shown = True


@magics_class
class InvokeMagics(Magics):
    """The ``invoke`` line/cell magic, with one :class:`Runner` per shell."""

    def __init__(self, shell: Any = None, runner: Runner | None = None) -> None:
        super().__init__(shell)
        self.runner = runner or Runner(on_result=_show)

    @line_cell_magic
    def invoke(self, line: str, cell: str | None = None) -> Any:
        """Run ``invoke>`` commands: ``%invoke COMMAND`` or a ``%%invoke`` cell of them.

        ``%invoke`` returns the Result (``None`` after an error); ``%%invoke`` the
        list of Results of the commands that worked. A command on the ``%%invoke``
        line itself runs first.
        """
        if cell is None:
            if not line.strip():
                self.runner.error("no command given; e.g. %invoke \"a cat\" -I photo.png -tm hair", "%invoke")
                return None
            return self.runner.run(line)
        # split on "\n" only (not str.splitlines): U+2028 and friends may sit in a quoted prompt
        lines = ([line] if line.strip() else []) + split_lines(cell)
        return self.runner.run_lines(lines)


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%invoke`` and ``%%invoke`` (``%load_ext paint_widgets``)."""
    ipython.register_magics(InvokeMagics(ipython))


def unload_ipython_extension(ipython: Any) -> None:  # pragma: no cover - IPython calls it
    """Nothing to undo beyond what IPython does."""


__all__ = ["InvokeMagics", "load_ipython_extension"]
