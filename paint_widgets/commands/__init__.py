"""The ``invoke>`` command language: parser, runner, ``%invoke`` magic, console script.

``parse(line)`` turns an InvokeAI 2.x command line into the request objects the
Python API uses; :class:`Runner` runs them, saves numbered outputs and prints
InvokeAI's ``Outputs:`` block. The magic lives in :mod:`.magic` (it needs IPython)
and the ``paint-widgets`` console script in :mod:`.cli`.
"""

from __future__ import annotations

from .parser import DEFAULT_OUTDIR, Command, parse, split_prompt, switches
from .runner import Runner, run_file

__all__ = ["DEFAULT_OUTDIR", "Command", "Runner", "parse", "run_file", "split_prompt", "switches"]
