"""torch + diffusers + transformers: the kernel-resident manager and the generators.

Never imports ipywidgets: the same engine serves the widgets, the magic, the
console script and plain Python.
"""

from .hub import quiet_import_warnings as _quiet_import_warnings

# Before anything here imports diffusers: its pipelines' import makes transformers log
# "requires torchvision ... falling back" lines no user can act on (PAINT_WIDGETS_VERBOSE=1 shows them).
_quiet_import_warnings()
