"""A stand-in for the Hugging Face Hub on 127.0.0.1, so tests run huggingface_hub's real download code.

It serves local folders as model repos, with what ``snapshot_download`` and
``hf_hub_download`` (huggingface_hub 2.x) ask for:

- ``GET /api/models/{repo}[/revision/{rev}]``: the repo's commit (``sha``) and files (``siblings``);
- ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the recursive file listing;
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: the file, with ``ETag`` (its sha256),
  ``X-Repo-Commit`` and ``Content-Length``; a ``Range: bytes=N-`` request gets a 206.

Errors carry the Hub's ``X-Error-Code`` header, which huggingface_hub maps to its
exceptions: an unknown repo answers 404 ``RepoNotFound``; a gated repo (``gated=``) lists
its files like the real Hub but answers 401 ``GatedRepo`` for their contents; a missing
file 404 ``EntryNotFound``. :meth:`HubServer.drop_after` makes the next download of a
file stop after N bytes (the connection drops), to test resuming. Every request is
recorded in :attr:`HubServer.requests`. Point ``HF_ENDPOINT`` at :attr:`HubServer.url`.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Request:
    """One request the server answered: method, path (no query), the Range header if any."""

    method: str
    path: str
    range: str | None = None


class HubServer:
    """``with HubServer({"org/name": folder}) as hub: ...``; ``hub.url`` is the endpoint."""

    def __init__(self, repos: Mapping[str, str | Path] | None = None, *, gated: Iterable[str] = ()) -> None:
        self.repos = {repo: Path(folder) for repo, folder in (repos or {}).items()}
        self.gated = set(gated)
        self.requests: list[Request] = []
        self._drops: dict[tuple[str, str], int] = {}
        self._hashes: dict[tuple[Path, int, int], str] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="hub-server", daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def drop_after(self, repo_id: str, path: str, nbytes: int) -> None:
        """The next GET of ``path`` sends ``nbytes`` of it, then drops the connection (once)."""
        with self._lock:
            self._drops[(repo_id, path)] = nbytes

    def fetched(self, repo_id: str) -> list[str]:
        """Paths of ``repo_id`` whose contents were sent (``GET .../resolve/...``), in order."""
        prefix = f"/{repo_id}/resolve/"
        return [r.path[len(prefix):].split("/", 1)[1] for r in self.requests
                if r.method == "GET" and r.path.startswith(prefix)]

    # ------------------------------------------------------------------ repo contents

    def files(self, repo_id: str) -> dict[str, Path]:
        """``{path in repo: file}``; hidden files and folders are not part of a repo."""
        root = self.repos[repo_id]
        out = {}
        for file in sorted(root.rglob("*")):
            rel = file.relative_to(root)
            if file.is_file() and not any(part.startswith(".") for part in rel.parts):
                out[rel.as_posix()] = file
        return out

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = (file, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._hashes.get(key)
        if known is None:
            known = hashlib.sha256(file.read_bytes()).hexdigest()
            with self._lock:
                self._hashes[key] = known
        return known

    def commit(self, repo_id: str) -> str:
        """A 40-hex commit id that changes when any file does."""
        digest = hashlib.sha1(repo_id.encode())
        for path, file in self.files(repo_id).items():
            digest.update(f"{path}\0{self.sha256(file)}\0".encode())
        return digest.hexdigest()

    def _take_drop(self, repo_id: str, path: str) -> int | None:
        with self._lock:
            return self._drops.pop((repo_id, path), None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away is no error
            super().handle_error(request, client_address)


def _git_oid(file: Path) -> str:
    data = file.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """Answers one request for :class:`HubServer` (``server_hub`` is set by a subclass)."""

    server_hub: HubServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: tests check what was printed

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    # ------------------------------------------------------------------ routing

    def _answer(self, *, head: bool) -> None:
        hub = self.server_hub
        path = unquote(urlsplit(self.path).path)
        hub.requests.append(Request(self.command, path, self.headers.get("Range")))
        parts = path.strip("/").split("/")
        try:
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                self._api(f"{parts[2]}/{parts[3]}", parts[4:])
            elif len(parts) >= 5 and parts[2] == "resolve":
                self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head=head)
            else:
                self._error(404, "EntryNotFound", "Not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _known(self, repo_id: str, revision: str | None) -> bool:
        hub = self.server_hub
        if repo_id not in hub.repos:
            self._error(404, "RepoNotFound", "Repository not found")
            return False
        if revision is not None and revision not in ("main", hub.commit(repo_id)):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return False
        return True

    def _api(self, repo_id: str, rest: list[str]) -> None:
        hub = self.server_hub
        if rest and rest[0] == "tree" and len(rest) >= 2:
            if not self._known(repo_id, rest[1]):
                return
            under = "/".join(rest[2:])
            self._json(_tree(hub, repo_id, under))
            return
        if rest and (rest[0] != "revision" or len(rest) != 2):
            self._error(404, "EntryNotFound", "Not found")
            return
        if not self._known(repo_id, rest[1] if rest else None):
            return
        files = hub.files(repo_id)
        self._json({
            "_id": hub.commit(repo_id)[:24], "id": repo_id, "modelId": repo_id, "sha": hub.commit(repo_id),
            "private": False, "disabled": False, "gated": "manual" if repo_id in hub.gated else False,
            "siblings": [_sibling(hub, path, file) for path, file in files.items()],
        })

    def _resolve(self, repo_id: str, revision: str, path: str, *, head: bool) -> None:
        hub = self.server_hub
        if not self._known(repo_id, revision):
            return
        if repo_id in hub.gated:
            self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it "
                        "and be authenticated to access it. Please log in.")
            return
        file = hub.files(repo_id).get(path)
        if file is None:
            self._error(404, "EntryNotFound", f"{path} does not exist on \"main\"", commit=hub.commit(repo_id))
            return
        data = file.read_bytes()
        start = _range_start(self.headers.get("Range"), len(data))
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{hub.sha256(file)}"')
        self.send_header("X-Repo-Commit", hub.commit(repo_id))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        drop = hub._take_drop(repo_id, path)
        if drop is not None and drop < len(body):
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: the client sees a broken download
            self.close_connection = True
            return
        self.wfile.write(body)

    # ------------------------------------------------------------------ answers

    def _json(self, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, *, commit: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _range_start(header: str | None, size: int) -> int:
    """``bytes=N-`` (or ``bytes=N-M``, served to the end) -> N; 0 if absent or not understood."""
    if not header or not header.startswith("bytes="):
        return 0
    first = header[len("bytes="):].split(",")[0].split("-")[0].strip()
    return int(first) if first.isdigit() and int(first) < size else 0


def _lfs(hub: HubServer, path: str, file: Path) -> dict | None:
    if not path.endswith((".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack")):
        return None
    return {"oid": hub.sha256(file), "size": file.stat().st_size, "pointerSize": 134}


def _sibling(hub: HubServer, path: str, file: Path) -> dict:
    entry: dict = {"rfilename": path, "size": file.stat().st_size, "blobId": _git_oid(file)}
    lfs = _lfs(hub, path, file)
    if lfs is not None:
        entry["lfs"] = {"sha256": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]}
    return entry


def _tree(hub: HubServer, repo_id: str, under: str) -> list[dict]:
    prefix = f"{under.strip('/')}/" if under.strip("/") else ""
    entries: list[dict] = []
    folders: set[str] = set()
    for path, file in hub.files(repo_id).items():
        if not path.startswith(prefix):
            continue
        for i in range(prefix.count("/"), path.count("/")):
            folders.add("/".join(path.split("/")[: i + 1]))
        entry: dict = {"type": "file", "oid": _git_oid(file), "size": file.stat().st_size, "path": path}
        lfs = _lfs(hub, path, file)
        if lfs is not None:
            entry["lfs"] = lfs
        entries.append(entry)
    oid = hashlib.sha1(repo_id.encode()).hexdigest()
    return [{"type": "directory", "oid": oid, "path": f} for f in sorted(folders)] + entries
