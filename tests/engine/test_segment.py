"""pw.segment with the tiny random-weight SAM: shapes, caching of the image embedding, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.engine import segment as seg
from paint_widgets.engine.manager import PipelineManager


def test_segment_returns_a_bool_mask_of_the_image_size(smgr: PipelineManager, photo: np.ndarray) -> None:
    mask = pw.segment(photo, points=[(60, 45)], manager=smgr)
    assert mask.dtype == bool and mask.shape == photo.shape[:2]


def test_one_embedding_per_image_and_clicks_reuse_it(smgr: PipelineManager, photo: np.ndarray) -> None:
    seg.clear_cache()
    before = seg.encoder_calls()
    a = pw.segment(photo, points=[(60, 45)], manager=smgr)
    b = pw.segment(photo, points=[(60, 45), (10, 10)], labels=[1, 0], manager=smgr)
    c = pw.segment(photo.copy(), box=(40, 30, 80, 60), manager=smgr)  # same pixels, another array
    assert seg.encoder_calls() - before == 1
    assert a.shape == b.shape == c.shape
    other = photo.copy()
    other[0, 0] = (1, 2, 3)
    pw.segment(other, points=[(5, 5)], manager=smgr)
    assert seg.encoder_calls() - before == 2
    assert smgr.loads == 1


def test_same_prompts_same_mask(smgr: PipelineManager, photo: np.ndarray) -> None:
    a = pw.segment(photo, points=[(20, 70), (90, 20)], labels=[1, 0], manager=smgr)
    b = pw.segment(photo, points=[(20, 70), (90, 20)], labels=[1, 0], manager=smgr)
    assert np.array_equal(a, b)


def test_predict_gives_a_score(smgr: PipelineManager, photo: np.ndarray) -> None:
    emb = seg.embed(photo, manager=smgr)
    mask, score = seg.predict(emb, points=[(60, 45)], labels=[1], box=(40, 30, 80, 60))
    assert mask.shape == (96, 128) and np.isfinite(score)


@pytest.mark.parametrize("kwargs", [
    {},  # no prompt
    {"points": [(1, 2)], "labels": [1, 0]},
    {"points": [(1, 2)], "labels": [2]},
    {"points": [(1,)]},
    {"points": [(float("nan"), 2)]},
    {"box": (1, 2, 3)},
])
def test_bad_prompts_are_refused_before_the_model(kwargs: dict, photo: np.ndarray) -> None:
    manager = PipelineManager(device="cpu")
    with pytest.raises(pw.InvalidInputError):
        pw.segment(photo, manager=manager, **kwargs)
    assert manager.loads == 0


def test_a_folder_that_is_not_sam_is_explained(tiny_models: dict[str, Path], photo: np.ndarray) -> None:
    manager = PipelineManager(device="cpu")
    with pytest.raises(pw.ModelLoadError, match="not a SAM model"):
        pw.segment(photo, points=[(1, 1)], model=str(tiny_models["clipseg"]), manager=manager)


def test_pickle_weights_are_refused(tiny_models: dict[str, Path], tmp_path: Path, photo: np.ndarray) -> None:
    import shutil

    if "sam" not in tiny_models:
        pytest.skip("this transformers has no SamModel")
    folder = tmp_path / "sam"
    shutil.copytree(tiny_models["sam"], folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(pw.ModelLoadError):
        pw.segment(photo, points=[(1, 1)], model=str(folder), manager=PipelineManager(device="cpu"))


def test_segment_model_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    manager = PipelineManager(device="cpu")
    monkeypatch.delenv("PAINT_WIDGETS_SEGMENT_MODEL", raising=False)
    assert manager.default_segment_model() == seg.DEFAULT_SEGMENT_MODEL
    monkeypatch.setenv("PAINT_WIDGETS_SEGMENT_MODEL", "org/some-sam")
    assert manager.default_segment_model() == "org/some-sam"
    manager.configure(segment_model="org/other-sam")
    assert manager.default_segment_model() == manager.status()["segment_model"] == "org/other-sam"
    with pytest.raises(pw.ModelLoadError):
        manager.configure(segment_model="./no/such/folder")
