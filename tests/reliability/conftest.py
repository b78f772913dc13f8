"""Fixtures of the reliability suite: one warm manager per module, single-threaded torch.

Generation here is tiny (64x64, one or two steps). On a shared two-core machine
torch's two intra-op threads spin against other processes and run ~20x slower
than one thread, so the suite runs torch on one thread (and restores it after).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
