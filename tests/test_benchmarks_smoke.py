"""The benchmarks are not tests; this only checks that the CPU part runs and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_cpu_benchmark_runs_and_prints_one_table(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    md = tmp_path / "table.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--cpu-only", "--quick", "--markdown", str(md)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.splitlines()[0].split("|")[0].strip() == "name"
    for expected in ("GPU: skipped", "paste-back", "infill patchmatch 512x512", "mask from alpha",
                     "paint_widgets.inpaint (resident)", "region='crop'", "models loaded"):
        assert expected in out, expected
    assert "(MISSED)" not in [line for line in out.splitlines() if "models loaded" in line][0]
    assert md.read_text().startswith("| name | value | unit | ratio | target |")


def test_gpu_section_skips_with_a_clear_line_without_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the GPU section would run")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rows = gpu.run()
    assert [r.name for r in rows] == ["GPU: skipped (no CUDA device)"]


def test_gpu_configs_are_the_published_full_size_models():
    """Built on the meta device: no memory, no time; parameter counts as published."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    millions = {k: round(v / 1e6, 1) for k, v in gpu.parameter_counts().items()}
    assert millions == {"SD15_UNET": 859.5, "SD15_VAE": 83.7, "SD15_TEXT": 123.1, "SDXL_UNET": 2567.5,
                        "SDXL_TEXT_2": 694.7, "FLUX_TRANSFORMER": 11902.4, "FLUX_T5": 4762.3}


def test_gpu_dry_run_of_the_live_and_sam_rows_runs_end_to_end(tmp_path):
    """#17's live preview and #16's SAM rows: the GPU code on the CPU with scaled-down models."""
    pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    if not (hasattr(transformers, "SamModel") and hasattr(transformers, "Sam3Model")):
        pytest.skip("this transformers has no SamModel / Sam3Model")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--gpu-only", "--gpu-dry-run", "--only", "live", "sam"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for expected in ("DRY RUN", "stroke -> preview Result + crop PNG, fast=False", "fast=True",
                     "fast='compile': not measured", "crop's PNG encode (",
                     "a click's mask after the embedding, pw.segment", "image-encoder runs during the clicks",
                     'pw.text_mask(img, "cat", 0.5)', "trained-model-like", "threshold slide tm.mask(t)",
                     "text-mask model loads"):
        assert expected in out, expected
    assert "failed (" not in out and "out of GPU memory" not in out and "skipped" not in out
    assert "(MISSED)" not in out and "(met)" not in out  # a dry run judges nothing
    for line in out.splitlines():
        if "|" in line and "value" not in line:
            assert line.split("|")[1].strip() not in ("", "-"), line  # every row has a figure


def test_live_and_sam_parts_are_in_the_gpu_section():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu
        import gpu_live
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert {"live", "sam"} <= set(gpu.PARTS)
    pytest.importorskip("peft")
    # the published lcm-lora-sdv1-5 file is 134.6 MB of fp16: 67.3M parameters
    assert round(gpu_live.lora_parameters() / 1e6, 1) == 67.3
    assert isinstance(gpu_live._graphs(), int)
