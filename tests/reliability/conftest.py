"""Fixtures of the reliability suite: one warm manager per module.

(torch runs on one thread for the whole test session: see ``tests/conftest.py``.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def warm(tiny_models):
    """The kernel manager on the tiny models with the inpainting model loaded, for a whole module.

    Rows compare ``loads``/``generations`` before and after themselves, so sharing one
    load across a module's rows keeps them fast without hiding a reload.
    """
    import paint_widgets

    manager = paint_widgets.manager()
    manager.release()
    manager.budget_bytes = None
    manager.allow_pickle = False
    manager.configure(model=str(tiny_models["sd-inpaint"]), textmask_model=str(tiny_models["clipseg"]))
    manager.pipeline()
    yield manager
    manager.allow_pickle = False
    manager.release()
