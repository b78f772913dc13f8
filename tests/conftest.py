"""Shared fixtures: tiny random-weight models on disk, an offline hub, a fresh manager."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# The tiny models run faster on one thread than on two that wait for each other on a small
# shared CPU (measured here: ~1 s vs ~40 s for 50 steps at 64² under load). Subprocesses
# (notebook kernels, JupyterLab, the console script) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"sd-inpaint", "sd", "clipseg"} -> folder``, written once per test session."""
    from paint_widgets.testing import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def mgr(tiny_models: dict[str, Path]):
    """The kernel manager, released and pointed at the tiny models for one test."""
    import paint_widgets

    manager = paint_widgets.manager()
    manager.release()
    manager.budget_bytes = None
    manager.loads = manager.generations = 0  # counters per test
    manager.configure(model=str(tiny_models["sd-inpaint"]), textmask_model=str(tiny_models["clipseg"]),
                      model_config="", lora_dir="")
    yield manager
    manager.release()


@pytest.fixture
def photo() -> np.ndarray:
    """A 96x128 RGB test picture with structure (gradients and a square), not noise."""
    yy, xx = np.mgrid[0:96, 0:128]
    img = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).astype(np.uint8)
    img[30:60, 40:80] = (200, 40, 40)
    return img


@pytest.fixture
def box_mask() -> np.ndarray:
    mask = np.zeros((96, 128), dtype=bool)
    mask[32:64, 48:88] = True
    return mask


@pytest.fixture(scope="module")
def tmgr(tiny_models: dict[str, Path]):
    """A PipelineManager of the module's own with the tiny CLIPSeg (loaded once per module)."""
    from paint_widgets.engine.manager import PipelineManager

    manager = PipelineManager(device="cpu")
    manager.configure(textmask_model=str(tiny_models["clipseg"]))
    yield manager
    manager.release()


@pytest.fixture(scope="module")
def smgr(tiny_models: dict[str, Path]):
    """A PipelineManager of the module's own with the tiny SAM as its click model."""
    from paint_widgets.engine import segment
    from paint_widgets.engine.manager import PipelineManager

    if "sam" not in tiny_models:
        pytest.skip("this transformers has no SamModel")
    manager = PipelineManager(device="cpu")
    manager.configure(segment_model=str(tiny_models["sam"]))
    segment.clear_cache()
    yield manager
    manager.release()


@pytest.fixture(scope="module")
def s3mgr(tiny_models: dict[str, Path]):
    """A PipelineManager of the module's own with the tiny SAM 3 as its text-mask model."""
    from paint_widgets.engine.manager import PipelineManager

    if "sam3" not in tiny_models:
        pytest.skip("this transformers has no Sam3Model")
    manager = PipelineManager(device="cpu")
    manager.configure(textmask_model=str(tiny_models["sam3"]))
    yield manager
    manager.release()
