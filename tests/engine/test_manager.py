"""The kernel-resident manager: load once, share components, budget, release, threads."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import torch

import paint_widgets as pw
from paint_widgets.engine.manager import PipelineManager


def test_manager_is_one_per_kernel_and_survives_reimport(mgr):
    assert pw.manager() is mgr
    importlib.reload(sys.modules["paint_widgets.engine.manager"])
    from paint_widgets.engine.manager import manager as reloaded

    assert reloaded() is mgr


def test_model_is_loaded_once_across_calls_and_tasks(mgr, photo, box_mask):
    for _ in range(3):
        pw.inpaint(photo, box_mask, "x", steps=2, seed=1)
    img2img = mgr.pipeline(task="img2img")
    assert img2img.unet is mgr.pipeline().unet  # components shared, not copied
    status = mgr.status()
    assert status["loads"] == 1
    assert status["generations"] == 3
    assert set(status) >= {"device", "dtype", "loads", "resident"}
    assert status["device"] == "cpu" and status["dtype"] == "float32"
    (name, size), = status["resident"].items()
    assert size > 1_000_000


def test_per_call_model_overrides_the_default(mgr, tiny_models, photo, box_mask):
    pw.inpaint(photo, box_mask, "x", steps=2, seed=1, model=str(tiny_models["sd"]))
    assert str(tiny_models["sd"]) in mgr.status()["resident"]
    assert mgr.status()["loads"] == 1


def test_environment_variable_sets_the_default_model(tiny_models, monkeypatch):
    fresh = PipelineManager()
    monkeypatch.setenv("PAINT_WIDGETS_MODEL", str(tiny_models["sd"]))
    assert fresh.default_model() == str(tiny_models["sd"])
    fresh.configure(model=str(tiny_models["sd-inpaint"]))
    assert fresh.default_model() == str(tiny_models["sd-inpaint"])
    monkeypatch.delenv("PAINT_WIDGETS_MODEL")
    assert PipelineManager().default_model() == "stable-diffusion-v1-5/stable-diffusion-inpainting"  # the name only: no download


def test_budget_evicts_least_recently_used(mgr, tiny_models):
    mgr.pipeline(str(tiny_models["sd-inpaint"]))
    one = mgr.device_bytes()
    mgr.configure(budget_bytes=int(one * 1.5))
    mgr.pipeline(str(tiny_models["sd"]))
    resident = mgr.status()["resident"]
    assert list(resident) == [str(tiny_models["sd"])]
    assert mgr.device_bytes() <= mgr.budget_bytes
    mgr.pipeline(str(tiny_models["sd-inpaint"]))  # evicted on CPU means: read again
    assert mgr.status()["loads"] == 3


def test_release_frees_everything(mgr):
    mgr.pipeline()
    assert mgr.status()["resident"]
    mgr.release()
    assert mgr.status()["resident"] == {} and mgr.device_bytes() == 0
    mgr.pipeline()
    assert mgr.status()["loads"] == 2


def test_device_and_dtype_are_chosen_and_overridable():
    m = PipelineManager()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert m.device.type in (expected, "mps")
    m2 = PipelineManager(device="cpu", dtype="bfloat16")
    assert m2.dtype == torch.bfloat16
    with pytest.raises(pw.InvalidInputError, match="unknown dtype"):
        PipelineManager(device="cpu", dtype="float7")
    if not torch.cuda.is_available():
        with pytest.raises(pw.InvalidInputError, match="no CUDA"):
            PipelineManager(device="cuda")


def test_missing_and_corrupt_models_are_clear_errors_and_keep_the_previous_model(mgr, tmp_path, photo, box_mask):
    pw.inpaint(photo, box_mask, "x", steps=2, seed=1)
    with pytest.raises(pw.ModelLoadError, match="not found"):
        mgr.pipeline(str(tmp_path / "no-such-model"))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "model_index.json").write_text("{ not json")
    with pytest.raises(pw.ModelLoadError, match="cannot load"):
        mgr.pipeline(str(corrupt))
    assert np.asarray(pw.inpaint(photo, box_mask, "x", steps=2, seed=1).image).shape == (96, 128, 3)
    assert mgr.status()["loads"] == 1


def test_pickle_only_checkpoint_is_refused_unless_allowed(mgr, tiny_models, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": {}}, ckpt)
    with pytest.raises(pw.ModelLoadError, match="pickle"):
        mgr.pipeline(str(ckpt))
    # a diffusers folder whose weights are only .bin files
    import shutil

    from paint_widgets.testing import build_tiny_sd

    folder = tmp_path / "bin-only"
    build_tiny_sd(in_channels=9, workdir=tmp_path / "tok").save_pretrained(folder, safe_serialization=False)
    with pytest.raises(pw.ModelLoadError, match="no safetensors"):
        mgr.pipeline(str(folder))
    mgr.configure(allow_pickle=True)
    try:
        assert mgr.pipeline(str(folder)).unet.config.in_channels == 9
    finally:
        mgr.configure(allow_pickle=False)
        shutil.rmtree(folder)
