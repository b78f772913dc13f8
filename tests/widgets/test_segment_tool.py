"""MaskPainter's segment tool with the tiny SAM, driven by simulated frontend events."""

from __future__ import annotations

import numpy as np

from paint_widgets.engine import segment as seg
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.widgets.mask_painter import MaskPainter


def send(painter: MaskPainter, event: str, **content: object) -> None:
    painter.canvas[-1]._handle_frontend_event(None, {"event": event, **content}, [])


def click(painter: MaskPainter, x: float, y: float) -> None:
    send(painter, "mouse_down", x=x, y=y)
    send(painter, "mouse_up", x=x, y=y)


def painter(photo: np.ndarray, smgr: PipelineManager) -> MaskPainter:
    p = MaskPainter(photo, manager=smgr, min_view=0)
    p.tool = "segment"
    return p


def test_clicks_propose_and_embed_once(photo: np.ndarray, smgr: PipelineManager) -> None:
    seg.clear_cache()
    p = painter(photo, smgr)
    before = seg.encoder_calls()
    click(p, 60, 45)
    p.segment_negative = True
    click(p, 5, 5)
    send(p, "key_down", key="Shift", shift_key=True, ctrl_key=False, meta_key=False)
    click(p, 100, 80)
    click(p, 110, 85)  # Shift armed one click only
    assert seg.encoder_calls() - before == 1
    assert [label for *_, label in p.segment_points] == [1, 0, 0, 0]
    p.segment_negative = False
    click(p, 30, 30)
    assert p.segment_points[-1][2] == 1
    assert p.proposal is not None and p.proposal.shape == photo.shape[:2]
    assert not p.mask.any()  # proposing does not paint


def test_drag_draws_a_box(photo: np.ndarray, smgr: PipelineManager) -> None:
    p = painter(photo, smgr)
    send(p, "mouse_down", x=40, y=30)
    send(p, "mouse_move", x=60, y=50)
    send(p, "mouse_up", x=80, y=60)
    assert p.segment_box == (40, 30, 80, 60)
    assert p.segment_points == [] and p.proposal is not None


def test_add_and_subtract_are_undoable_and_brush_still_paints(photo: np.ndarray, smgr: PipelineManager) -> None:
    p = painter(photo, smgr)
    region = np.zeros(photo.shape[:2], bool)
    region[10:50, 20:70] = True
    p._proposal = region.copy()  # a known proposal: the model's is random
    p.add_proposal()
    assert np.array_equal(p.mask, region) and p.proposal is None and p.undo_steps == 1
    p.undo()
    assert not p.mask.any()
    p.redo()
    p.tool = "brush"
    send(p, "mouse_down", x=100, y=80)
    send(p, "mouse_up", x=100, y=80)
    assert p.mask[80, 100] and p.undo_steps == 2
    p._proposal = region.copy()
    p.subtract_proposal()
    assert not p.mask[region].any() and p.mask[80, 100]
    p.close()


def test_add_keeps_soft_values(photo: np.ndarray, smgr: PipelineManager) -> None:
    p = painter(photo, smgr)
    soft = np.zeros(photo.shape[:2], np.float32)
    soft[60:90, 90:120] = 0.5
    p.set_soft_mask(soft)
    region = np.zeros(photo.shape[:2], bool)
    region[0:20, 0:20] = True
    p._proposal = region
    p.add_proposal()
    assert p.soft_mask[0:20, 0:20].min() == 1.0
    assert abs(float(p.soft_mask[70, 100]) - 0.5) < 0.01
    p.undo()
    assert not p.mask[0:20, 0:20].any()


def test_clear_points_and_key_s(photo: np.ndarray, smgr: PipelineManager) -> None:
    p = MaskPainter(photo, manager=smgr, min_view=0)
    send(p, "key_down", key="s", shift_key=False, ctrl_key=False, meta_key=False)
    assert p.tool == "segment"
    p.add_point(60, 45)
    assert p.proposal is not None
    p.clear_proposal()
    assert p.proposal is None and p.segment_points == []
    p.add_point(1, 1, label=3)  # refused (shown in the painter's Output, as every handler's error)
    assert p.segment_points == []


def test_the_segment_buttons_show_with_the_segment_tool_only() -> None:
    painter = MaskPainter(np.zeros((64, 96, 3), np.uint8))
    try:
        assert painter.segment_row.layout.display == "none"
        painter.tool = "segment"
        assert painter.segment_row.layout.display is None
        painter.tool = "eraser"
        assert painter.segment_row.layout.display == "none"
    finally:
        painter.close()
