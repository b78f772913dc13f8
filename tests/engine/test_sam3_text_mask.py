"""SAM 3 text masks with the tiny random-weight Sam3Model: instances, heatmap, threshold semantics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.engine import loading, textmask
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.imaging.text_mask import Instance, TextMask, instance_heatmap


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


def test_the_tuner_lists_the_instances_and_dropping_one_needs_no_model_run() -> None:
    from paint_widgets.widgets.text_mask_tuner import TextMaskTuner

    img = np.zeros((40, 60, 3), np.uint8)
    a, b = np.zeros((40, 60), bool), np.zeros((40, 60), bool)
    a[:20, :30], b[10:, 25:] = True, True
    inst = (Instance("orange", 0.9, a), Instance("orange", 0.6, b))
    tuner = TextMaskTuner(TextMask(img, instance_heatmap(inst, (40, 60)), "orange", 0.5, instances=inst))
    try:
        boxes = tuner.instances_box.children
        assert [box.description for box in boxes] == ["orange #1: score 0.90", "orange #2: score 0.60"]
        assert tuner.instances_box.layout.display is None
        assert np.array_equal(tuner.mask, a | b)
        calls = textmask.model_calls()
        boxes[1].value = False  # untick: the second orange is not in the mask
        assert tuner.dropped == {1} and np.array_equal(tuner.mask, a)
        tuner.threshold = 0.95  # the slider still means the score: nothing scores 0.95
        assert not tuner.mask.any()
        tuner.threshold = 0.5
        tuner.drop_instance(1, dropped=False)  # from code: take it back, the checkbox follows
        assert boxes[1].value and np.array_equal(tuner.mask, a | b)
        assert textmask.model_calls() == calls
        with pytest.raises(pw.InvalidInputError, match="out of range"):
            tuner.drop_instance(5)
    finally:
        tuner.close()


def test_a_clipseg_tuner_shows_no_instance_list() -> None:
    from paint_widgets.widgets.text_mask_tuner import TextMaskTuner

    img = np.zeros((40, 60, 3), np.uint8)
    tuner = TextMaskTuner(TextMask(img, np.linspace(0, 1, 2400, dtype=np.float32).reshape(40, 60), "x", 0.5))
    try:
        assert tuner.instances == () and tuner.instances_box.layout.display == "none"
        with pytest.raises(pw.InvalidInputError, match="no SAM 3 instances"):
            tuner.drop_instance(0)
    finally:
        tuner.close()


def test_threshold_zero_selects_the_instances_only() -> None:
    img = np.zeros((10, 10, 3), np.uint8)
    a = np.zeros((10, 10), bool)
    a[:5] = True
    inst = (Instance("cat", 0.9, a),)
    tm = TextMask(img, instance_heatmap(inst, (10, 10)), "cat", 0.5, instances=inst)
    assert np.array_equal(tm.mask(0.0), a)
