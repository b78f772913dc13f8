"""The public API is typed: type checkers see the real objects behind the lazy exports.

``paint_widgets/__init__.py`` loads its names lazily (PEP 562) and imports them
under ``TYPE_CHECKING`` for type checkers. These tests run mypy (the project's
``[tool.mypy]`` configuration) on a small user script and read what it reveals.
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from pathlib import Path

import pytest

import paint_widgets as pw

PACKAGE_INIT = Path(pw.__file__).resolve()
REPO = Path(__file__).resolve().parents[1]  # the checkout (the package may be installed elsewhere)

SNIPPET = """\
import paint_widgets as pw
from paint_widgets import Step, inpaint

reveal_type(pw.inpaint)  # line 4
reveal_type(pw.Step)  # line 5
reveal_type(pw.GenerationParams)  # line 6
reveal_type(pw.manager)  # line 7
reveal_type(pw.ErasedColourWarning)  # line 8
reveal_type(inpaint)  # line 9
reveal_type(Step)  # line 10


def on_step(step: pw.Step) -> None:
    reveal_type(step.fraction)  # line 14


pw.inpaint("in.png", prompt=3)  # line 17: a str is expected
pw.no_such_name  # line 18: a typo is an error, not Any
"""


@pytest.fixture(scope="module")
def revealed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """``{line: mypy's message}`` for the snippet (notes and errors), checked with the project config."""
    api = pytest.importorskip("mypy.api")
    folder = tmp_path_factory.mktemp("typing")
    script = folder / "pw_typing_snippet.py"
    script.write_text(SNIPPET)
    # cwd = the repository, so mypy finds the package's source (the editable install's
    # import hook is invisible to it) and reuses the cache a CI `mypy` run left there.
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        stdout, stderr, _status = api.run(["--config-file", str(REPO / "pyproject.toml"), str(script)])
    assert not stderr, stderr
    messages: dict[int, str] = {}
    for line in stdout.splitlines():
        # by file name, not path: with a warm cache mypy replays an unchanged module's
        # messages under the path it had when they were cached (an earlier tmp dir)
        match = re.match(r"^(?:.*[/\\])?pw_typing_snippet\.py:(\d+): (.*)$", line)
        if match:
            n = int(match.group(1))
            messages[n] = (messages.get(n, "") + " " + match.group(2)).strip()
    # errors inside the package itself are the CI `mypy paint_widgets` step's business
    return messages


def _t(name: str) -> str:
    """A builtin type as mypy prints it (``str`` in mypy 2, ``builtins.str`` before)."""
    return rf"(builtins\.)?{name}"


def test_inpaint_reveals_its_real_signature(revealed: dict[int, str]) -> None:
    for line in (4, 9):
        text = revealed[line]
        assert "Revealed type is \"def (" in text, text
        assert re.search(rf"prompt: {_t('str')}", text), text
        assert re.search(rf"steps: {_t('int')}", text), text
        assert re.search(rf"seed: {_t('int')} \| None", text), text
        assert re.search(r"progress: \(def \(paint_widgets\.engine\.steps\.Step\)", text), text
        assert text.endswith('-> paint_widgets.result.Result"'), text


def test_step_generation_params_manager_and_warnings_are_real(revealed: dict[int, str]) -> None:
    for line in (5, 10):
        assert re.search(rf"def \(step: {_t('int')}, total: {_t('int')}", revealed[line]), revealed[line]
        assert "-> paint_widgets.engine.steps.Step" in revealed[line]
    assert "-> paint_widgets.requests.GenerationParams" in revealed[6]
    assert re.search(rf"prompt: {_t('str')} =", revealed[6]), revealed[6]
    assert "-> paint_widgets.engine.manager.PipelineManager" in revealed[7]
    assert "-> paint_widgets.imaging.masks.ErasedColourWarning" in revealed[8]
    assert re.search(rf"Revealed type is \"{_t('float')}\"", revealed[14]), revealed[14]


def test_wrong_arguments_and_typos_are_errors(revealed: dict[int, str]) -> None:
    assert "[arg-type]" in revealed[17] and '"prompt"' in revealed[17], revealed[17]
    assert '"no_such_name"' in revealed[18] and "[attr-defined]" in revealed[18], revealed[18]
    assert set(revealed) == {4, 5, 6, 7, 8, 9, 10, 14, 17, 18}, revealed


# ------------------------------------------------------------ the lazy table and the imports agree


def _type_checking_imports() -> dict[str, str]:
    """``{name: module}`` imported under ``if TYPE_CHECKING:`` in ``paint_widgets/__init__.py``."""
    tree = ast.parse(PACKAGE_INIT.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.level == 1, ast.dump(stmt)
                for alias in stmt.names:
                    found[alias.asname or alias.name] = f"paint_widgets.{stmt.module}"
    return found


def test_every_lazy_name_is_imported_for_type_checkers() -> None:
    assert _type_checking_imports() == pw._LAZY


def test_all_lists_every_public_name_and_each_resolves() -> None:
    from paint_widgets import errors

    # every error and warning class (they import nothing), and a run's cancel token
    eager = {name for name, value in vars(errors).items()
             if isinstance(value, type) and issubclass(value, Exception)} | {"CancelToken"}
    assert len(pw.__all__) == len(set(pw.__all__))
    assert set(pw.__all__) == eager | set(pw._LAZY)
    for name in pw.__all__:
        assert getattr(pw, name) is not None
    with pytest.raises(AttributeError):
        pw.no_such_name  # noqa: B018


def test_every_warning_class_is_exported() -> None:
    """Each ``*Warning`` class the package defines can be filtered as ``pw.<Name>``."""
    defined = set()
    for path in PACKAGE_INIT.parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Warning"):
                defined.add(node.name)
    assert defined >= {"PromptTruncatedWarning", "ErasedColourWarning"}
    for name in defined:
        assert name in pw.__all__
        assert issubclass(getattr(pw, name), Warning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import numpy as np

        from paint_widgets.imaging.masks import warn_if_colour_erased

        rgba = np.zeros((4, 4, 4), np.uint8)
        warn_if_colour_erased(rgba)
    assert [w.category for w in caught] == [pw.ErasedColourWarning]


def test_the_snippet_is_what_the_line_numbers_say() -> None:
    lines = textwrap.dedent(SNIPPET).splitlines()
    for n, text in enumerate(lines, start=1):
        if "# line " in text:
            assert text.endswith(f"# line {n}") or f"# line {n}:" in text, (n, text)
