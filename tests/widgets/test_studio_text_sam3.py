"""The Studio's Text mask tab with SAM 3 as the text-mask model (the tiny random-weight Sam3Model).

Driven as a user drives it: words typed into the tab's text box, instances ticked and
unticked, the threshold slider moved. SAM 3 runs once per prompt; everything after
that is numpy on the instances it found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.engine import textmask


@pytest.fixture
def sam3_studio(tiny_models: dict[str, Path], photo: np.ndarray, tmp_path: Path):
    """A Studio on the kernel manager, whose text-mask model is the tiny SAM 3."""
    if "sam3" not in tiny_models:
        pytest.skip("this transformers has no Sam3Model")
    manager = pw.manager()
    manager.release()
    manager.loads = 0
    manager.configure(model=str(tiny_models["sd-inpaint"]), textmask_model=str(tiny_models["sam3"]))
    studio = pw.Studio(photo, outdir=tmp_path / "out")
    calls: list[int] = []
    net, _ = manager.clipseg()  # the resident SAM 3: every text-conditioned pass is counted
    hook = net.register_forward_hook(lambda *_args: calls.append(1))
    yield studio, calls
    hook.remove()
    studio.close()
    manager.release()
    manager.configure(textmask_model=str(tiny_models["clipseg"]))


def test_words_make_instances_unticking_drops_one_and_the_slider_runs_no_model(sam3_studio) -> None:
    studio, calls = sam3_studio
    studio.tabs.selected_index = 1  # the Text mask tab
    tuner = studio.tuner
    before = textmask.model_calls()
    tuner._text.value = "red square|background"  # typed words (the box sends on Enter)
    tm = tuner.wait()
    assert tm is not None and tm.prompts == ("red square", "background")
    passes = len(calls)  # SAM 3: one vision pass, then one text-conditioned pass per prompt
    assert passes == 2 and textmask.model_calls() - before == 1

    instances = tuner.instances
    assert instances, "SAM 3 found no instance to list"
    boxes = tuner.instances_box.children
    assert tuner.instances_box.layout.display is None
    assert [b.description for b in boxes] == [f"{inst.prompt} #{i + 1}: score {inst.score:.2f}"
                                              for i, inst in enumerate(instances)]
    assert all(b.value for b in boxes)
    assert [inst.score for inst in instances] == sorted((inst.score for inst in instances), reverse=True)

    slider = tuner._slider
    low = 0.01  # below every instance's score (SAM 3 keeps those >= 0.05): every instance is in the mask
    slider.value = low
    everything = np.zeros(tm.shape, bool)
    for inst in instances:
        everything |= inst.mask
    assert np.array_equal(tuner.mask, everything)
    # an instance some of whose pixels no other instance covers: unticking it shows
    index = next((i for i in range(len(instances)) if not np.array_equal(tm.without(i).mask(low), everything)), None)
    if index is None:
        pytest.skip("every instance of the random model is covered by the others")
    boxes[index].value = False
    assert tuner.dropped == {index}
    assert np.array_equal(tuner.mask, tm.without(index).mask(low)) and not np.array_equal(tuner.mask, everything)

    for value in (0.2, 0.5, 0.8, 1.0, low):  # the slider: the mask follows the scores, nothing runs
        slider.value = value
        want = np.zeros(tm.shape, bool)
        for i, inst in enumerate(instances):
            if i != index and inst.score >= value:
                want |= inst.mask
        assert np.array_equal(tuner.mask, want)
    boxes[index].value = True  # ticked again: back in the mask
    assert np.array_equal(tuner.mask, everything)
    assert len(calls) == passes and textmask.model_calls() - before == 1  # no model ran after the words
    assert pw.manager().loads == 1


def test_the_text_tab_mask_goes_to_generation_and_to_the_painter(sam3_studio) -> None:
    studio, calls = sam3_studio
    studio.tabs.selected_index = 1
    tuner = studio.tuner
    tm = tuner.run("red square")
    tuner._slider.value = 0.01
    if not tuner.mask.any():
        pytest.skip("the random model found nothing")
    chosen = tuner.mask.copy()
    studio._text_mask_to_painter()
    assert studio.tabs.selected_index == 0 and np.array_equal(studio.painter.mask, chosen)
    assert len(calls) == 1 and tm.instances  # one prompt: one text-conditioned pass
