"""Safety: safetensors only by default, no remote code, outputs stay in the output folder,
untrusted PNG metadata is size-limited and never evaluated."""

from __future__ import annotations

import ast
import json
import pickle
import re
import shutil
import uuid
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from reliability_helpers import (
    box_mask,
    files_under,
    mask_file,
    photo,
    png_claiming_size,
    quiet_runner,
)

import paint_widgets as pw
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.io import (
    MAX_METADATA_CHARS,
    METADATA_KEY,
    check_inside,
    read_metadata,
    read_png_text,
    safe_name,
)

PACKAGE = Path(pw.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


# =========================================================================== the source


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """``(dotted name, node)`` of every call, e.g. ``("torch.load", node)``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            # ``x.eval()`` on an expression is a method (torch's Module.eval), not the builtin
            parts.append(func.id if isinstance(func, ast.Name) else "<expr>")
            out.append((".".join(reversed(parts)), node))
    return out


def test_the_package_has_sources_to_check():
    names = {p.name for p in SOURCES}
    assert {"loading.py", "manager.py", "io.py", "parser.py"} <= names and len(SOURCES) > 20


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_remote_code_and_no_code_from_data(path):
    """``trust_remote_code`` is never set (not as a keyword, not in a kwargs dict, not even
    ``=False``: nothing to flip), no custom pipelines; nothing evaluates or unpickles data."""
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"trust_remote_code\s*[=:]", text)
    tree = ast.parse(text, filename=str(path))
    for name, call in _calls(tree):
        keywords = {k.arg for k in call.keywords}
        assert "trust_remote_code" not in keywords, f"{path.name}:{call.lineno}"
        assert "custom_pipeline" not in keywords, f"{path.name}:{call.lineno}"
        assert name not in {"eval", "exec", "compile", "pickle.load", "pickle.loads", "torch.load",
                            "marshal.loads", "yaml.load", "yaml.unsafe_load", "dill.load", "__import__"}, \
            f"{name} at {path.name}:{call.lineno}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            assert "trust_remote_code" not in keys and "custom_pipeline" not in keys


def test_models_are_read_only_in_loading_py():
    """One place reads weights, so the safetensors rule cannot be bypassed elsewhere."""
    readers = []
    for path in SOURCES:
        if "testing" in path.relative_to(PACKAGE).parts:
            continue  # builds the tiny test models
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, call in _calls(tree):
            if name.endswith((".from_pretrained", ".from_single_file", ".load_state_dict")):
                readers.append((path.name, name, call.lineno))
    assert readers and {file for file, _, _ in readers} == {"loading.py"}, readers


# =========================================================================== loading, observed


@pytest.fixture
def spies(monkeypatch):
    """Records the keyword arguments of every top-level from_pretrained the package makes."""
    import diffusers
    import transformers

    calls: dict[str, list[dict]] = {}
    for owner, cls in ((diffusers, "AutoPipelineForInpainting"), (diffusers, "StableDiffusionInpaintPipeline"),
                       (transformers, "CLIPSegForImageSegmentation"), (transformers, "CLIPSegProcessor")):
        klass = getattr(owner, cls)
        for method in ("from_pretrained", "from_single_file"):
            if not hasattr(klass, method):
                continue
            real = getattr(klass, method)

            def spy(*args, __real=real, __key=f"{cls}.{method}", **kwargs):
                calls.setdefault(__key, []).append(kwargs)
                return __real(*args, **kwargs)

            monkeypatch.setattr(klass, method, staticmethod(spy))
    return calls


def _pipeline_calls(spies: dict[str, list[dict]]) -> list[dict]:
    """The pipeline loads made: the family's own class (SD 1.x inpainting), or the auto class."""
    return [kw for key in ("AutoPipelineForInpainting.from_pretrained", "StableDiffusionInpaintPipeline.from_pretrained")
            for kw in spies.get(key, [])]


def test_loading_asks_for_safetensors_and_never_for_remote_code(spies, tiny_models):
    mgr = PipelineManager(device="cpu")
    mgr.pipeline(str(tiny_models["sd-inpaint"]))
    mgr.clipseg(str(tiny_models["clipseg"]))
    (pipeline_kwargs,) = _pipeline_calls(spies)
    (clipseg_kwargs,) = spies["CLIPSegForImageSegmentation.from_pretrained"]
    assert pipeline_kwargs["use_safetensors"] is True and clipseg_kwargs["use_safetensors"] is True
    for kwargs in (kw for calls in spies.values() for kw in calls):
        assert not kwargs.get("trust_remote_code") and "custom_pipeline" not in kwargs


def test_opting_in_to_pickles_still_never_trusts_remote_code(spies, tiny_models):
    mgr = PipelineManager(device="cpu")
    mgr.configure(allow_pickle=True)
    mgr.pipeline(str(tiny_models["sd-inpaint"]))
    (kwargs,) = _pipeline_calls(spies)
    assert kwargs["use_safetensors"] is None  # diffusers' default: safetensors first, if present
    assert "trust_remote_code" not in kwargs


class _Trap:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _trap(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"state_dict": _Trap(marker)}))
    return path


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / f"PICKLE-WAS-LOADED-{uuid.uuid4().hex}"
    yield path
    assert not path.exists(), "a booby-trapped pickle was unpickled"


def test_a_booby_trapped_pickle_next_to_safetensors_is_never_opened(tiny_models, tmp_path, marker):
    folder = tmp_path / "model"
    shutil.copytree(tiny_models["sd-inpaint"], folder)
    for sub in ("unet", "vae", "text_encoder"):
        _trap(folder / sub / ("pytorch_model.bin" if sub == "text_encoder" else "diffusion_pytorch_model.bin"),
              marker)
    mgr = PipelineManager(device="cpu")
    result = pw.inpaint(photo(), box_mask(), "x", steps=2, seed=1, model=str(folder), mgr=mgr)
    assert result.image.size == (64, 48)


@pytest.mark.parametrize("name", ["model.ckpt", "MODEL.CKPT", "model.pt", "model.bin", "model.weights"])
def test_single_file_pickles_are_refused_without_being_opened(tmp_path, marker, name):
    path = _trap(tmp_path / name, marker)
    mgr = PipelineManager(device="cpu")
    with pytest.raises(pw.ModelLoadError, match=r"can run code when loaded.*allow_pickle=True"):
        mgr.pipeline(str(path))
    assert mgr.loads == 0


def test_a_folder_whose_weights_are_only_pickles_is_refused_without_opening_them(tiny_models, tmp_path, marker):
    folder = tmp_path / "model"
    shutil.copytree(tiny_models["sd-inpaint"], folder)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    _trap(folder / "unet" / "diffusion_pytorch_model.bin", marker)
    with pytest.raises(pw.ModelLoadError, match=r"no safetensors weights"):
        PipelineManager(device="cpu").pipeline(str(folder))


# =========================================================================== output paths

HOSTILE_PROMPTS = [
    "../../../../../../tmp/{evil}",
    "/tmp/{evil}",
    "..\\..\\..\\{evil}",
    "$(touch {evil}) `touch {evil}`; rm -rf ~",
    "a cat -o /tmp/{evil} --outdir=/tmp/{evil}",
    "\u202e{evil}.png\u0000",
    "~/{evil}",
]


def _names_are_plain(outdir: Path) -> None:
    for path in outdir.iterdir():
        assert re.fullmatch(r"\d{6}\.[^/\\\x00]+\.png", path.name), path.name


@pytest.mark.filterwarnings("ignore::paint_widgets.errors.PromptTruncatedWarning")
def test_prompts_cannot_place_an_output_outside_the_output_folder(warm, tmp_path, monkeypatch):
    sandbox = tmp_path / "work"
    sandbox.mkdir()
    monkeypatch.chdir(sandbox)
    Image.fromarray(photo()).save(sandbox / "in.png")
    mask_file(sandbox / "m.png", box_mask())
    evil = f"paint-widgets-escaped-{uuid.uuid4().hex}"
    q = quiet_runner(Path("out"), warm)
    for seed, prompt in enumerate(HOSTILE_PROMPTS):
        text = prompt.format(evil=evil).replace("\\", "\\\\").replace('"', '\\"').replace("\u0000", "")
        result = q.runner.run(f'"{text}" -I in.png -M m.png -s 2 -S {seed}')
        assert result is not None, q.err.getvalue()
        assert len(result.paths) == 1
    assert q.error_lines == []
    created = files_under(tmp_path)
    assert {p.parts[:2] for p in created} <= {("work", "in.png"), ("work", "m.png"), ("work", "out")}
    assert len([p for p in created if p.parts[1] == "out"]) == len(HOSTILE_PROMPTS)
    _names_are_plain(sandbox / "out")
    assert not list(Path("/tmp").glob(f"{evil}*")) and not (Path.home() / evil).exists()


@pytest.mark.filterwarnings("ignore::paint_widgets.errors.PromptTruncatedWarning")
def test_text_mask_names_and_fix_prompts_cannot_escape_either(warm, tmp_path, monkeypatch):
    sandbox = tmp_path / "work"
    sandbox.mkdir()
    monkeypatch.chdir(sandbox)
    Image.fromarray(photo()).save(sandbox / "in.png")
    Image.fromarray(photo()).save(sandbox / "..odd;name .png")
    evil = f"paint-widgets-escaped-{uuid.uuid4().hex}"
    q = quiet_runner(Path("out"), warm)
    lines = [
        f'!mask in.png -tm "../../../../tmp/{evil}" 0.5',
        f'!mask in.png -tm "a/b\\\\c:d*?<>|{evil}"',
        '!mask "..odd;name .png" -tm hair',
        f'!fix in.png -D top 16 -p "../../../tmp/{evil}" -s 2 -S 5',
    ]
    for line in lines:
        assert q.runner.run(line) is not None, q.err.getvalue()
    created = files_under(tmp_path)
    assert {p.parts[:2] for p in created} <= {("work", "in.png"), ("work", "..odd;name .png"), ("work", "out")}
    assert len([p for p in created if p.parts[1] == "out"]) == 3 * 3 + 1
    _names_are_plain(sandbox / "out")
    assert not list(Path("/tmp").glob(f"{evil}*"))


@pytest.mark.parametrize("name", ["../x.png", "/etc/x.png", "a/../../x.png", "sub/x.png", "..", ".", ""])
def test_check_inside_refuses_names_that_leave_the_folder(tmp_path, name):
    with pytest.raises(pw.OutputError, match="outside"):
        check_inside(tmp_path, name)


def test_check_inside_accepts_plain_names(tmp_path):
    assert check_inside(tmp_path, "000001.42.png") == (tmp_path / "000001.42.png").resolve()


@pytest.mark.parametrize("text", ["../../etc/passwd", "/", "..", "a b\tc\nd", "\x00\x01", "é/ü", "x" * 500, ""])
def test_safe_name_is_one_plain_component(text):
    name = safe_name(text)
    assert name and len(name) <= 60
    assert re.fullmatch(r"[A-Za-z0-9_\-]+", name)


# =========================================================================== untrusted metadata

CODE = "__import__('os').system('touch {marker}')"


def _png_with_text(path: Path, items: dict[str, str], *, compressed: bool = False) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in items.items():
        info.add_text(key, value, zip=compressed)
    Image.fromarray(photo()).save(path, pnginfo=info)
    return path


@pytest.fixture
def code_marker(tmp_path):
    path = tmp_path / f"CODE-RAN-{uuid.uuid4().hex}"
    yield path
    assert not path.exists(), "text from a PNG was executed"


def test_metadata_is_parsed_as_json_never_evaluated(tmp_path, code_marker):
    code = CODE.format(marker=code_marker)
    as_value = _png_with_text(tmp_path / "a.png", {METADATA_KEY: json.dumps({"params": {"prompt": code}})})
    assert read_metadata(as_value) == {"params": {"prompt": code}}  # a string, nothing more
    as_text = _png_with_text(tmp_path / "b.png", {METADATA_KEY: code})
    assert read_metadata(as_text) == {}
    for not_a_dict in ("[1, 2]", '"text"', "1e999", "null"):
        path = _png_with_text(tmp_path / "c.png", {METADATA_KEY: not_a_dict})
        assert read_metadata(path) == {}


def test_oversized_metadata_is_ignored(tmp_path):
    big = json.dumps({"params": {"prompt": "x" * (MAX_METADATA_CHARS + 1)}})
    path = _png_with_text(tmp_path / "big.png", {METADATA_KEY: big, "Dream": "y" * (MAX_METADATA_CHARS + 1)})
    assert read_metadata(path) == {}
    assert read_png_text(path) == {}
    image = Image.open(path)
    assert read_metadata(image) == {}


@pytest.mark.parametrize("case", ["compressed chunk over Pillow's 1 MB limit", "decompression-bomb header",
                                  "truncated", "not an image", "missing", "a folder"])
def test_metadata_of_hostile_files_is_empty_not_an_error(tmp_path, case):
    path = tmp_path / "x.png"
    if case.startswith("compressed"):
        _png_with_text(path, {METADATA_KEY: "{" + " " * (20 * 2**20) + "}"}, compressed=True)
    elif case.startswith("decompression"):
        path.write_bytes(png_claiming_size(100_000, 100_000))
    elif case == "truncated":
        _png_with_text(path, {METADATA_KEY: "{}"})
        path.write_bytes(path.read_bytes()[:40])
    elif case == "not an image":
        path.write_text('{"params": {"prompt": "hello"}}')
    elif case == "a folder":
        path.mkdir()
    assert read_metadata(path) == {}
    assert read_png_text(path) == {}


def test_image_defaults_from_invokeai_metadata_are_plain_values(tmp_path, code_marker):
    from paint_widgets.commands.parser import image_defaults

    code = CODE.format(marker=code_marker)
    path = _png_with_text(tmp_path / "dream.png", {
        "Dream": f'"{code}" -s 20 -S 1234 -C 7.5',
        "sd-metadata": json.dumps({"image": {"prompt": [{"prompt": code}], "seed": "not a number"}}),
    })
    found = image_defaults(path)
    assert found == {"prompt": code, "seed": 1234}


@pytest.mark.filterwarnings("ignore::paint_widgets.errors.PromptTruncatedWarning")
def test_fix_uses_a_hostile_stored_prompt_as_text_only(warm, tmp_path, code_marker, monkeypatch):
    code = CODE.format(marker=code_marker)
    monkeypatch.chdir(tmp_path)
    _png_with_text(tmp_path / "made.png", {METADATA_KEY: json.dumps({"params": {"prompt": code, "seed": 77}})})
    q = quiet_runner(Path("out"), warm)
    result = q.runner.run("!fix made.png -D left 16 -s 2")
    assert result is not None, q.err.getvalue()
    assert result.seeds == [77] and code in result.commands[0]
    assert [p.parent.name for p in result.paths] == ["out"]


def test_fix_on_a_decompression_bomb_says_so_in_our_words(warm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bomb.png").write_bytes(png_claiming_size(100_000, 100_000))
    q = quiet_runner(Path("out"), warm)
    assert q.runner.run("!fix bomb.png -D top 16 -s 2") is None
    (line,) = q.error_lines
    assert "over the limit" in line and "DecompressionBombError" not in line
