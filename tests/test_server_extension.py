"""The TCP_NODELAY server extension, checked in a real jupyter_server.

Each server test starts ``python -m jupyter_server`` on 127.0.0.1 with the package's
shipped ``jupyter-config`` file (the one installed into ``jupyter_server_config.d``),
creates a kernel, opens its websocket, and reads TCP_NODELAY of that websocket's
socket *on the server side* through the extension's authenticated debug endpoint
(``getsockopt`` in the server process). ``JUPYTER_NO_CONFIG`` keeps the user's and the
environment's Jupyter config (and their other extensions) out, so the servers start
fast and only the config named here applies.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tornado.web
from traitlets.config import Config, LoggingConfigurable

from paint_widgets import server_extension as ext

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = REPO / "jupyter-config" / "jupyter_server_config.d" / "paint_widgets.json"
HOST = "127.0.0.1"

# Never go through a proxy: everything here is on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    """A running jupyter_server subprocess."""

    proc: subprocess.Popen[bytes]
    url: str
    token: str
    log: Path

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        """JSON request to the server; returns the decoded reply (None when empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if auth:
            req.add_header("Authorization", f"token {self.token}")
        with _OPENER.open(req, timeout=10) as reply:
            raw = reply.read()
        return json.loads(raw) if raw else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def _jupyter_server(
    tmp_path: Path, user_config: str = "", env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start a jupyter_server with the shipped config plus ``user_config`` (Python)."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    # --config=<dir>/server.json loads <dir>/server.json and <dir>/server.py.
    shutil.copy(SHIPPED_CONFIG, config_dir / "server.json")
    (config_dir / "server.py").write_text(user_config)
    root = tmp_path / "root"
    root.mkdir()
    token = uuid.uuid4().hex
    port = _free_port()
    child_env = {k: v for k, v in os.environ.items() if k != ext.ENV_VAR}
    child_env.update(
        JUPYTER_NO_CONFIG="1",
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        **(env or {}),
    )
    log = tmp_path / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        f"--config={config_dir / 'server.json'}",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=child_env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://{HOST}:{port}", token, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter_server exited:\n{log.read_text()}")
            try:
                server.request("GET", "/api/status")
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter_server did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _server_side_nodelay(server: Server) -> tuple[dict[str, Any], int | None]:
    """Open a kernel websocket; return the debug report and its socket's TCP_NODELAY."""
    import websocket  # websocket-client

    kernel_id = server.request("POST", "/api/kernels", {"name": "python3"})["id"]
    ws_url = server.url.replace("http", "ws", 1)
    ws = websocket.create_connection(
        f"{ws_url}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
        header=[f"Authorization: token {server.token}"],
        timeout=10,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            report = server.request("GET", "/paint_widgets/nodelay")
            mine = [w for w in report["websockets"] if w["kernel_id"] == kernel_id]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert mine, f"kernel websocket not reported: {report}\n{server.log.read_text()}"
        return report, mine[0]["tcp_nodelay"]
    finally:
        ws.close()
        server.request("DELETE", f"/api/kernels/{kernel_id}")


@pytest.mark.timeout(60)
def test_kernel_websocket_has_tcp_nodelay(tmp_path: Path) -> None:
    with _jupyter_server(tmp_path) as server:
        with pytest.raises(urllib.error.HTTPError) as denied:
            server.request("GET", "/paint_widgets/nodelay", auth=False)
        assert denied.value.code == 403
        report, nodelay = _server_side_nodelay(server)
    assert report["enabled"] is True
    assert nodelay == 1
    log = server.log.read_text()
    assert log.count("paint_widgets: TCP_NODELAY on kernel websockets (turn off") == 1, log


@pytest.mark.timeout(60)
def test_config_off_switch_leaves_nagle_on(tmp_path: Path) -> None:
    with _jupyter_server(tmp_path, "c.PaintWidgetsNoDelay.enabled = False\n") as server:
        report, nodelay = _server_side_nodelay(server)
    assert report["enabled"] is False
    assert nodelay == 0
    assert "TCP_NODELAY on kernel websockets is off (PaintWidgetsNoDelay" in server.log.read_text()


@pytest.mark.timeout(60)
def test_env_off_switch_leaves_nagle_on(tmp_path: Path) -> None:
    with _jupyter_server(tmp_path, env={ext.ENV_VAR: "0"}) as server:
        report, nodelay = _server_side_nodelay(server)
    assert report["enabled"] is False
    assert nodelay == 0
    assert f"is off ({ext.ENV_VAR}=0)" in server.log.read_text()


def test_shipped_config_enables_the_extension() -> None:
    config = json.loads(SHIPPED_CONFIG.read_text())
    assert config == {
        "ServerApp": {"jpserver_extensions": {"paint_widgets.server_extension": True}}
    }
    assert ext._jupyter_server_extension_points() == [{"module": "paint_widgets.server_extension"}]


def test_wrap_open_is_idempotent() -> None:
    calls: list[str] = []

    class FakeHandler:
        settings = {ext.SETTINGS_KEY: True}

        def set_nodelay(self, value: bool) -> None:
            calls.append(f"nodelay={value}")

        def open(self, kernel_id: str) -> str:
            calls.append(f"open {kernel_id}")
            return kernel_id

    assert ext.wrap_open(FakeHandler) is True
    wrapped = FakeHandler.open
    assert ext.wrap_open(FakeHandler) is False
    assert FakeHandler.open is wrapped
    assert FakeHandler().open("k1") == "k1"
    assert calls == ["nodelay=True", "open k1"]


def test_wrapper_respects_per_server_setting_and_never_raises() -> None:
    class Off:
        settings: dict[str, bool] = {}

        def set_nodelay(self, value: bool) -> None:
            raise AssertionError("must not be called when the server has it off")

        def open(self) -> str:
            return "opened"

    class Broken:
        settings = {ext.SETTINGS_KEY: True}
        log = logging.getLogger(__name__)

        def set_nodelay(self, value: bool) -> None:
            raise OSError("socket closed")

        def open(self) -> str:
            return "opened"

    for cls in (Off, Broken):
        ext.wrap_open(cls)
        assert cls().open() == "opened"


@pytest.mark.parametrize(
    ("value", "enabled"),
    [(None, True), ("1", True), ("", True), ("0", False), ("false", False), (" OFF ", False)],
)
def test_env_switch_values(value: str | None, enabled: bool) -> None:
    environ = {} if value is None else {ext.ENV_VAR: value}
    assert ext.env_enabled(environ) is enabled


class _FakeServerApp(LoggingConfigurable):
    """Just what ``_load_jupyter_server_extension`` uses of a ServerApp."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.web_app = tornado.web.Application(base_url="/")


@pytest.fixture
def kernel_ws_open(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real handler class, its ``open`` restored after the test."""
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    monkeypatch.setattr(KernelWebsocketHandler, "open", KernelWebsocketHandler.open)
    return KernelWebsocketHandler


def _load(caplog: pytest.LogCaptureFixture, config: Config, times: int = 1) -> _FakeServerApp:
    app = _FakeServerApp(config=config, log=logging.getLogger("fake-serverapp"))
    with caplog.at_level(logging.DEBUG, logger="fake-serverapp"):
        for _ in range(times):
            ext._load_jupyter_server_extension(app)
    return app


def test_loading_twice_wraps_and_logs_once(
    kernel_ws_open: Any, caplog: pytest.LogCaptureFixture
) -> None:
    original = kernel_ws_open.open
    app = _load(caplog, Config(), times=2)
    assert app.web_app.settings[ext.SETTINGS_KEY] is True
    assert kernel_ws_open.open.__wrapped__ is original
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and "TCP_NODELAY on kernel websockets (turn off" in infos[0]


def test_config_off_does_not_touch_the_handler(
    kernel_ws_open: Any, caplog: pytest.LogCaptureFixture
) -> None:
    original = kernel_ws_open.open
    config = Config({"PaintWidgetsNoDelay": {"enabled": False}})
    app = _load(caplog, config)
    assert app.web_app.settings[ext.SETTINGS_KEY] is False
    assert kernel_ws_open.open is original


def test_missing_handler_class_warns_and_does_nothing(
    kernel_ws_open: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = kernel_ws_open.open
    monkeypatch.setitem(sys.modules, "jupyter_server.services.kernels.websocket", None)
    app = _load(caplog, Config())
    assert app.web_app.settings[ext.SETTINGS_KEY] is False
    assert kernel_ws_open.open is original
    assert any(r.levelno == logging.WARNING for r in caplog.records)
