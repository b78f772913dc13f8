"""torch + diffusers + transformers: the kernel-resident manager and the generators.

Never imports ipywidgets: the same engine serves the widgets, the magic, the
console script and plain Python.
"""
