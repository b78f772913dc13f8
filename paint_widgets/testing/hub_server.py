"""A stand-in for the Hugging Face Hub on 127.0.0.1, so tests run huggingface_hub's real download code.

It serves local folders as model repos, with what ``snapshot_download`` and
``hf_hub_download`` (huggingface_hub 2.x) ask for:

- ``GET /api/models/{repo}[/revision/{rev}]``: the repo's commit (``sha``) and files (``siblings``);
- ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the recursive file listing;
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: the file, with ``ETag`` (its sha256),
  ``X-Repo-Commit`` and ``Content-Length``; a ``Range: bytes=N-`` request gets a 206;
- ``GET /api/models/{repo}/discussions``: its discussions and pull requests (:class:`PullRequest`),
  newest first, a page at a time (``?p=N``; ``count``/``start``/``discussions``, as
  ``HfApi.get_repo_discussions`` pages through them), filtered by ``type``/``status``/``author``;
- ``GET /api/models/{repo}/commits/{rev}``: the history of a revision, newest first (one page).

A revision is ``main``, a pull request's ``refs/pr/N`` (the client sends it as
``refs%2Fpr%2FN``) or either's commit id. A pull request's tree is main's files with the
pull request's own files added (or replacing main's); its commit sits on top of main's
head, or of another commit (``parent=``: a pull request opened before main moved on).

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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CONVERSION_TITLE = "Adding `safetensors` variant of this model"
CONVERSION_BOT = "SFconvertbot"


@dataclass(frozen=True)
class Request:
    """One request the server answered: method, path (no query), the Range header if any."""

    method: str
    path: str
    range: str | None = None


@dataclass(frozen=True)
class PullRequest:
    """A pull request (or, with ``pull_request=False``, a plain discussion) of a repo.

    ``files`` maps paths in the repo to local files the pull request adds (or replaces).
    By default it is the safetensors conversion bot's pull request, open, based on
    main's head; ``parent`` names another base commit (a stale pull request).
    """

    num: int
    files: Mapping[str, str | Path] = field(default_factory=dict)
    author: str = CONVERSION_BOT
    title: str = CONVERSION_TITLE
    status: str = "open"  # "open" | "closed" | "merged" | "draft"
    parent: str | None = None  # the commit it was opened on; None: main's head
    pull_request: bool = True


@dataclass(frozen=True)
class _Revision:
    commit: str
    files: dict[str, Path]
    history: list[tuple[str, str, str]]  # (commit, title, author), newest first
    name: str


_INITIAL_COMMIT_AUTHOR = "system"


class HubServer:
    """``with HubServer({"org/name": folder}) as hub: ...``; ``hub.url`` is the endpoint."""

    discussions_per_page = 50  # as the Hub; a test may lower it to see the client page through

    def __init__(self, repos: Mapping[str, str | Path] | None = None, *, gated: Iterable[str] = (),
                 pulls: Mapping[str, Iterable[PullRequest]] | None = None) -> None:
        self.repos = {repo: Path(folder) for repo, folder in (repos or {}).items()}
        self.gated = set(gated)
        self.pulls = {repo: sorted(prs, key=lambda pr: -pr.num) for repo, prs in (pulls or {}).items()}
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
        return f"http://{host!s}:{port}"  # an IPv4 server: host is a str

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

    def fetched(self, repo_id: str, revision: str | None = None) -> list[str]:
        """Paths of ``repo_id`` whose contents were sent (``GET .../resolve/...``), in order;
        with ``revision`` (a name or a commit), only those of that revision."""
        prefix = f"/{repo_id}/resolve/"
        want = None if revision is None else self.commit(repo_id, revision)
        out = []
        for r in self.requests:
            if r.method != "GET" or not r.path.startswith(prefix):
                continue
            rev, path = _split_revision(r.path[len(prefix):].split("/"))
            if want is None or self._commit_of(repo_id, rev) == want:
                out.append("/".join(path))
        return out

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

    def commit(self, repo_id: str, revision: str = "main") -> str:
        """The 40-hex commit of ``revision`` (main's changes when any file does); KeyError if unknown."""
        found = self.revision(repo_id, revision)
        if found is None:
            raise KeyError(f"{repo_id} has no revision {revision}")
        return found.commit

    def _main_commit(self, repo_id: str) -> str:
        digest = hashlib.sha1(repo_id.encode())
        for path, file in self.files(repo_id).items():
            digest.update(f"{path}\0{self.sha256(file)}\0".encode())
        return digest.hexdigest()

    def _commit_of(self, repo_id: str, revision: str) -> str | None:
        found = self.revision(repo_id, revision)
        return None if found is None else found.commit

    def revision(self, repo_id: str, revision: str | None = "main") -> _Revision | None:
        """``main``, ``refs/pr/N`` or a commit of either: its commit, files and history; None if unknown."""
        main = self._main_commit(repo_id)
        initial = hashlib.sha1(f"{repo_id}\0initial".encode()).hexdigest()
        if revision in (None, "main", main):
            history = [(main, "Upload model", "org"), (initial, "initial commit", _INITIAL_COMMIT_AUTHOR)]
            return _Revision(main, self.files(repo_id), history, "main")
        for pr in self.pulls.get(repo_id, ()):
            if not pr.pull_request:
                continue
            parent = pr.parent or main
            digest = hashlib.sha1(f"{repo_id}\0pr\0{pr.num}\0{parent}\0".encode())
            added = {path: Path(file) for path, file in sorted(pr.files.items())}
            for path, file in added.items():
                digest.update(f"{path}\0{self.sha256(file)}\0".encode())
            commit = digest.hexdigest()
            if revision in (f"refs/pr/{pr.num}", commit):
                history = [(commit, pr.title, pr.author), (parent, "Upload model", "org"),
                           (initial, "initial commit", _INITIAL_COMMIT_AUTHOR)]
                return _Revision(commit, {**self.files(repo_id), **added}, history, f"refs/pr/{pr.num}")
        return None

    def _take_drop(self, repo_id: str, path: str) -> int | None:
        with self._lock:
            return self._drops.pop((repo_id, path), None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
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
        url = urlsplit(self.path)
        hub.requests.append(Request(self.command, unquote(url.path), self.headers.get("Range")))
        parts = [unquote(p) for p in url.path.strip("/").split("/")]  # "refs%2Fpr%2F5" stays one part
        try:
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                self._api(f"{parts[2]}/{parts[3]}", parts[4:], parse_qs(url.query))
            elif len(parts) >= 5 and parts[2] == "resolve":
                revision, rest = _split_revision(parts[3:])
                self._resolve(f"{parts[0]}/{parts[1]}", revision, "/".join(rest), head=head)
            else:
                self._error(404, "EntryNotFound", "Not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _known(self, repo_id: str, revision: str | None) -> _Revision | None:
        hub = self.server_hub
        if repo_id not in hub.repos:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        found = hub.revision(repo_id, revision)
        if found is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return found

    def _api(self, repo_id: str, rest: list[str], query: dict[str, list[str]]) -> None:
        hub = self.server_hub
        if rest and rest[0] in ("tree", "commits") and len(rest) >= 2:
            revision, under = _split_revision(rest[1:])
            found = self._known(repo_id, revision)
            if found is None:
                return
            if rest[0] == "tree":
                self._json(_tree(hub, repo_id, found.files, "/".join(under)))
            else:
                self._json([_commit_entry(commit, title, author) for commit, title, author in found.history])
            return
        if rest == ["discussions"]:
            if repo_id not in hub.repos:
                self._error(404, "RepoNotFound", "Repository not found")
                return
            self._json(_discussions(hub, repo_id, query))
            return
        named: str | None = None  # /api/models/{repo}: main
        if rest:
            named, extra = _split_revision(rest[1:]) if rest[0] == "revision" and len(rest) >= 2 else ("", rest)
            if extra:
                self._error(404, "EntryNotFound", "Not found")
                return
        found = self._known(repo_id, named)
        if found is None:
            return
        self._json({
            "_id": found.commit[:24], "id": repo_id, "modelId": repo_id, "sha": found.commit,
            "private": False, "disabled": False, "gated": "manual" if repo_id in hub.gated else False,
            "siblings": [_sibling(hub, path, file) for path, file in found.files.items()],
        })

    def _resolve(self, repo_id: str, revision: str, path: str, *, head: bool) -> None:
        hub = self.server_hub
        found = self._known(repo_id, revision)
        if found is None:
            return
        if repo_id in hub.gated:
            self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it "
                        "and be authenticated to access it. Please log in.")
            return
        file = found.files.get(path)
        if file is None:
            self._error(404, "EntryNotFound", f"{path} does not exist on \"{found.name}\"", commit=found.commit)
            return
        data = file.read_bytes()
        start = _range_start(self.headers.get("Range"), len(data))
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{hub.sha256(file)}"')
        self.send_header("X-Repo-Commit", found.commit)
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


def _split_revision(parts: list[str]) -> tuple[str, list[str]]:
    """``(revision, the rest)`` of path parts that start with a revision; an unquoted
    ``refs/pr/N`` (three parts) is taken as one revision."""
    if len(parts) >= 3 and parts[0] == "refs" and parts[1] == "pr":
        return "/".join(parts[:3]), parts[3:]
    return (parts[0], parts[1:]) if parts else ("", [])


_DATE = "2024-01-01T00:00:00.000Z"


def _commit_entry(commit: str, title: str, author: str) -> dict:
    return {"id": commit, "title": title, "message": "", "date": _DATE,
            "authors": [{"user": author, "avatar": ""}]}


def _discussions(hub: HubServer, repo_id: str, query: dict[str, list[str]]) -> dict:
    """One page (``?p=N``) of the repo's discussions, newest first, as the Hub pages them."""
    kind, status, author = (query.get(k, ["all"])[0] for k in ("type", "status", "author"))
    chosen = []
    for pr in hub.pulls.get(repo_id, ()):
        if (kind == "pull_request" and not pr.pull_request) or (kind == "discussion" and pr.pull_request):
            continue
        if (status == "open" and pr.status != "open") or (status == "closed" and pr.status == "open"):
            continue
        if author != "all" and pr.author != author:
            continue
        chosen.append(pr)
    page = int(query.get("p", ["0"])[0] or 0)
    size = max(1, hub.discussions_per_page)
    start = page * size
    return {
        "count": len(chosen), "start": start, "numClosedDiscussions": sum(pr.status != "open" for pr in chosen),
        "discussions": [{
            "num": pr.num, "title": pr.title, "status": pr.status, "isPullRequest": pr.pull_request,
            "createdAt": _DATE, "author": {"name": pr.author, "type": "user"},
            "repo": {"name": repo_id, "type": "model"}, "numComments": 1, "pinned": False,
        } for pr in chosen[start:start + size]],
    }


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


def _tree(hub: HubServer, repo_id: str, files: Mapping[str, Path], under: str) -> list[dict]:
    prefix = f"{under.strip('/')}/" if under.strip("/") else ""
    entries: list[dict] = []
    folders: set[str] = set()
    for path, file in sorted(files.items()):
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


def point_huggingface_hub_at(server: HubServer, home: str | Path, patch: Any) -> None:
    """Send this process' huggingface_hub to ``server``: online, an empty cache in ``home``, no token.

    ``patch`` is pytest's ``monkeypatch`` (anything with ``setattr``/``delenv``), so
    everything is restored after the test. huggingface_hub reads its environment into
    ``huggingface_hub.constants`` at import, so those are patched (the URL template is
    built from the endpoint then, so it is patched too). Connections anywhere but
    127.0.0.1 fail the test.
    """
    from huggingface_hub import constants

    home = Path(home)
    for name, value in {
        "ENDPOINT": server.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": server.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": False,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
    }.items():
        patch.setattr(constants, name, value)
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        patch.delenv(var, raising=False)
    only_localhost(patch)


def only_localhost(patch: Any) -> None:
    """Make any connection to an address other than 127.0.0.1 / ::1 fail (``patch``: monkeypatch)."""
    real = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"a test tried to connect to {address}")
        return real(self, address)

    patch.setattr(socket.socket, "connect", connect)

