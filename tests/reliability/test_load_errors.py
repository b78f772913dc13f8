"""Model-load errors say what is actually wrong, on one line, and never break the manager.

Each row copies a tiny model (``tiny_models``) to a temporary folder and breaks it the way
real downloads and copies break: a component folder gone, a weights file cut short or
replaced by text (a Git LFS pointer), a tensor removed or of another shape, a config that
is not JSON, a pipeline or component class the libraries do not have, an empty folder.
The load must fail with a one-line :class:`ModelLoadError` naming the file and the fault,
the manager must keep the model it had (no reload, ``loads`` unchanged), and the Studio
must switch to its infill engine with the message in its status line.

Device rows: ``PipelineManager(device=...)`` and ``configure(device=..., dtype=...)`` take
only devices this machine has and dtypes they run, refusing anything else at once.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import box_mask, photo
from safetensors.torch import load_file, save_file

import paint_widgets as pw
from paint_widgets.engine.loading import read_safetensors_header
from paint_widgets.engine.manager import PipelineManager

UNET = "unet/diffusion_pytorch_model.safetensors"
VAE = "vae/diffusion_pytorch_model.safetensors"
TEXT_ENCODER = "text_encoder/model.safetensors"
CLIPSEG = "model.safetensors"


# =========================================================================== breaking models


def _copy(tiny_models: dict[str, Path], root: Path, model: str, name: str) -> Path:
    folder = root / name
    shutil.copytree(tiny_models[model], folder)
    return folder


def _truncate(path: Path) -> tuple[int, int]:
    """Cut ``path`` to half its size; ``(new size, size its header describes)``."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return len(data) // 2, len(data)


def _drop_tensor(path: Path, key: str) -> None:
    tensors = load_file(path)
    del tensors[key]
    save_file(tensors, path, metadata={"format": "pt"})


def _reshape_tensor(path: Path, key: str, shape: tuple[int, ...]) -> None:
    tensors = load_file(path)
    tensors[key] = torch.zeros(shape, dtype=tensors[key].dtype)
    save_file(tensors, path, metadata={"format": "pt"})


def _edit_index(folder: Path, **changes: object) -> None:
    index = json.loads((folder / "model_index.json").read_text())
    index.update(changes)
    (folder / "model_index.json").write_text(json.dumps(index))


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text and text == text.strip(), f"not one line: {text!r}"
    return text


# Each row: (model to copy, breaker(folder) -> regex the message must match in full).
Breaker = Callable[[Path], str]


def _no_text_encoder(folder: Path) -> str:
    shutil.rmtree(folder / "text_encoder")
    return (rf"cannot load model {re.escape(str(folder))}: the folder has no text_encoder/ "
            r"\(the transformers CLIPTextModel that model_index.json lists\); download the model again")


def _truncated_unet(folder: Path) -> str:
    size, whole = _truncate(folder / UNET)
    return rf"cannot load model .*: {UNET} is truncated: {size:,} bytes, but its header describes {whole:,} .*download it again"


def _truncated_header(folder: Path) -> str:
    (folder / VAE).write_bytes((folder / VAE).read_bytes()[:100])
    return rf"cannot load model .*: {VAE} is truncated: 100 bytes, but its header alone takes [\d,]+; download it again"


def _vae_missing_tensor(folder: Path) -> str:
    _drop_tensor(folder / VAE, "decoder.conv_norm_out.weight")
    return rf"cannot load model .*: {VAE} lacks 1 tensor the model needs \(decoder\.conv_norm_out\.weight\); download it again"


def _text_encoder_missing_tensors(folder: Path) -> str:
    keys = sorted(read_safetensors_header(folder / TEXT_ENCODER))
    for suffix in ("encoder.layers.0.layer_norm2.bias", "final_layer_norm.weight"):  # with or without text_model.
        _drop_tensor(folder / TEXT_ENCODER, next(k for k in keys if k.endswith(suffix)))
    return (rf"cannot load model .*: {TEXT_ENCODER} lacks 2 tensors the model needs "
            r"\(.*encoder\.layers\.0\.layer_norm2\.bias.*final_layer_norm\.weight.*\); download it again")


def _vae_wrong_shape(folder: Path) -> str:
    key = "decoder.conv_in.weight"
    expected = list(read_safetensors_header(folder / VAE)[key]["shape"])
    found = [expected[0] + 1, *expected[1:]]
    _reshape_tensor(folder / VAE, key, tuple(found))
    return (rf"cannot load model .*: tensor {re.escape(key)} in {VAE} has shape {re.escape(str(found))}, "
            rf"but vae/config\.json expects {re.escape(str(expected))}; .*download the model again")


def _unet_bad_config(folder: Path) -> str:
    (folder / "unet" / "config.json").write_text('{"in_channels": 9,')
    return r"cannot load model .*: unet/config\.json is not valid JSON \(line 1 column \d+: .*\); download it again or fix it"


def _bad_index(folder: Path) -> str:
    (folder / "model_index.json").write_text("{ not json")
    return r"cannot load model .*: model_index\.json is not valid JSON \(line 1 column 3: .*\)"


def _unknown_pipeline(folder: Path) -> str:
    _edit_index(folder, _class_name="NoSuchInpaintPipeline")
    return (r"cannot load model .*: model_index\.json names the pipeline class 'NoSuchInpaintPipeline', "
            r"which diffusers [\d.]+\S* does not have; .*")


def _unknown_component(folder: Path) -> str:
    _edit_index(folder, text_encoder=["transformers", "NoSuchTextModel"])
    return r"cannot load model .*: model_index\.json lists text_encoder as transformers\.NoSuchTextModel, which transformers .* does not have"


def _empty(folder: Path) -> str:
    shutil.rmtree(folder)
    folder.mkdir()
    return r"cannot load model .*: the folder is empty; .*model_index\.json"


def _text_weights(folder: Path) -> str:
    (folder / VAE).write_text("these are not the weights you are looking for\n")
    return rf"cannot load model .*: {VAE} is not a safetensors file: it is text \('these are not.*'\); download it again"


def _lfs_pointer(folder: Path) -> str:
    (folder / UNET).write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 3970696\n")
    return rf"cannot load model .*: {UNET} is not a safetensors file: it is a Git LFS pointer, .*git lfs pull"


def _no_weights(folder: Path) -> str:
    (folder / UNET).unlink()
    return r"cannot load model .*: unet/ has no weights file \(diffusion_pytorch_model\.safetensors\); download the model again"


def _no_scheduler_config(folder: Path) -> str:
    (folder / "scheduler" / "scheduler_config.json").unlink()
    return r"cannot load model .*: scheduler/ has no scheduler_config\.json; download the model again"


def _no_index(folder: Path) -> str:
    (folder / "model_index.json").unlink()
    return r"cannot load model .*: the folder has no model_index\.json, so it is not a diffusers model folder"


def _missing_shard(folder: Path) -> str:
    index = {"metadata": {}, "weight_map": {"conv_in.weight": "diffusion_pytorch_model-00002-of-00002.safetensors"}}
    (folder / "unet" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    return (r"cannot load model .*: unet/diffusion_pytorch_model\.safetensors\.index\.json lists the shard "
            r"diffusion_pytorch_model-00002-of-00002\.safetensors, which is missing")


DIFFUSION: dict[str, Breaker] = {
    "text_encoder/ deleted": _no_text_encoder,
    "unet weights truncated": _truncated_unet,
    "vae weights cut inside the header": _truncated_header,
    "vae missing one tensor": _vae_missing_tensor,
    "text encoder missing two tensors": _text_encoder_missing_tensors,
    "vae tensor of another shape": _vae_wrong_shape,
    "unet config not JSON": _unet_bad_config,
    "model_index.json not JSON": _bad_index,
    "unknown pipeline class": _unknown_pipeline,
    "unknown component class": _unknown_component,
    "empty folder": _empty,
    "weights file that is text": _text_weights,
    "weights file that is a git-lfs pointer": _lfs_pointer,
    "unet weights deleted": _no_weights,
    "scheduler config deleted": _no_scheduler_config,
    "model_index.json deleted": _no_index,
    "index naming a missing shard": _missing_shard,
}


def _clip_no_config(folder: Path) -> str:
    (folder / "config.json").unlink()
    return r"cannot load model .*: the folder has no config\.json, so it is not a transformers model folder"


def _clip_truncated(folder: Path) -> str:
    size, whole = _truncate(folder / CLIPSEG)
    return rf"cannot load model .*: {CLIPSEG} is truncated: {size:,} bytes, but its header describes {whole:,} .*download it again"


def _clip_missing_tensor(folder: Path) -> str:
    _drop_tensor(folder / CLIPSEG, "decoder.transposed_convolution.weight")
    return (rf"cannot load model .*: {CLIPSEG} lacks 1 tensor the model needs "
            r"\(decoder\.transposed_convolution\.weight\); download it again")


def _clip_wrong_shape(folder: Path) -> str:
    key = "clip.text_model.encoder.layers.0.layer_norm2.bias"
    expected = list(read_safetensors_header(folder / CLIPSEG)[key]["shape"])
    found = [n + 1 for n in expected]
    _reshape_tensor(folder / CLIPSEG, key, tuple(found))
    return (rf"cannot load model .*: tensor {re.escape(key)} in {CLIPSEG} has shape {re.escape(str(found))}, "
            rf"but config\.json expects {re.escape(str(expected))}; .*")


def _clip_bad_config(folder: Path) -> str:
    (folder / "config.json").write_text("{oops")
    return r"cannot load model .*: config\.json is not valid JSON \(line 1 column 2: .*\)"


def _clip_text_weights(folder: Path) -> str:
    (folder / CLIPSEG).write_text("hello")
    return rf"cannot load model .*: {CLIPSEG} is not a safetensors file: it is text \('hello'\)"


def _clip_empty(folder: Path) -> str:
    shutil.rmtree(folder)
    folder.mkdir()
    return r"cannot load model .*: the folder is empty; .*config\.json"


def _clip_no_tokenizer(folder: Path) -> str:
    (folder / "tokenizer.json").unlink()
    return r"cannot load model .*: the folder has no tokenizer \(tokenizer\.json, or vocab\.json and merges\.txt\)"


TEXTMASK: dict[str, Breaker] = {
    "config.json deleted": _clip_no_config,
    "weights truncated": _clip_truncated,
    "missing one tensor": _clip_missing_tensor,
    "tensor of another shape": _clip_wrong_shape,
    "config not JSON": _clip_bad_config,
    "weights file that is text": _clip_text_weights,
    "empty folder": _clip_empty,
    "tokenizer deleted": _clip_no_tokenizer,
}


@pytest.fixture(scope="module")
def broken(tiny_models, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """``{row: (broken folder, regex of its message)}`` for every row of both tables."""
    root = tmp_path_factory.mktemp("broken-models")
    out: dict[str, tuple[Path, str]] = {}
    for table, model in ((DIFFUSION, "sd-inpaint"), (TEXTMASK, "clipseg")):
        for name, breaker in table.items():
            folder = _copy(tiny_models, root, model, re.sub(r"\W+", "-", f"{model} {name}"))
            out[f"{model}: {name}"] = (folder, breaker(folder))
    return out


@pytest.fixture(scope="module")
def loaded(tiny_models):
    """A manager of its own holding the good inpainting and CLIPSeg models."""
    manager = PipelineManager(device="cpu")
    manager.configure(model=str(tiny_models["sd-inpaint"]), textmask_model=str(tiny_models["clipseg"]))
    manager.pipeline()
    manager.clipseg()
    yield manager
    manager.release()


def _assert_failure_is_clear_and_harmless(manager: PipelineManager, load: Callable[[], object],
                                          pattern: str) -> str:
    pipe, clip = manager.pipeline(), manager.clipseg()
    before = (manager.loads, dict(manager.status()["resident"]))
    with pytest.raises(pw.ModelLoadError) as caught:
        load()
    text = _one_line(caught.value)
    assert re.match(pattern, text), f"{text!r} does not match {pattern!r}"
    assert (manager.loads, dict(manager.status()["resident"])) == before
    assert manager.pipeline() is pipe and manager.clipseg() is clip and manager.loads == before[0]
    assert not manager.busy
    return text


@pytest.mark.parametrize("name", DIFFUSION)
def test_a_broken_diffusion_model_says_what_is_wrong_and_keeps_the_previous_model(loaded, broken, name):
    folder, pattern = broken[f"sd-inpaint: {name}"]
    _assert_failure_is_clear_and_harmless(loaded, lambda: loaded.pipeline(str(folder)), pattern)


@pytest.mark.parametrize("name", TEXTMASK)
def test_a_broken_clipseg_model_says_what_is_wrong_and_keeps_the_previous_model(loaded, broken, name):
    folder, pattern = broken[f"clipseg: {name}"]
    _assert_failure_is_clear_and_harmless(loaded, lambda: loaded.clipseg(str(folder)), pattern)


def test_a_single_safetensors_file_is_checked_before_it_loads(loaded, tmp_path):
    text = tmp_path / "model.safetensors"
    text.write_text("<!DOCTYPE html><html>Rate limited</html>")
    _assert_failure_is_clear_and_harmless(
        loaded, lambda: loaded.pipeline(str(text)),
        r"cannot load model .*model\.safetensors: model\.safetensors is not a safetensors file: it is a web page.*")
    cut = tmp_path / "cut.safetensors"
    whole = (Path(loaded.default_model()) / UNET).read_bytes()
    cut.write_bytes(whole[: len(whole) - 10])
    _assert_failure_is_clear_and_harmless(
        loaded, lambda: loaded.pipeline(str(cut)),
        rf"cannot load model .*cut\.safetensors: cut\.safetensors is truncated: {len(whole) - 10:,} bytes, "
        rf"but its header describes {len(whole):,} .*")


def test_a_model_folder_named_a_clipseg_folder_says_it_is_not_a_diffusers_folder(loaded, tiny_models):
    _assert_failure_is_clear_and_harmless(
        loaded, lambda: loaded.pipeline(str(tiny_models["clipseg"])),
        r"cannot load model .*: the folder has no model_index\.json, so it is not a diffusers model folder")


def test_pickle_only_components_are_still_refused_by_name(loaded, tiny_models, tmp_path):
    folder = _copy(tiny_models, tmp_path, "sd-inpaint", "vae-bin")
    (folder / VAE).unlink()
    (folder / "vae" / "diffusion_pytorch_model.bin").write_bytes(b"pickle" * 100)  # never opened
    _assert_failure_is_clear_and_harmless(
        loaded, lambda: loaded.pipeline(str(folder)),
        r".*vae-bin has no safetensors weights in vae/, only pickle files \(diffusion_pytorch_model\.bin\) "
        r"that can run code when loaded; .*allow_pickle=True if you trust its source")


# Errors of every class a library can raise while loading, raised where it loads.
LIBRARY_ERRORS = {
    "KeyError": KeyError("sample_size"),
    "AttributeError": AttributeError("'NoneType' object has no attribute 'config'"),
    "ImportError": ImportError("cannot import name 'Foo' from 'diffusers'"),
    "NotImplementedError": NotImplementedError("Cannot copy out of meta tensor; no data!"),
    "TypeError": TypeError("__init__() got an unexpected keyword argument 'x'"),
    "AssertionError": AssertionError(),
}


def _raiser(error: BaseException):
    def raise_it(*args, **kwargs):
        raise error

    return classmethod(raise_it)


@pytest.mark.parametrize("name", LIBRARY_ERRORS)
def test_any_library_error_while_loading_is_a_one_line_model_load_error(loaded, tiny_models, tmp_path,
                                                                       monkeypatch, name):
    import diffusers
    import transformers

    for cls in (diffusers.DiffusionPipeline, diffusers.AutoPipelineForInpainting,
                transformers.CLIPSegForImageSegmentation):
        monkeypatch.setattr(cls, "from_pretrained", _raiser(LIBRARY_ERRORS[name]))
    sd = _copy(tiny_models, tmp_path, "sd-inpaint", "sd")  # a copy: the good one is loaded already
    clip = _copy(tiny_models, tmp_path, "clipseg", "clip")
    for load in (lambda: loaded.pipeline(str(sd)), lambda: loaded.clipseg(str(clip))):
        text = _assert_failure_is_clear_and_harmless(loaded, load, r"cannot load model .*")
        if name == "NotImplementedError":
            assert "tensors the model needs are missing" in text
        elif name in ("KeyError", "AttributeError", "ImportError", "AssertionError"):
            assert f": {name}" in text


# =========================================================================== the Studio

# One row per class of fault: the folder's structure, a file's integrity, the tensors,
# the configs, the classes they name.
STUDIO_ROWS = ["text_encoder/ deleted", "unet weights truncated", "vae missing one tensor",
               "vae tensor of another shape", "unet config not JSON", "unknown pipeline class",
               "empty folder", "weights file that is a git-lfs pointer"]


@pytest.mark.parametrize("name", STUDIO_ROWS)
def test_the_studio_offers_its_infill_engine_for_every_class_of_broken_model(loaded, broken, tmp_path, name):
    folder, pattern = broken[f"sd-inpaint: {name}"]
    image = photo()
    studio = pw.Studio(image, model=str(folder), mgr=loaded, outdir=tmp_path / "out")
    try:
        studio.painter.set_mask(box_mask())
        studio.steps.value = 2
        loads = loaded.loads
        assert studio.engine.value == "diffusion"
        assert studio.generate()
        assert studio.wait(120) is None
        assert studio.engine.value == "infill"
        with pytest.raises(pw.ModelLoadError) as caught:
            loaded.pipeline(str(folder))
        message = str(caught.value)
        assert re.match(pattern, message)
        shown = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert shown in studio.status.value and "infill engine" in studio.status.value
        assert loaded.loads == loads
        assert studio.generate()  # the infill engine needs no weights: the object goes
        result = studio.wait(120)
        assert result is not None and np.asarray(result.images[0]).shape[:2] == image.shape[:2]
    finally:
        studio.close()


# =========================================================================== devices and dtypes


def _cuda_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _mps() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


REFUSED_DEVICES = ["meta", "xla", "vulkan", "banana", "", "cpu:1", f"cuda:{_cuda_count()}", "cuda:-1"]
if not _cuda_count():
    REFUSED_DEVICES.append("cuda")
if not _mps():
    REFUSED_DEVICES.append("mps")


@pytest.mark.parametrize("device", REFUSED_DEVICES)
def test_configure_refuses_a_device_this_machine_does_not_have_and_changes_nothing(loaded, tiny_models, device):
    pipe, previous = loaded.pipeline(), loaded.default_model()
    settings = (loaded.device, loaded.dtype, loaded.loads, dict(loaded.status()["resident"]))
    with pytest.raises(pw.InvalidInputError) as caught:
        loaded.configure(device=device, model=str(tiny_models["sd"]))
    text = _one_line(caught.value)
    assert repr(device) in text and "use one of 'cpu'" in text
    assert (loaded.device, loaded.dtype, loaded.loads, dict(loaded.status()["resident"])) == settings
    assert loaded.default_model() == previous and loaded.pipeline() is pipe


@pytest.mark.parametrize("device", REFUSED_DEVICES + [3.5, True, object()])
def test_the_constructor_refuses_a_device_this_machine_does_not_have(device):
    with pytest.raises(pw.InvalidInputError) as caught:
        PipelineManager(device=device)
    assert "use one of 'cpu'" in _one_line(caught.value)


def test_the_cuda_message_says_how_many_gpus_there_are():
    count = _cuda_count()
    with pytest.raises(pw.InvalidInputError) as caught:
        PipelineManager(device=f"cuda:{count}")
    text = _one_line(caught.value)
    assert ("no CUDA GPU is available" if count == 0 else f"this machine has {count} CUDA GPU") in text


@pytest.mark.parametrize("dtype", ["float64", "int8", "float8", "double", torch.float64, torch.int32,
                                   torch.complex64, 16])
def test_configure_refuses_a_dtype_the_device_does_not_run(loaded, dtype):
    pipe = loaded.pipeline()
    settings = (loaded.device, loaded.dtype, loaded.loads)
    with pytest.raises(pw.InvalidInputError) as caught:
        loaded.configure(dtype=dtype)
    text = _one_line(caught.value)
    assert "use one of 'float32', 'float16', 'bfloat16'" in text
    assert re.search(r"unknown dtype|is not supported on cpu", text)
    assert (loaded.device, loaded.dtype, loaded.loads) == settings and loaded.pipeline() is pipe
    with pytest.raises(pw.InvalidInputError):
        PipelineManager(device="cpu", dtype=dtype)


@pytest.mark.parametrize(("dtype", "expected"), [("float32", torch.float32), ("fp16", torch.float16),
                                                 ("bf16", torch.bfloat16), ("torch.bfloat16", torch.bfloat16),
                                                 (torch.float16, torch.float16)])
def test_the_dtypes_cpu_runs_are_accepted(dtype, expected):
    manager = PipelineManager(device="cpu")
    manager.configure(dtype=dtype)
    assert manager.device == torch.device("cpu") and manager.dtype == expected
    assert PipelineManager(device=torch.device("cpu"), dtype=dtype).dtype == expected


def test_cpu_and_the_devices_this_machine_has_are_accepted():
    from paint_widgets.engine.devices import available_devices

    names = available_devices()
    assert names[0] == "cpu" and ("cuda" in names) == (_cuda_count() > 0) and ("mps" in names) == _mps()
    for name in names:
        manager = PipelineManager(device=name)
        assert manager.device.type == name.split(":")[0]
        assert manager.dtype == (torch.float32 if name == "cpu" else torch.float16)
    assert PipelineManager(device="cpu:0").device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_cuda_devices_in_range_and_their_dtypes_are_accepted(tiny_models):
    from paint_widgets.engine.devices import supported_dtypes

    count = torch.cuda.device_count()
    for index in range(count):
        assert PipelineManager(device=f"cuda:{index}").device == torch.device(f"cuda:{index}")
    manager = PipelineManager(device="cpu")
    manager.configure(model=str(tiny_models["sd-inpaint"]))
    manager.configure(device="cuda:0", dtype="float16")
    assert manager.device == torch.device("cuda:0") and manager.dtype == torch.float16
    bf16 = torch.cuda.get_device_capability(0) >= (8, 0)
    assert (torch.bfloat16 in supported_dtypes(torch.device("cuda:0"))) == bf16
    if bf16:
        manager.configure(dtype="bfloat16")
        assert manager.dtype == torch.bfloat16
    with pytest.raises(pw.InvalidInputError, match=rf"'cuda:{count}' does not exist"):
        manager.configure(device=f"cuda:{count}")
    with pytest.raises(pw.InvalidInputError, match="'meta'"):
        manager.configure(device="meta")
    assert manager.device == torch.device("cuda:0")
    image = photo()
    result = pw.inpaint(image, box_mask(), "x", steps=2, seed=1, mgr=manager)
    assert np.asarray(result.image).shape == image.shape
    assert next(manager.pipeline().unet.parameters()).device.type == "cuda"
    manager.release()
