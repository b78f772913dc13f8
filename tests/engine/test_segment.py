"""pw.segment with the tiny random-weight SAM, SAM 2 and SAM 3 tracker: masks, the cached embedding, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import paint_widgets as pw
from paint_widgets.engine import sam_decoder
from paint_widgets.engine import segment as seg
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.engine.sam_inputs import TrackerInputs


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


# --------------------------------------------------------------------------- the fast decoder


CLICKS = [
    {"points": [(60, 45)]},
    {"points": [(20, 70)]},
    {"points": [(20, 70), (90, 20)], "labels": [1, 0]},
    {"box": (40, 30, 80, 60)},
    {"points": [(60, 45)], "labels": [1], "box": (40, 30, 80, 60)},
    {"points": [(5, 5), (120, 90), (64, 48)], "labels": [0, 0, 1]},
]


@pytest.mark.parametrize("clicks", CLICKS)
def test_the_fast_decoder_gives_transformers_masks(smgr: PipelineManager, photo: np.ndarray, clicks: dict) -> None:
    emb = seg.embed(photo, manager=smgr)
    assert emb.decoder is not None  # SAM takes the fast path
    stock, stock_score = seg.predict(emb, fast=False, **clicks)
    fast, fast_score = seg.predict(emb, **clicks)
    assert np.array_equal(fast, stock)
    assert fast_score == pytest.approx(stock_score, abs=1e-5)
    ref, _ = seg.low_res_logits(emb, fast=False, **clicks)
    got, _ = seg.low_res_logits(emb, **clicks)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("size", [(96, 128), (256, 256), (300, 200)])
def test_upscaling_is_the_processors(smgr: PipelineManager, size: tuple[int, int]) -> None:
    _, processor = smgr.segment()
    logits = torch.randn(1, 1, 64, 64)
    longest = max(size)
    reshaped = (round(size[0] * 256 / longest), round(size[1] * 256 / longest))
    want = processor.post_process_masks([logits.clone()], torch.tensor([list(size)]), torch.tensor([list(reshaped)]))
    assert np.array_equal(seg.upscale_mask(logits, processor, size, reshaped), want[0][0, 0].numpy())


# --------------------------------------------------------------------------- SAM 2 and SAM 3 tracker


@pytest.fixture(scope="module", params=["sam2", "sam3-tracker"])
def tracker(request: pytest.FixtureRequest, tiny_models: dict[str, Path]):
    """A manager whose click model is the tiny SAM 2 or SAM 3 tracker."""
    if request.param not in tiny_models:
        pytest.skip(f"this transformers cannot build {request.param}")
    manager = PipelineManager(device="cpu")
    manager.configure(segment_model=str(tiny_models[request.param]))
    seg.clear_cache()
    yield request.param, manager
    manager.release()


def test_tracker_models_are_picked_from_the_checkpoint(tracker: tuple[str, PipelineManager]) -> None:
    name, manager = tracker
    net, processor = manager.segment()
    assert type(net).__name__ == {"sam2": "Sam2Model", "sam3-tracker": "Sam3TrackerModel"}[name]
    assert isinstance(processor, TrackerInputs)
    assert not sam_decoder.supports(net)  # transformers' own forward


def test_tracker_clicks_embed_once_and_match_a_full_forward(tracker: tuple[str, PipelineManager],
                                                           photo: np.ndarray) -> None:
    _, manager = tracker
    seg.clear_cache()
    before = seg.encoder_calls()
    masks = [pw.segment(photo, manager=manager, **clicks) for clicks in CLICKS]
    assert seg.encoder_calls() - before == 1 and manager.loads == 1
    assert all(m.dtype == bool and m.shape == photo.shape[:2] for m in masks)
    net, processor = manager.segment()
    for clicks, mask in zip(CLICKS, masks, strict=True):  # the cached embedding = running the whole model
        pts, labs, box = seg._check_prompts(clicks.get("points"), clicks.get("labels"), clicks.get("box"))
        prompts = processor.prompts(pts, labs, box, photo.shape[:2])
        with torch.inference_mode():
            out = net(pixel_values=processor.pixel_values(photo), multimask_output=len(pts) == 1 and box is None,
                      **prompts)
        best = int(torch.argmax(out.iou_scores[0, 0]))
        want = processor.post_process_masks([out.pred_masks[0, :1, best:best + 1]], [photo.shape[:2]])[0]
        assert np.array_equal(mask, want[0, 0].numpy())
    other = photo.copy()
    other[0, 0] = (9, 9, 9)
    pw.segment(other, points=[(5, 5)], manager=manager)
    assert seg.encoder_calls() - before == 2


def test_tracker_prompts_are_scaled_to_the_model_size(tracker: tuple[str, PipelineManager]) -> None:
    _, manager = tracker
    _, processor = manager.segment()
    side = processor.target_size
    got = processor.prompts([(64.0, 48.0)], [0], (0.0, 0.0, 128.0, 96.0), (96, 128))
    assert got["input_points"].tolist() == [[[[side / 2, side / 2]]]]
    assert got["input_labels"].tolist() == [[[0]]]
    assert got["input_boxes"].tolist() == [[[0.0, 0.0, side, side]]]


def test_the_painters_segment_tool_runs_on_a_tracker(tracker: tuple[str, PipelineManager], photo: np.ndarray) -> None:
    from paint_widgets.widgets.mask_painter import MaskPainter

    _, manager = tracker
    seg.clear_cache()
    painter = MaskPainter(photo, manager=manager, min_view=0)
    try:
        painter.tool = "segment"
        before = seg.encoder_calls()
        for x, y in ((60, 45), (20, 70)):
            painter.canvas[-1]._handle_frontend_event(None, {"event": "mouse_down", "x": x, "y": y}, [])
            painter.canvas[-1]._handle_frontend_event(None, {"event": "mouse_up", "x": x, "y": y}, [])
        assert seg.encoder_calls() - before == 1
        want = pw.segment(photo, points=[(60, 45), (20, 70)], labels=[1, 1], manager=manager)
        assert painter.proposal is not None and np.array_equal(painter.proposal, want)
    finally:
        painter.close()


def test_a_sam3_text_model_is_refused_for_clicks(tiny_models: dict[str, Path], photo: np.ndarray) -> None:
    if "sam3" not in tiny_models:
        pytest.skip("this transformers has no Sam3Model")
    manager = PipelineManager(device="cpu")  # its weights lack the tracker's: no random masks
    with pytest.raises(pw.ModelLoadError, match="lacks .* weights"):
        pw.segment(photo, points=[(1, 1)], model=str(tiny_models["sam3"]), manager=manager)
