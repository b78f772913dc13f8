"""The package's import structure: no cycles, layers import only downwards, widgets stay light.

The graph is read from the source with :mod:`ast` (every ``import``/``from``
statement, including those inside functions), so it covers imports that a test
run may never execute. See ARCHITECTURE.md, "The shape".
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import paint_widgets

PACKAGE_DIR = Path(paint_widgets.__file__).resolve().parent
ROOT = "paint_widgets"

#: Heavy third-party libraries that only ``engine/`` (and ``testing/``) may import.
GPU_LIBS = {"torch", "diffusers", "transformers", "accelerate", "safetensors", "huggingface_hub"}
#: Front-door libraries that ``engine/`` and ``imaging/`` never import.
UI_LIBS = {"ipywidgets", "ipycanvas", "IPython", "ipykernel", "google"}

#: What each layer must not import (intra-package layers, then third-party libraries).
FORBIDDEN: dict[str, tuple[set[str], set[str]]] = {
    "imaging": ({"engine", "widgets", "commands", "testing"}, GPU_LIBS | UI_LIBS),
    "engine": ({"widgets", "commands"}, UI_LIBS),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_only: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement under ``node`` and whether it runs only for type checkers."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, type_only
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), True)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), type_only)
        else:
            yield from _walk(child, type_only)


def imports_of(module: str) -> list[tuple[str, bool]]:
    """``(imported module, type_only)`` for each module ``module``'s source imports.

    Relative imports are resolved; ``from pkg import name`` counts as importing
    ``pkg.name`` when that is a module of this package, else ``pkg``.
    """
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, bool]] = []
    for node, type_only in _walk(tree, False):
        if isinstance(node, ast.Import):
            found += [(alias.name, type_only) for alias in node.names]
            continue
        if node.level:
            base_parts = package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            found.append((sub if sub in MODULES else base, type_only))
    return found


def runtime_graph() -> dict[str, set[str]]:
    """Intra-package edges that run at import or call time (``TYPE_CHECKING`` blocks left out)."""
    return {
        module: {name for name, type_only in imports_of(module) if not type_only and name in MODULES}
        for module in MODULES
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == ROOT else None


# ------------------------------------------------------------------------ the graph itself


def test_the_walker_sees_function_level_and_relative_imports() -> None:
    """Guards the guard: these imports are known to exist (top, in a function, relative)."""
    assert ("paint_widgets.engine.inpainting", False) in imports_of("paint_widgets.engine.api")  # in run()
    assert ("paint_widgets.engine.loading", False) in imports_of("paint_widgets.engine.manager")
    assert ("paint_widgets.errors", False) in imports_of("paint_widgets.engine.crop")
    assert ("paint_widgets.imaging.masks", False) in imports_of("paint_widgets.engine.inpainting")
    assert ("paint_widgets.commands.magic", False) in imports_of("paint_widgets")  # in a function
    assert ("torch", False) in imports_of("paint_widgets.engine.denoise")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package() -> None:
    cycle = find_cycle(runtime_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_inpainting_and_outpainting_share_generation_not_each_other() -> None:
    graph = runtime_graph()
    inpainting, outpainting = "paint_widgets.engine.inpainting", "paint_widgets.engine.outpainting"
    assert outpainting not in graph[inpainting] and inpainting not in graph[outpainting]
    assert "paint_widgets.engine.generation" in graph[inpainting] & graph[outpainting]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downwards(layer: str) -> None:
    """``imaging`` never imports engine/widgets/commands or torch; ``engine`` never widgets/commands/UI.

    ``TYPE_CHECKING`` imports count too: a type from a higher layer is still a dependency.
    """
    banned_layers, banned_libs = FORBIDDEN[layer]
    bad = []
    for module in MODULES:
        if layer_of(module) != layer:
            continue
        for name, _type_only in imports_of(module):
            if name.startswith(ROOT + "."):
                if layer_of(name) in banned_layers:
                    bad.append(f"{module} imports {name}")
            elif name.split(".")[0] in banned_libs:
                bad.append(f"{module} imports {name}")
    assert not bad, "\n".join(bad)


def test_foundation_modules_import_no_layer() -> None:
    """errors, io, requests, result, cancel: the shared vocabulary, below imaging."""
    foundation = [m for m in MODULES if m.count(".") == 1 and m.split(".")[1] in
                  {"errors", "io", "requests", "result", "cancel", "samples"}]
    assert "paint_widgets.errors" in foundation
    bad = [
        f"{module} imports {name}"
        for module in foundation
        for name, _ in imports_of(module)
        if layer_of(name) in {"imaging", "engine", "widgets", "commands", "testing"}
        or name.split(".")[0] in GPU_LIBS | UI_LIBS
    ]
    assert not bad, "\n".join(bad)


# ----------------------------------------------------------------- no torch until a model is needed

WIDGET_MODULES = sorted(m for m in MODULES if layer_of(m) == "widgets")
LIGHT_MODULES = [
    ROOT,
    "paint_widgets.imaging.masks",
    "paint_widgets.imaging.outpaint_geometry",
    "paint_widgets.imaging.infill",
    "paint_widgets.engine.crop",
    "paint_widgets.commands.parser",
    *WIDGET_MODULES,
]


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def _heavy_check(setup: str) -> str:
    return (
        "import sys\n"
        f"{setup}\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not heavy, f'imported {heavy}'\n"
    )


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_importing_a_front_door_module_imports_no_torch(module: str) -> None:
    proc = _run_python(_heavy_check(f"import {module}"))
    assert proc.returncode == 0, proc.stderr


def test_every_widget_module_is_checked() -> None:
    assert {"paint_widgets.widgets.studio", "paint_widgets.widgets.mask_painter",
            "paint_widgets.widgets.text_mask_tuner", "paint_widgets.widgets.outpaint_margins"} <= set(WIDGET_MODULES)


def test_constructing_the_small_widgets_imports_no_torch() -> None:
    """MaskPainter, TextMaskTuner and OutpaintMargins on an image need no model until asked."""
    setup = (
        "import numpy as np\n"
        "import paint_widgets as pw\n"
        "img = np.zeros((64, 96, 3), np.uint8)\n"
        "pw.MaskPainter(img); pw.TextMaskTuner(img); pw.OutpaintMargins(img)\n"
        "pw.GenerationParams(); pw.PromptTruncatedWarning\n"
    )
    proc = _run_python(_heavy_check(setup))
    assert proc.returncode == 0, proc.stderr
