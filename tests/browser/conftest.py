"""Fixtures for end-to-end tests in JupyterLab + Chromium (see ``harness.py``).

- ``lab`` (session): a :class:`harness.LabServer` on 127.0.0.1 with a temp root dir.
- ``browser`` (session): Playwright's Chromium (``/usr/bin/chromium``).
- ``page``: a fresh 1400x1000 page; console errors are kept on ``page.console_errors``.
- ``notebook``: ``notebook(name, cells) -> (page, probe)`` writes a notebook into the
  lab root, opens it, runs all cells and returns a :class:`harness.KernelProbe` on its
  kernel (``probe.value("painter.mask.sum()")``).
- ``artifacts``: ``tests/artifacts/`` (screenshots).

Every test here is marked ``browser``; the whole directory is skipped, with the
reason, when Chromium or Playwright is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from harness import (
    KernelProbe,
    LabServer,
    chromium,
    jupyterlab,
    missing_requirements,
    open_notebook,
    write_notebook,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = missing_requirements()
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"browser tests need it: {reason}"))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with jupyterlab(tmp_path_factory.mktemp("lab-root")) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    yield pg
    context.close()


@pytest.fixture
def notebook(lab: LabServer, page: Any) -> Iterator[Callable[[str, Sequence[str]], tuple[Any, KernelProbe]]]:
    opened: list[str] = []

    def open_(name: str, cells: Sequence[str]) -> tuple[Any, KernelProbe]:
        write_notebook(lab.root_dir / name, cells)
        open_notebook(page, lab, name)
        opened.append(name)
        return page, lab.kernel(name)

    yield open_
    for name in opened:  # free the CPU for the next test: stop this test's kernels
        lab.shutdown_kernel(name)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
