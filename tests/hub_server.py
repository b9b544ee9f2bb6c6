"""A small Hugging Face Hub-compatible HTTP server for offline tests.

The real ``huggingface_hub`` client talks to it (point ``huggingface_hub.constants.ENDPOINT``
at ``FakeHub.url``; the ``hub`` fixture in conftest.py does that). It serves the endpoints that
``hf_hub_download`` and ``HfApi.create_repo / create_branch / upload_folder / model_info`` use:

    HEAD/GET /{repo_id}/resolve/{revision}/{path}        file download (+ Range)
    POST     /api/repos/create                            create a model repository
    POST     /api/validate-yaml                           check a README.md's YAML metadata
    POST     /api/models/{repo_id}/branch/{branch}        create a branch
    POST     /api/models/{repo_id}/preupload/{revision}   upload modes ("regular" for every file)
    POST     /api/models/{repo_id}/commit/{revision}      ndjson commit (base64 "file" entries)
    GET      /api/models/{repo_id}[/revision/{revision}]  repository info

Errors carry the ``X-Error-Code`` header values that huggingface_hub maps to its exceptions:
``RepoNotFound`` -> RepositoryNotFoundError, ``RevisionNotFound`` -> RevisionNotFoundError,
``EntryNotFound`` -> (Remote)EntryNotFoundError. Every file is answered as a regular (non-LFS,
non-Xet) git file, so uploads go through the commit payload and no storage backend is needed.

Repositories live in memory as commits: a commit is a full snapshot {path: bytes}; branches and
tags point at commits. Tests may also write commits directly with ``FakeHub.commit``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

_REPO = r"(?P<repo>[^/]+(?:/[^/]+)?)"
_ROUTES = [
    ("resolve", re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")),
    ("create_repo", re.compile(r"^/api/repos/create$")),
    ("validate_yaml", re.compile(r"^/api/validate-yaml$")),
    ("repo_op", re.compile(rf"^/api/models/{_REPO}/(?P<op>preupload|commit|branch|revision)/(?P<rev>[^/]+)$")),
    ("repo_info", re.compile(rf"^/api/models/{_REPO}$")),
]
_COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(content: bytes) -> str:
    """The git object id of a file, which the Hub uses as ETag and oid of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class HubError(Exception):
    """An HTTP error answer: status, X-Error-Code (or None) and message."""

    def __init__(self, status: int, code: Optional[str], message: str, headers: Optional[Dict[str, str]] = None,
                 body: Optional[Dict[str, str]] = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.body = body or {}  # extra JSON fields of the answer


@dataclass
class Repo:
    commits: Dict[str, Dict[str, bytes]] = field(default_factory=dict)  # sha -> snapshot
    branches: Dict[str, str] = field(default_factory=dict)  # name -> sha
    tags: Dict[str, str] = field(default_factory=dict)
    history: List[str] = field(default_factory=list)  # commit shas, oldest first


class FakeHub:
    """In-memory Hub + its HTTP server on 127.0.0.1 (random port), started by ``start()``."""

    def __init__(self):
        self.repos: Dict[str, Repo] = {}
        self.requests: List[Tuple[str, str]] = []  # (method, path) of every request, in order
        self.auth_headers: List[Optional[str]] = []  # Authorization header of every request
        self.validated_cards: List[str] = []  # README.md contents sent to /api/validate-yaml
        self._lock = threading.RLock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeHub.start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.hub = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- repository state (also used directly by tests) ------------------------------------

    def create_repo(self, repo_id: str) -> Repo:
        """Create an empty repository with the Hub's initial commit (a .gitattributes file)."""
        with self._lock:
            if repo_id in self.repos:
                raise HubError(409, None, f"You already created this model repo: {repo_id}")
            self.repos[repo_id] = Repo()
            self.commit(repo_id, {".gitattributes": GITATTRIBUTES}, message="initial commit")
            return self.repos[repo_id]

    def commit(self, repo_id: str, files: Dict[str, bytes], *, branch: str = "main", message: str = "",
               deleted: Tuple[str, ...] = (), replace: bool = False) -> str:
        """Add a commit on ``branch`` that writes ``files`` (and removes ``deleted``); returns its sha.

        ``replace=True`` makes the snapshot exactly ``files`` (the parent's files are dropped).
        """
        with self._lock:
            repo = self.repos.get(repo_id) or self.create_repo(repo_id)
            parent = repo.branches.get(branch)
            snapshot = {} if replace or parent is None else dict(repo.commits[parent])
            for path in deleted:
                snapshot = {p: c for p, c in snapshot.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
            snapshot.update({p: bytes(c) for p, c in files.items()})
            digest = hashlib.sha1(f"{repo_id}\n{parent}\n{message}\n{len(repo.history)}".encode())
            for path in sorted(snapshot):
                digest.update(f"{path}\0{git_blob_sha1(snapshot[path])}\n".encode())
            sha = digest.hexdigest()
            repo.commits[sha] = snapshot
            repo.branches[branch] = sha
            repo.history.append(sha)
            return sha

    def upload_folder(self, repo_id: str, folder, **kwargs) -> str:
        """Commit every file of a local folder (test setup without going through the client)."""
        folder = Path(folder)
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return self.commit(repo_id, files, **kwargs)

    def resolve_revision(self, repo_id: str, revision: str) -> str:
        """Branch, tag or full commit sha -> commit sha; raises HubError like the Hub."""
        with self._lock:
            repo = self.repos.get(repo_id)
            if repo is None:
                raise HubError(404, "RepoNotFound", f"Repository not found: {repo_id}")
            if revision in repo.branches:
                return repo.branches[revision]
            if revision in repo.tags:
                return repo.tags[revision]
            if _COMMIT_HASH.match(revision) and revision in repo.commits:
                return revision
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def files(self, repo_id: str, revision: str = "main") -> Dict[str, bytes]:
        """The snapshot of ``repo_id`` at ``revision`` (a copy)."""
        with self._lock:
            return dict(self.repos[repo_id].commits[self.resolve_revision(repo_id, revision)])

    # ---- request handlers (called by _Handler, under the lock) --------------------------------

    def handle(self, method: str, route: str, params: Dict[str, str], body: bytes) -> Tuple[int, Dict[str, str], bytes]:
        with self._lock:
            if route == "resolve" and method in ("GET", "HEAD"):
                return self._resolve(params)
            if route == "create_repo" and method == "POST":
                return self._create_repo(json.loads(body or b"{}"))
            if route == "validate_yaml" and method == "POST":
                return self._validate_yaml(json.loads(body or b"{}"))
            if route == "repo_info" and method == "GET":
                return self._repo_info(params["repo"], "main")
            if route == "repo_op":
                op = params["op"]
                if op == "revision" and method == "GET":
                    return self._repo_info(params["repo"], params["rev"])
                if op == "preupload" and method == "POST":
                    return self._preupload(params["repo"], params["rev"], json.loads(body or b"{}"))
                if op == "commit" and method == "POST":
                    return self._commit(params["repo"], params["rev"], body)
                if op == "branch" and method == "POST":
                    return self._create_branch(params["repo"], params["rev"], json.loads(body or b"{}"))
            raise HubError(405, None, f"{method} is not supported on this path by the test Hub")

    def _resolve(self, params):
        repo_id, path = params["repo"], params["path"]
        sha = self.resolve_revision(repo_id, params["rev"])
        content = self.repos[repo_id].commits[sha].get(path)
        if content is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {params['rev']}",
                           headers={"X-Repo-Commit": sha})
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": f'"{git_blob_sha1(content)}"',
            "X-Repo-Commit": sha,
            "Accept-Ranges": "bytes",
        }
        return 200, headers, content

    def _create_repo(self, payload):
        name, org = payload.get("name"), payload.get("organization")
        if payload.get("type", "model") not in (None, "model"):
            raise HubError(400, None, "the test Hub only holds model repositories")
        repo_id = f"{org}/{name}" if org else name
        try:
            self.create_repo(repo_id)
        except HubError as err:  # the Hub's 409 answer carries the url (create_repo(exist_ok=True) reads it)
            err.body = {"url": f"{self.url}/{repo_id}"}
            raise
        return _json(200, {"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def _validate_yaml(self, payload):
        # upload_folder sends README.md here before uploading. Like the Hub: 400 for metadata that
        # is not a YAML mapping, a warning for a card without metadata.
        self.validated_cards.append(payload.get("content", ""))
        lines = payload.get("content", "").splitlines()
        if not lines or lines[0].strip() != "---":
            return _json(200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]})
        if "---" not in (line.strip() for line in lines[1:]):
            raise HubError(400, None, "the YAML metadata block of README.md is not closed by '---'")
        block = "\n".join(lines[1:[line.strip() for line in lines].index("---", 1)])
        try:
            import yaml  # a dependency of huggingface_hub itself

            metadata = yaml.safe_load(block)
        except ImportError:
            metadata = {}
        except yaml.YAMLError as exc:
            raise HubError(400, None, f"invalid YAML metadata in README.md: {exc}")
        if not isinstance(metadata, dict):
            raise HubError(400, None, "the YAML metadata of README.md must be a mapping")
        return _json(200, {"errors": [], "warnings": []})

    def _create_branch(self, repo_id, branch, payload):
        repo = self.repos.get(repo_id)
        if repo is None:
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_id}")
        if branch in repo.branches:
            raise HubError(409, None, f"Reference already exists: refs/heads/{branch}")
        repo.branches[branch] = self.resolve_revision(repo_id, payload.get("startingPoint") or "main")
        return _json(200, {})

    def _preupload(self, repo_id, revision, payload):
        # Files that already exist on the branch get their oid, so unchanged files are skipped.
        snapshot = self.repos[repo_id].commits[self.resolve_revision(repo_id, revision)]
        files = [{
            "path": f["path"],
            "uploadMode": "regular",
            "shouldIgnore": False,
            "oid": git_blob_sha1(snapshot[f["path"]]) if f["path"] in snapshot else None,
        } for f in payload.get("files", [])]
        return _json(200, {"files": files, "commitOid": self.repos[repo_id].branches.get(revision)})

    def _commit(self, repo_id, branch, body):
        if repo_id not in self.repos:
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_id}")
        repo = self.repos[repo_id]
        if branch not in repo.branches:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {branch} (commits go to a branch)")
        files, deleted, message = {}, [], ""
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value.get("summary", "")
                parent = value.get("parentCommit")
                if parent is not None and parent != repo.branches[branch]:
                    raise HubError(412, None, f"parentCommit {parent} is not the head of {branch}")
            elif key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, None, f"unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = base64.b64decode(value["content"])
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
            else:  # lfsFile: never asked for (preupload answers "regular" for every file)
                raise HubError(400, None, f"commit entry {key!r} is not supported by the test Hub")
        sha = self.commit(repo_id, files, branch=branch, message=message, deleted=tuple(deleted))
        return _json(200, {"success": True, "commitOid": sha, "commitUrl": f"{self.url}/{repo_id}/commit/{sha}",
                           "hookOutput": ""})

    def _repo_info(self, repo_id, revision):
        sha = self.resolve_revision(repo_id, revision)
        snapshot = self.repos[repo_id].commits[sha]
        return _json(200, {
            "id": repo_id, "modelId": repo_id, "sha": sha, "private": False, "disabled": False,
            "gated": False, "downloads": 0, "likes": 0, "tags": [],
            "siblings": [{"rfilename": path} for path in sorted(snapshot)],
        })


def _json(status: int, data) -> Tuple[int, Dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps client connections alive; every answer therefore carries Content-Length.
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: tests read FakeHub.requests instead
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        hub: FakeHub = self.server.hub  # type: ignore[attr-defined]
        body = self._body()
        path, route = urlsplit(self.path).path, None
        hub.requests.append((method, path))
        hub.auth_headers.append(self.headers.get("Authorization"))
        try:
            for route, pattern in _ROUTES:
                match = pattern.match(path)
                if match:
                    params = {k: unquote(v) for k, v in match.groupdict().items()}
                    status, headers, payload = hub.handle(method, route, params, body)
                    break
            else:
                raise HubError(404, None, f"no such endpoint on the test Hub: {path}")
        except HubError as err:
            status, payload = err.status, json.dumps({"error": err.message, **err.body}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
        if status == 200 and method in ("GET", "HEAD") and route == "resolve":
            status, headers, payload = self._apply_range(status, headers, payload)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def _apply_range(self, status, headers, payload):
        # A resumed download asks for "bytes=N-": answer 206 with the tail.
        spec = self.headers.get("Range", "")
        match = re.match(r"^bytes=(\d+)-(\d*)$", spec)
        if not match:
            return status, headers, payload
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else len(payload) - 1
        headers = {**headers, "Content-Range": f"bytes {start}-{end}/{len(payload)}"}
        return 206, headers, payload[start:end + 1]

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")
