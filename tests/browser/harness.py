"""Real-browser harness: JupyterLab on 127.0.0.1 + Debian Chromium through Playwright.

Plain functions and context managers (no pytest) so the browser tests
(``conftest.py``) and ``benchmarks/bench_echo_latency.py`` share them:

- :func:`jupyterlab`: start ``jupyter lab`` on a free port with a temp root dir,
  token auth and isolated config/settings/runtime dirs; yields a :class:`LabServer`.
- :func:`chromium`: launch ``/usr/bin/chromium`` headless with sandbox-free flags.
- :func:`write_notebook`, :func:`open_notebook`: write a notebook, open it in
  JupyterLab, wait for its kernel and run all cells.
- :class:`KernelProbe` (``lab.kernel(path)``): a second client on the notebook's
  kernel (its connection file, jupyter_client) to run code and read results back
  (``probe.run(code) -> stdout``, ``probe.value(expr) -> json value``).
- :func:`measure_echo`: time from a mouse move to the canvas pixel under it changing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
#: Enable the TCP_NODELAY extension explicitly, independent of the installed data file.
SERVER_EXTENSION_ARG = '--ServerApp.jpserver_extensions={"paint_widgets.server_extension": True}'
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only, never a proxy


def missing_requirements() -> str | None:
    """Why browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python playwright is not installed (pip install playwright)"
    if shutil.which("jupyter-lab") is None and _module_missing("jupyterlab"):
        return "jupyterlab is not installed"
    return None


def _module_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- JupyterLab


@dataclass
class LabServer:
    """A running JupyterLab subprocess."""

    url: str
    token: str
    root_dir: Path
    runtime_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    _probes: list[tuple[str, KernelProbe]] = field(default_factory=list)

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """Call the server's REST API with the token; parsed JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with _OPENER.open(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def lab_url(self, rel_path: str) -> str:
        return f"{self.url}/lab/tree/{rel_path}?token={self.token}&reset"

    def kernel_id(self, rel_path: str, timeout: float = 30.0) -> str:
        """Id of the kernel of the session open on ``rel_path``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("/api/sessions") or []:
                if session.get("path") == rel_path and session.get("kernel"):
                    return str(session["kernel"]["id"])
            time.sleep(0.2)
        raise TimeoutError(f"no kernel session for {rel_path}; see {self.log_path}")

    def kernel(self, rel_path: str, timeout: float = 30.0) -> KernelProbe:
        """A :class:`KernelProbe` on the notebook's kernel (closed with the server)."""
        kid = self.kernel_id(rel_path, timeout)
        conn = self.runtime_dir / f"kernel-{kid}.json"
        deadline = time.monotonic() + timeout
        while not conn.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        probe = KernelProbe(conn)
        self._probes.append((rel_path, probe))
        return probe

    def shutdown_kernel(self, rel_path: str) -> None:
        """Stop the kernel of the notebook at ``rel_path`` (if any)."""
        for path, probe in [pp for pp in self._probes if pp[0] == rel_path]:
            probe.close()
            self._probes.remove((path, probe))
        for session in self.api("/api/sessions") or []:
            if session.get("path") == rel_path:
                self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def shutdown_kernels(self) -> None:
        for _, probe in self._probes:
            probe.close()
        self._probes.clear()
        for kernel in self.api("/api/kernels") or []:
            try:
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
            except OSError:
                pass

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _lab_settings(settings_dir: Path) -> None:
    """No news/update toasts, no notifications over the page."""
    apputils = settings_dir / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True, exist_ok=True)
    (apputils / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})
    )


@contextmanager
def jupyterlab(
    root_dir: str | os.PathLike | None = None,
    *,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    server_extension: bool = True,
    timeout: float = 90.0,
) -> Iterator[LabServer]:
    """Run ``jupyter lab`` on 127.0.0.1 and a free port until the block exits.

    ``root_dir`` defaults to a fresh temp dir. Config, settings, workspaces and
    runtime dirs are temporary, so nothing from the user's setup leaks in. With
    ``server_extension`` the TCP_NODELAY extension is enabled on the command line
    (if its module is missing the server only logs a warning).
    """
    with tempfile.TemporaryDirectory(prefix="pw-lab-") as tmp:
        tmp_path = Path(tmp)
        root = Path(root_dir) if root_dir is not None else tmp_path / "root"
        root.mkdir(parents=True, exist_ok=True)
        dirs = {name: tmp_path / name for name in ("config", "runtime", "settings", "workspaces")}
        for d in dirs.values():
            d.mkdir()
        _lab_settings(dirs["settings"])
        token = secrets.token_hex(16)
        port = free_port()
        run_env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            **(env or {}),
        }
        args = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.expose_app_in_browser=True",
            *([SERVER_EXTENSION_ARG] if server_extension else []),
            *extra_args,
        ]
        log_path = tmp_path / "server.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, cwd=root, env=run_env, stdout=log, stderr=subprocess.STDOUT)
        lab = LabServer(f"http://127.0.0.1:{port}", token, root, dirs["runtime"], log_path, proc)
        try:
            _wait_ready(lab, timeout)
            yield lab
        finally:
            try:
                lab.shutdown_kernels()
            except OSError:
                pass
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if os.environ.get("PW_KEEP_LAB_LOG"):
                shutil.copy(log_path, os.environ["PW_KEEP_LAB_LOG"])


def _wait_ready(lab: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {lab.process.returncode}:\n{lab.log()[-4000:]}")
        try:
            lab.api("/api/status")
            return
        except OSError:
            time.sleep(0.25)
    raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f}s:\n{lab.log()[-4000:]}")


# --------------------------------------------------------------------------- kernel probe


class KernelProbe:
    """A second jupyter_client on a notebook's kernel: run code, read stdout / JSON back.

    Requests queue behind the notebook's own cells on the shell channel, so a probe
    sent after "run all" sees their results.
    """

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(connection_file))
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60.0) -> str:
        """Execute ``code``; its stdout. Raises RuntimeError with the traceback on error."""
        chunks: list[str] = []
        errors: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                chunks.append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content.get("traceback", [])) or content.get("evalue", ""))

        reply = self.client.execute_interactive(
            code, timeout=timeout, output_hook=hook, store_history=False, allow_stdin=False
        )
        if errors or reply["content"].get("status") != "ok":
            raise RuntimeError(f"kernel error running {code!r}:\n" + "\n".join(errors))
        return "".join(chunks)

    def value(self, expr: str, timeout: float = 60.0) -> Any:
        """Evaluate ``expr`` in the kernel and return it through JSON."""
        marker = "@@PW@@"
        out = self.run(f"import json as _pw_json; print({marker!r} + _pw_json.dumps({expr}))", timeout)
        line = [ln for ln in out.splitlines() if ln.startswith(marker)][-1]
        return json.loads(line[len(marker) :])

    def wait_for(self, expr: str, timeout: float = 60.0) -> Any:
        """Poll until ``expr`` is truthy in the kernel; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.value(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.1)

    def close(self) -> None:
        self.client.stop_channels()


# --------------------------------------------------------------------------- browser


@contextmanager
def chromium(headless: bool = True) -> Iterator[Any]:
    """Debian's Chromium through Playwright; yields a ``playwright.sync_api.Browser``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=headless, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def write_notebook(path: str | os.PathLike, cells: Iterable[str]) -> Path:
    """Write a Python 3 notebook whose code cells are ``cells``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


_RUN_ALL_JS = """
async (runAll) => {
  const app = window.jupyterapp;
  await app.started; await app.restored;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let panel = null;
  for (let i = 0; i < 600 && !panel; i++) {
    const w = app.shell.currentWidget;
    if (w && w.sessionContext && w.content && w.content.widgets) panel = w; else await sleep(100);
  }
  if (!panel) throw new Error('no notebook panel opened');
  await panel.context.ready;
  await panel.sessionContext.ready;
  for (let i = 0; i < 600; i++) {
    const k = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (k && k.connectionStatus === 'connected' && k.status === 'idle') break;
    await sleep(100);
  }
  if (runAll) await app.commands.execute('notebook:run-all-cells');
  return true;
}
"""


def open_notebook(page: Any, lab: LabServer, rel_path: str, *, run_all: bool = True,
                  timeout: float = 60.0) -> None:
    """Open ``rel_path`` in JupyterLab, wait for its kernel, then run all cells."""
    page.set_default_timeout(timeout * 1000)
    page.goto(lab.lab_url(rel_path), wait_until="domcontentloaded")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate(_RUN_ALL_JS, run_all)


def run_all_cells(page: Any) -> None:
    """Run every cell of the current notebook again."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def save_notebook(page: Any) -> None:
    """Save the current notebook (its widget outputs come back after a page reload)."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")


def canvas_pixel(page: Any, selector: str, x: float, y: float) -> list[int]:
    """RGBA of the canvas pixel under page point ``(x, y)``."""
    return page.evaluate(
        """([sel, x, y]) => { const c = document.querySelector(sel); const r = c.getBoundingClientRect();
        const px = Math.floor((x - r.left) * c.width / r.width), py = Math.floor((y - r.top) * c.height / r.height);
        return Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data); }""",
        [selector, x, y],
    )


# --------------------------------------------------------------------------- echo latency

_ECHO_JS = """
(sel) => {
  const c = document.querySelector(sel);
  if (!c) throw new Error('no canvas ' + sel);
  const ctx = c.getContext('2d');
  const st = window.__pwEcho = {c, ctx, pending: null};
  const read = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data).join(',');
  st.check = () => {
    const p = st.pending;
    if (!p || p.t0 === null) return;
    if (read(p.x, p.y) !== p.before) { st.pending = null; p.resolve(performance.now() - p.t0); }
  };
  // ipycanvas composites every frame into the visible canvas with drawImage: check right after it.
  const draw = ctx.drawImage.bind(ctx);
  ctx.drawImage = (...a) => { const r = draw(...a); st.check(); return r; };
  const poll = () => { st.check(); requestAnimationFrame(poll); };  // fallback
  requestAnimationFrame(poll);
  window.addEventListener('mousemove', () => {
    if (st.pending && st.pending.t0 === null) st.pending.t0 = performance.now();
  }, true);
  st.arm = (clientX, clientY, timeoutMs) => new Promise((resolve) => {
    const r = c.getBoundingClientRect();
    const x = Math.floor((clientX - r.left) * c.width / r.width);
    const y = Math.floor((clientY - r.top) * c.height / r.height);
    const p = {x, y, before: read(x, y), t0: null, resolve};
    st.pending = p;
    setTimeout(() => { if (st.pending === p) { st.pending = null; resolve(null); } }, timeoutMs);
  });
  return true;
}
"""


def canvas_box(page: Any, selector: str) -> dict[str, float]:
    """On-page box of the canvas plus its pixel size: x, y, width, height, cw, ch."""
    return page.evaluate(
        """(sel) => { const c = document.querySelector(sel); const r = c.getBoundingClientRect();
        return {x: r.left, y: r.top, width: r.width, height: r.height, cw: c.width, ch: c.height}; }""",
        selector,
    )


def measure_echo(page: Any, selector: str, points: Sequence[tuple[float, float]], *,
                 press: bool = True, warmup: int = 3, timeout_ms: int = 3000) -> list[float | None]:
    """Echo latency (ms) of each mouse move to ``points`` (page coordinates).

    The clock starts when the browser dispatches the ``mousemove`` and stops when the
    canvas pixel under the pointer changes (checked after each composite). Each
    point must land on pixels the move will change (e.g. not yet painted). ``None``
    marks a move whose echo never came within ``timeout_ms``. The first ``warmup``
    points are moved to but not reported.
    """
    page.evaluate(_ECHO_JS, selector)
    x0, y0 = points[0]
    page.mouse.move(x0, y0)
    if press:
        page.mouse.down()
    results: list[float | None] = []
    try:
        for i, (x, y) in enumerate(points[1:]):
            handle = page.evaluate_handle(
                "([x, y, t]) => ({p: window.__pwEcho.arm(x, y, t)})", [x, y, timeout_ms]
            )
            page.mouse.move(x, y)
            ms = page.evaluate("(h) => h.p", handle)
            handle.dispose()
            if i >= warmup:
                results.append(None if ms is None else float(ms))
    finally:
        if press:
            page.mouse.up()
    return results


def snake_points(box: dict[str, float], step: float, rows: int, margin: float = 30.0
                 ) -> list[tuple[float, float]]:
    """Points ``step`` apart in a left-right-left snake over the canvas (page coordinates)."""
    points: list[tuple[float, float]] = []
    left, right = box["x"] + margin, box["x"] + box["width"] - margin
    for row in range(rows):
        y = box["y"] + margin + row * step
        xs = [left + i * step for i in range(int((right - left) // step) + 1)]
        points += [(x, y) for x in (xs if row % 2 == 0 else xs[::-1])]
    return points


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


class FrameCounter:
    """Bytes of websocket frames the page receives (kernel → browser), between resets."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        self.frames = 0
        page.on("websocket", self._attach)

    def _attach(self, ws: Any) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload: Any) -> None:
        self.frames += 1
        self.bytes += len(payload if isinstance(payload, (bytes, bytearray)) else str(payload).encode())

    def reset(self) -> None:
        self.bytes = 0
        self.frames = 0


# --------------------------------------------------------------------------- Notebook 7

#: Pass as ``jupyterlab(extra_args=...)`` so Notebook 7 pages expose ``window.jupyterapp``.
NOTEBOOK7_EXPOSE_APP_ARG = "--JupyterNotebookApp.expose_app_in_browser=True"


def open_notebook7(page: Any, lab: LabServer, rel_path: str, *, run_all: bool = True,
                   timeout: float = 60.0) -> None:
    """Open ``rel_path`` in the Notebook 7 UI (``/notebooks/...``), wait for its kernel, run all cells.

    The server must have been started with :data:`NOTEBOOK7_EXPOSE_APP_ARG` (the
    ``notebook`` 7 server extension serves the page from the same jupyter_server).
    """
    page.set_default_timeout(timeout * 1000)
    page.goto(f"{lab.url}/notebooks/{rel_path}?token={lab.token}", wait_until="domcontentloaded")
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.evaluate(_RUN_ALL_JS, run_all)
