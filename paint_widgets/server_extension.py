"""Jupyter server extension: TCP_NODELAY on kernel websockets.

Why: jupyter_server leaves Nagle's algorithm on for its kernel websockets (tornado's
default). A small comm message from the server to the browser (an ipycanvas draw
command, say) then waits for the browser's delayed ACK before it leaves the server.
Measured in JupyterLab 4.6 with headless Chromium, a bare ipycanvas drawing loop
echoed a stroke in p50 ~51 ms, ~45 ms of it on that one hop; with TCP_NODELAY on the
same loop measured p50 ~14 ms.

How: ``KernelWebsocketHandler.open`` (``jupyter_server.services.kernels.websocket``) is
wrapped once per process so that each new kernel websocket calls tornado's
``WebSocketHandler.set_nodelay(True)`` before the original ``open`` runs. The wrapper
acts only for servers whose ``web_app.settings`` carry :data:`SETTINGS_KEY`, which
this extension sets when it is enabled, so a server where it is off keeps Nagle on
even if another server in the same process has it on. Gateway kernels use the same
handler class and are covered; terminal and event websockets are left alone.

Off switches: ``c.PaintWidgetsNoDelay.enabled = False`` (or
``--PaintWidgetsNoDelay.enabled=False``) and ``PAINT_WIDGETS_TCP_NODELAY=0`` in the
server's environment. Either one turns it off.

Diagnostics: ``GET {base_url}paint_widgets/nodelay`` (authenticated) reports the
``TCP_NODELAY`` value read with ``getsockopt`` from each open kernel websocket.

This module is imported only by jupyter_server; Colab and VS Code run their kernels
without jupyter_server, so it never loads there.
"""

from __future__ import annotations

import functools
import os
import socket
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from traitlets import Bool
from traitlets.config import Configurable

SETTINGS_KEY = "paint_widgets_tcp_nodelay"
"""``web_app.settings`` key that turns the ``open`` wrapper on for one server."""

ENV_VAR = "PAINT_WIDGETS_TCP_NODELAY"
"""Environment variable; ``0``/``false``/``no``/``off`` turns the extension off."""

ENDPOINT = "paint_widgets/nodelay"
"""Debug endpoint, relative to the server's ``base_url``."""

_MARKER = "_paint_widgets_nodelay_wrapped"
_OFF_VALUES = frozenset({"0", "false", "no", "off"})

# Kernel websocket handlers seen by the wrapper, for the debug endpoint.
_HANDLERS: weakref.WeakSet[Any] = weakref.WeakSet()


class PaintWidgetsNoDelay(Configurable):
    """Configuration of the paint_widgets TCP_NODELAY server extension."""

    enabled = Bool(
        True,
        help=(
            "Set TCP_NODELAY on kernel websockets so small messages (widget and canvas "
            "updates) are not held back by Nagle's algorithm. The environment variable "
            f"{ENV_VAR}=0 also turns this off."
        ),
    ).tag(config=True)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Name this module as a jupyter_server extension (classic, function-based)."""
    return [{"module": "paint_widgets.server_extension"}]


def env_enabled(environ: dict[str, str] | None = None) -> bool:
    """False when :data:`ENV_VAR` is set to an off value (``0``, ``false``, ``no``, ``off``)."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return value.strip().lower() not in _OFF_VALUES


def _set_nodelay(handler: Any) -> None:
    """Set TCP_NODELAY on ``handler``'s socket if its server enabled the extension.

    Never raises: a websocket must open even if the option cannot be set.
    """
    _HANDLERS.add(handler)
    try:
        if handler.settings.get(SETTINGS_KEY):
            handler.set_nodelay(True)
    except Exception:  # the websocket must open even if the option cannot be set
        handler.log.debug("paint_widgets: could not set TCP_NODELAY", exc_info=True)


def wrap_open(handler_class: type) -> bool:
    """Wrap ``handler_class.open`` to call :func:`_set_nodelay` first.

    Idempotent: returns False (and changes nothing) if the class's ``open`` is
    already wrapped, True when it wraps it now.
    """
    original: Callable[..., Any] = handler_class.open  # type: ignore[attr-defined]
    if getattr(original, _MARKER, False):
        return False

    @functools.wraps(original)
    def open(self: Any, *args: Any, **kwargs: Any) -> Any:
        _set_nodelay(self)
        # ``open`` may be a coroutine function; tornado awaits what it returns.
        return original(self, *args, **kwargs)

    setattr(open, _MARKER, True)
    handler_class.open = open  # type: ignore[attr-defined]
    return True


def socket_nodelay(handler: Any) -> int | None:
    """TCP_NODELAY of ``handler``'s websocket socket via ``getsockopt`` (None if closed)."""
    try:
        sock = handler.ws_connection.stream.socket
        return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except Exception:  # closed, detached or non-TCP socket
        return None


def _open_kernel_handlers(web_app: Any, connection_class: Any) -> Iterator[Any]:
    """Open kernel websocket handlers of ``web_app``.

    Uses the handlers seen by the wrapper and, so that the endpoint also works while
    the extension is off, the connection class's ``_open_sockets`` registry when it
    has one (jupyter_server's default ``ZMQChannelsWebsocketConnection`` does).
    """
    seen: set[int] = set()
    candidates = list(_HANDLERS)
    for connection in list(getattr(connection_class, "_open_sockets", ()) or ()):
        candidates.append(getattr(connection, "websocket_handler", None))
    for handler in candidates:
        if handler is None or id(handler) in seen:
            continue
        seen.add(id(handler))
        if getattr(handler, "application", None) is web_app and handler.ws_connection:
            yield handler


def _make_status_handler() -> type:
    """Build the debug handler class (imports jupyter_server only when loaded by it)."""
    from jupyter_server.auth.decorator import authorized
    from jupyter_server.base.handlers import APIHandler
    from tornado import web

    class NoDelayStatusHandler(APIHandler):
        """``GET`` -> ``{"enabled": bool, "websockets": [{"kernel_id", "tcp_nodelay"}]}``."""

        auth_resource = "kernels"

        @web.authenticated
        @authorized("read")
        def get(self) -> None:
            connection_class = self.settings.get("kernel_websocket_connection_class")
            websockets = [
                {"kernel_id": getattr(h, "kernel_id", None), "tcp_nodelay": socket_nodelay(h)}
                for h in _open_kernel_handlers(self.application, connection_class)
            ]
            enabled = bool(self.settings.get(SETTINGS_KEY))
            self.finish({"enabled": enabled, "websockets": websockets})

    return NoDelayStatusHandler


def _add_status_handler(web_app: Any, log: Any) -> None:
    """Register the debug endpoint; failure only costs the diagnostics."""
    try:
        from jupyter_server.utils import url_path_join

        route = url_path_join(web_app.settings.get("base_url", "/"), ENDPOINT)
        web_app.add_handlers(".*$", [(route, _make_status_handler())])
    except Exception as exc:
        log.warning("paint_widgets: debug endpoint %s not registered: %s", ENDPOINT, exc)


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Turn TCP_NODELAY on for ``serverapp``'s kernel websockets unless switched off.

    Logs one line saying which. Idempotent per server (a second load does nothing).
    Never raises into the server: any failure is logged as a warning and the server
    runs as it would without the extension.
    """
    log = serverapp.log
    try:
        web_app = serverapp.web_app
        if SETTINGS_KEY in web_app.settings:
            # Enabled under two names ("paint_widgets" and this module): act once.
            log.debug("paint_widgets: TCP_NODELAY extension already loaded")
            return
        web_app.settings[SETTINGS_KEY] = False  # until the wrapper is in place
        _add_status_handler(web_app, log)

        by_config = PaintWidgetsNoDelay(parent=serverapp).enabled
        if not by_config or not env_enabled():
            why = "PaintWidgetsNoDelay.enabled=False" if not by_config else f"{ENV_VAR}=0"
            log.info("paint_widgets: TCP_NODELAY on kernel websockets is off (%s)", why)
            return

        try:
            from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
        except ImportError as exc:
            log.warning(
                "paint_widgets: kernel websocket handler not found, TCP_NODELAY not set: %s", exc
            )
            return

        wrap_open(KernelWebsocketHandler)
        web_app.settings[SETTINGS_KEY] = True
        log.info(
            "paint_widgets: TCP_NODELAY on kernel websockets (turn off with "
            "c.PaintWidgetsNoDelay.enabled = False or %s=0)",
            ENV_VAR,
        )
    except Exception as exc:  # never break the server
        log.warning("paint_widgets: TCP_NODELAY extension not active: %s", exc)
