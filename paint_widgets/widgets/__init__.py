"""Notebook widgets (ipycanvas + ipywidgets) over numpy state.

Import-light on purpose: each widget lives in its own module and is loaded by
``paint_widgets.__getattr__`` only when first used.
"""
