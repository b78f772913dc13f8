"""SAM 3 text masks with the tiny random-weight Sam3Model: instances, heatmap, threshold semantics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.engine import loading, textmask
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.imaging.text_mask import Instance, TextMask, instance_heatmap


@pytest.fixture(scope="module")
def s3mgr(tiny_models: dict[str, Path]):
    if "sam3" not in tiny_models:
        pytest.skip("this transformers has no Sam3Model")
    manager = PipelineManager(device="cpu")
    manager.configure(textmask_model=str(tiny_models["sam3"]))
    yield manager
    manager.release()


def test_family_is_read_from_the_config(tiny_models: dict[str, Path]) -> None:
    assert loading.textmask_family(tiny_models["clipseg"]) == "clipseg"
    if "sam3" in tiny_models:
        assert loading.textmask_family(tiny_models["sam3"]) == "sam3"


def test_sam3_text_mask_heatmap_is_best_instance_score(s3mgr: PipelineManager, photo: np.ndarray) -> None:
    tm = pw.text_mask(photo, "face|hair", manager=s3mgr)
    assert tm.heatmap.shape == photo.shape[:2] and tm.prompts == ("face", "hair")
    assert all(inst.mask.shape == photo.shape[:2] for inst in tm.instances)
    assert np.allclose(tm.heatmap, instance_heatmap(tm.instances, tm.shape))
    for t in (0.1, 0.3, 0.5):
        union = np.zeros(tm.shape, bool)
        for inst in tm.instances:
            if inst.score >= t:
                union |= inst.mask
        assert np.array_equal(tm.mask(t), union)
    assert [i.score for i in tm.instances] == sorted((i.score for i in tm.instances), reverse=True)


def test_sliding_never_reruns_the_model(s3mgr: PipelineManager, photo: np.ndarray) -> None:
    tm = pw.text_mask(photo, "orange", manager=s3mgr)
    calls = textmask.model_calls()
    for t in np.linspace(0, 1, 11):
        tm.mask(float(t))
    assert textmask.model_calls() == calls and s3mgr.loads == 1


def test_without_drops_an_instance() -> None:
    img = np.zeros((10, 10, 3), np.uint8)
    a, b = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    a[:5], b[3:] = True, True
    inst = (Instance("cat", 0.9, a), Instance("cat", 0.4, b))
    tm = TextMask(img, instance_heatmap(inst, (10, 10)), "cat", 0.3, instances=inst)
    assert tm.mask(0.3).all() and tm.mask(0.5).sum() == 50
    dropped = tm.without(0)
    assert len(dropped.instances) == 1 and dropped.mask(0.3).sum() == 70 and not dropped.mask(0.3)[:3].any()
    with pytest.raises(pw.InvalidInputError):
        tm.without(5)
