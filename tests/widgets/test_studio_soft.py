"""The Studio's Soft (--soft) switch: it reaches the request with the painter's soft values."""

from __future__ import annotations

import numpy as np

import paint_widgets as pw
from paint_widgets.requests import InpaintRequest


def soft_studio(mgr, photo, tmp_path) -> pw.Studio:
    studio = pw.Studio(photo, outdir=tmp_path / "out")
    values = np.zeros(photo.shape[:2], np.float32)
    values[32:64, 48:88] = 0.25
    values[40:56, 60:76] = 1.0
    studio.painter.set_soft_mask(values)
    studio.prompt.value = "a red barn"
    studio.steps.value = 4
    return studio


def test_the_soft_switch_is_a_checkbox_in_the_layout_and_off_by_default(mgr, photo, tmp_path) -> None:
    studio = soft_studio(mgr, photo, tmp_path)
    assert studio.soft.description == "Soft (--soft)" and studio.soft.value is False
    from paint_widgets.widgets._params import unplaced

    assert unplaced(studio.param_controls, [studio.params_box]) == []
    request = studio._job()
    assert isinstance(request, InpaintRequest) and request.params.soft is False
    assert request.mask.dtype == bool and np.array_equal(request.mask, studio.painter.mask)


def test_soft_on_sends_the_soft_values_and_the_line_says_soft(mgr, photo, tmp_path) -> None:
    studio = soft_studio(mgr, photo, tmp_path)
    studio.soft.value = True
    request = studio._job()
    assert isinstance(request, InpaintRequest) and request.params.soft is True
    assert request.mask.dtype == np.float32
    assert np.array_equal(request.mask, studio.painter.soft_mask)
    assert studio.generate() is True
    result = studio.wait(timeout=120)
    assert isinstance(result, pw.Result)
    assert "--soft" in result.commands[0]
    assert result.metadata[0]["params"]["soft"] is True
