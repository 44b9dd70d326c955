"""A local Hugging Face Hub for tests: the real `huggingface_hub` and `transformers` clients talk to it over loopback.

It implements the wire protocol those clients (huggingface_hub 2.4, transformers 5.24) use to create model repos,
upload (preupload, Git LFS batch/upload/verify, NDJSON commit) and download (HEAD/GET `resolve`), with real commits:
every commit has its own sha and file set, branches point at commits, and any revision can be read back. Regular
files and LFS objects live on disk under the server's root. Private repos are readable by their owner only. Any
request it does not implement gets a 501, is logged and is recorded in `LocalHub.unhandled`, so gaps are visible.
Every request is recorded in `LocalHub.requests` ("METHOD /path"). Faults for client tests: `hub.fail(method, path,
status, times)` answers matching requests with an error status, `hub.stall(method, path, times)` never answers them
(until the server closes), and `hub.close()` leaves a closed port behind.

Use the `local_hub` fixture (import it into a test module: `from local_hub import local_hub`). It points this
process's huggingface_hub at the server and sets the environment (HF_ENDPOINT, HF_TOKEN, ...) so that subprocesses
(`hf upload`, `mde-hub push`, a training script) reach it too; `hub.environ()` is that environment as a dict.
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import hashlib
import json
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

logger = logging.getLogger("local_hub")

REGULAR_FILE_LIMIT = 10 * 1024 * 1024  # the Hub refuses larger files outside LFS
GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in ("*.bin", "*.h5", "*.npy", "*.onnx", "*.pt", "*.pth", "*.safetensors", "*.zip", "*tfevents*")
)
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


def git_blob_id(content: bytes) -> str:
    """The git object id of a blob: sha1 over the header and the content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclasses.dataclass
class Fault:
    """Matching requests (`method`, `path` a regex over the URL path) get HTTP `status`, or no answer when `status`
    is None; `times` of them (None: all)."""

    method: str
    path: str
    status: int | None
    times: int | None

    def take(self, method: str, path: str) -> bool:
        """Whether this fault hits the request, counting it."""
        if method != self.method or not re.fullmatch(self.path, path) or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


class HubError(Exception):
    """An error answer: HTTP status, message and the Hub's X-Error-Code when it sends one."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclasses.dataclass(frozen=True)
class HubFile:
    """One file of a commit: a regular git blob, or an LFS object (`lfs_oid` = sha256 of the content)."""

    path: str
    size: int
    blob_id: str  # git blob id: of the content, or of the LFS pointer file for LFS files
    lfs_oid: str | None = None

    @property
    def pointer_size(self) -> int:
        return len(LFS_POINTER.format(oid=self.lfs_oid, size=self.size))


@dataclasses.dataclass(frozen=True)
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, HubFile]


@dataclasses.dataclass
class Repo:
    repo_id: str
    owner: str
    private: bool
    created: str
    branches: dict[str, str] = dataclasses.field(default_factory=dict)
    commits: dict[str, Commit] = dataclasses.field(default_factory=dict)

    def resolve(self, revision: str) -> Commit:
        """The commit a branch name or full commit sha names, else RevisionNotFound."""
        sha = self.branches.get(revision, revision)
        if sha not in self.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return self.commits[sha]

    def history(self, revision: str) -> list[Commit]:
        commit, history = self.resolve(revision), []
        while commit is not None:
            history.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return history


class HubStore:
    """Repos, commits and file contents; thread-safe and independent of HTTP."""

    def __init__(self, root: Path):
        self.blobs, self.lfs = root / "blobs", root / "lfs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.lfs.mkdir(parents=True, exist_ok=True)
        self.repos: dict[str, Repo] = {}
        self.lock = threading.RLock()

    def create_repo(self, repo_id: str, owner: str, private: bool) -> Repo:
        with self.lock:
            if repo_id in self.repos:
                raise HubError(409, "You already created this model repo")
            repo = self.repos[repo_id] = Repo(repo_id, owner, private, _now())
            self.commit(repo, "main", owner, "initial commit", "", [("file", ".gitattributes", GITATTRIBUTES.encode())])
            return repo

    def has_lfs_object(self, oid: str, size: int) -> bool:
        path = self.lfs / oid
        return path.is_file() and path.stat().st_size == size

    def store_lfs_object(self, oid: str, size: int, content: bytes) -> None:
        if len(content) != size or hashlib.sha256(content).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not match oid {oid} and size {size}")
        (self.lfs / oid).write_bytes(content)

    def read(self, entry: HubFile) -> bytes:
        return ((self.lfs / entry.lfs_oid) if entry.lfs_oid else (self.blobs / entry.blob_id)).read_bytes()

    def commit(self, repo: Repo, branch: str, author: str, title: str, message: str, operations: list[tuple],
               parent_commit: str | None = None) -> Commit:
        """Apply ("file", path, bytes), ("lfsFile", path, oid, size), ("deletedFile"|"deletedFolder", path) on `branch`."""
        with self.lock:
            parent = repo.branches.get(branch)
            if repo.branches and parent is None:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if parent_commit is not None and parent_commit != parent:
                raise HubError(412, f"A commit has happened since {parent_commit}: the head of {branch} is {parent}")
            files = dict(repo.commits[parent].files) if parent else {}
            for kind, path, *value in operations:
                files = self._apply(files, kind, _checked_path(path), *value)
            listing = json.dumps([parent, title, message, sorted((p, f.blob_id) for p, f in files.items())])
            sha = hashlib.sha1(listing.encode()).hexdigest()
            repo.commits[sha] = Commit(sha, parent, title, message, author, _now(), files)
            repo.branches[branch] = sha
            return repo.commits[sha]

    def _apply(self, files: dict[str, HubFile], kind: str, path: str, *value) -> dict[str, HubFile]:
        if kind == "file":
            (content,) = value
            if len(content) > REGULAR_FILE_LIMIT or _is_binary(content[:512]):
                raise HubError(400, f"Your push was rejected: {path} is large or binary and must be stored with LFS")
            blob_id = git_blob_id(content)
            (self.blobs / blob_id).write_bytes(content)
            return {**files, path: HubFile(path, len(content), blob_id)}
        if kind == "lfsFile":
            oid, size = value
            if not self.has_lfs_object(oid, size):
                raise HubError(400, f"Your push was rejected: LFS object {oid} of {path} ({size} bytes) was never uploaded")
            blob_id = git_blob_id(LFS_POINTER.format(oid=oid, size=size).encode())
            return {**files, path: HubFile(path, size, blob_id, oid)}
        if kind == "deletedFile":
            if path not in files:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            return {p: f for p, f in files.items() if p != path}
        if kind == "deletedFolder":
            return {p: f for p, f in files.items() if not p.startswith(path.rstrip("/") + "/")}
        raise HubError(400, f"Unknown commit operation {kind!r}")


def _checked_path(path: str) -> str:
    parts = path.rstrip("/").split("/")
    if path.startswith("/") or "" in parts or ".." in parts or ".git" in parts:
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


def _is_binary(sample: bytes) -> bool:
    return b"\0" in sample


def _tracked_by_lfs(path: str, gitattributes: str) -> bool:
    patterns = [line.split()[0] for line in gitattributes.splitlines() if "filter=lfs" in line.split()[1:]]
    return any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) or fnmatch.fnmatch(path, p) for p in patterns)


def _tree_entry(entry: HubFile) -> dict:
    item = {"type": "file", "oid": entry.blob_id, "size": entry.size, "path": entry.path}
    if entry.lfs_oid:
        item["lfs"] = {"oid": entry.lfs_oid, "size": entry.size, "pointerSize": entry.pointer_size}
    return item


def _folder_entry(path: str, commit: Commit) -> dict:
    tree_id = hashlib.sha1(f"{commit.sha}:{path}".encode()).hexdigest()
    return {"type": "directory", "oid": tree_id, "size": 0, "path": path}


class HubRequestHandler(BaseHTTPRequestHandler):
    """Routes Hub API, LFS and resolve requests to the `LocalHub` that owns the server."""

    protocol_version = "HTTP/1.1"
    server: "_Server"

    ROUTES = [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("GET", r"/api/agent-harnesses", "agent_harnesses"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", rf"/api/models/{REPO}", "repo_info"),
        ("GET", rf"/api/models/{REPO}/revision/(?P<rev>[^/]+)", "repo_info"),
        ("GET", rf"/api/models/{REPO}/refs", "refs"),
        ("GET", rf"/api/models/{REPO}/commits/(?P<rev>[^/]+)", "commits"),
        ("GET", rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?", "tree"),
        ("POST", rf"/api/models/{REPO}/paths-info/(?P<rev>[^/]+)", "paths_info"),
        ("POST", rf"/api/models/{REPO}/branch/(?P<branch>[^/]+)", "create_branch"),
        ("DELETE", rf"/api/models/{REPO}/branch/(?P<branch>[^/]+)", "delete_branch"),
        ("POST", rf"/api/models/{REPO}/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", rf"/api/models/{REPO}/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", rf"/{REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
        ("POST", rf"/{REPO}\.git/info/lfs/objects/verify", "lfs_verify"),
        ("PUT", r"/lfs-upload/(?P<ticket>[\w-]+)", "lfs_upload"),
        ("HEAD", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("GET", rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ]

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # --- plumbing -------------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.body = self._read_body()
        hub = self.server.hub
        hub.requests.append(f"{self.command} {url.path}")
        fault = hub.fault_for(self.command, url.path)
        if fault is not None and fault.status is None:
            hub.closing.wait()  # a stalled server: no answer until it closes
            self.close_connection = True
            return
        try:
            if fault is not None:
                raise HubError(fault.status, f"local_hub fault injected: HTTP {fault.status}")
            for method, pattern, name in self.ROUTES:
                match = re.fullmatch(pattern, url.path)
                if method == self.command and match:
                    params = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                    getattr(self, name)(**params)
                    return
            self.server.hub.record_unhandled(f"{self.command} {self.path}")
            raise HubError(501, f"local_hub does not implement {self.command} {url.path}")
        except Exception as error:  # a bug here must reach the client as an answer, not as a dropped connection
            if not isinstance(error, HubError):
                logger.exception("local_hub: %s %s failed", self.command, self.path)
                error = HubError(500, f"local_hub failed on {self.command} {url.path}: {error!r}")
            one_line = " ".join(error.message.split()).encode("latin-1", "replace").decode("latin-1")
            headers = {"X-Error-Message": one_line, **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._send_json({"error": error.message}, error.status, headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, payload, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def _json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError as error:
            raise HubError(400, f"Malformed JSON body: {error}") from None

    def _user(self) -> str | None:
        """The token's user; None without an Authorization header; 401 for a token the Hub does not know."""
        authorization = self.headers.get("Authorization")
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        user = self.server.hub.tokens.get(token) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _readable(self, repo_id: str) -> Repo:
        """The repo if it exists and the caller may read it; else RepoNotFound (401 anonymous, 404 signed in)."""
        user, repo = self._user(), self.server.hub.store.repos.get(repo_id)
        if repo is None or (repo.private and repo.owner != user):
            raise HubError(401 if user is None else 404, "Repository not found", "RepoNotFound")
        return repo

    def _writable(self, repo_id: str) -> tuple[Repo, str]:
        repo, user = self._readable(repo_id), self._user()
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repo")
        if repo.owner != user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo, user

    # --- account -------------------------------------------------------------------------------------------------

    def whoami(self) -> None:
        user = self._user()
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        access = {"displayName": "local-hub", "role": "write"}
        self._send_json({"type": "user", "name": user, "fullname": user, "orgs": [], "isPro": False,
                         "auth": {"type": "access_token", "accessToken": access}})

    def agent_harnesses(self) -> None:
        self._send_json({"standardEnvVars": [], "harnesses": {}})

    def validate_yaml(self) -> None:
        content = self._json().get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.DOTALL)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as error:
            self._send_json({"errors": [{"message": f"Invalid YAML in README.md: {error}"}]}, 400)
            return
        if metadata is not None and not isinstance(metadata, dict):
            self._send_json({"errors": [{"message": "README.md metadata must be a YAML mapping"}]}, 400)
            return
        warnings = [] if metadata else [{"message": "Empty or missing yaml metadata in repo card"}]
        self._send_json({"errors": [], "warnings": warnings})

    # --- repos ---------------------------------------------------------------------------------------------------

    def create_repo(self) -> None:
        user, payload = self._user(), self._json()
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        if payload.get("type", "model") != "model":
            self.server.hub.record_unhandled(f"create_repo type={payload.get('type')}")
            raise HubError(501, "local_hub only hosts model repos")
        namespace, name = payload.get("organization") or user, payload.get("name") or ""
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a repo under {namespace}")
        repo_id = f"{namespace}/{name}"
        if not re.fullmatch(REPO, repo_id):
            raise HubError(400, f"Invalid repo name {repo_id!r}")
        private = payload.get("visibility", "private" if payload.get("private") else "public") == "private"
        self.server.hub.store.create_repo(repo_id, user, private)
        self._send_json({"url": f"{self.server.hub.endpoint}/{repo_id}", "name": repo_id, "id": repo_id})

    def delete_repo(self) -> None:
        payload = self._json()
        if payload.get("type", "model") != "model":
            self.server.hub.record_unhandled(f"delete_repo type={payload.get('type')}")
            raise HubError(501, "local_hub only hosts model repos")
        repo_id = f"{payload.get('organization') or self._user()}/{payload.get('name')}"
        self._writable(repo_id)
        with self.server.hub.store.lock:
            del self.server.hub.store.repos[repo_id]
        self._send_json({})

    def repo_info(self, repo: str, rev: str = "main") -> None:
        hub_repo = self._readable(repo)
        commit = hub_repo.resolve(rev)
        blobs = self.query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for entry in sorted(commit.files.values(), key=lambda e: e.path):
            sibling = {"rfilename": entry.path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.blob_id)
                if entry.lfs_oid:
                    sibling["lfs"] = {"size": entry.size, "sha256": entry.lfs_oid, "pointerSize": entry.pointer_size}
            siblings.append(sibling)
        self._send_json({
            "_id": hashlib.sha1(repo.encode()).hexdigest()[:24], "id": repo, "modelId": repo, "author": hub_repo.owner,
            "sha": commit.sha, "lastModified": commit.date, "createdAt": hub_repo.created, "private": hub_repo.private,
            "gated": False, "disabled": False, "tags": [], "downloads": 0, "likes": 0, "siblings": siblings,
        })

    def refs(self, repo: str) -> None:
        hub_repo = self._readable(repo)
        branches = [{"name": name, "ref": f"refs/heads/{name}", "targetCommit": sha}
                    for name, sha in sorted(hub_repo.branches.items())]
        self._send_json({"branches": branches, "tags": [], "converts": [], "pullRequests": []})

    def commits(self, repo: str, rev: str) -> None:
        history = self._readable(repo).history(rev)
        self._send_json([{"id": c.sha, "title": c.title, "message": c.message, "date": c.date,
                          "authors": [{"user": c.author}]} for c in history])

    def create_branch(self, repo: str, branch: str) -> None:
        hub_repo, _ = self._writable(repo)
        start = hub_repo.resolve(self._json().get("startingPoint") or "main")
        with self.server.hub.store.lock:
            if branch in hub_repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            hub_repo.branches[branch] = start.sha
        self._send_json({})

    def delete_branch(self, repo: str, branch: str) -> None:
        hub_repo, _ = self._writable(repo)
        with self.server.hub.store.lock:
            if branch == "main" or branch not in hub_repo.branches:
                raise HubError(400 if branch == "main" else 404, f"Cannot delete branch {branch}")
            del hub_repo.branches[branch]
        self._send_json({})

    def tree(self, repo: str, rev: str, path: str = "") -> None:
        commit = self._readable(repo).resolve(rev)
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in commit.files):
            raise HubError(404, f"Path {path} not found at {rev}", "EntryNotFound")
        entries, folders = [], set()
        for file_path in sorted(commit.files):
            if not file_path.startswith(prefix):
                continue
            parts = file_path[len(prefix):].split("/")
            for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
                folders.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                entries.append(_tree_entry(commit.files[file_path]))
        entries += [_folder_entry(folder, commit) for folder in sorted(folders)]
        self._send_json(entries)

    def paths_info(self, repo: str, rev: str) -> None:
        commit = self._readable(repo).resolve(rev)
        form = parse_qs(self.body.decode())
        answer = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files:
                answer.append(_tree_entry(commit.files[path]))
            elif any(p.startswith(path + "/") for p in commit.files):
                answer.append(_folder_entry(path, commit))
        self._send_json(answer)

    # --- upload --------------------------------------------------------------------------------------------------

    def preupload(self, repo: str, rev: str) -> None:
        hub_repo, _ = self._writable(repo)
        if "create_pr" in self.query:
            self.server.hub.record_unhandled(f"{self.command} {self.path}")
            raise HubError(501, "local_hub does not implement pull requests")
        commit = hub_repo.resolve(rev)
        attributes = commit.files.get(".gitattributes")
        gitattributes = self.server.hub.store.read(attributes).decode() if attributes else ""
        answer = []
        for item in self._json().get("files", []):
            path, size, sample = item["path"], int(item["size"]), base64.b64decode(item["sample"])
            lfs = size > REGULAR_FILE_LIMIT or _is_binary(sample) or _tracked_by_lfs(path, gitattributes)
            existing = commit.files.get(path)
            oid = None if existing is None else (existing.lfs_oid if lfs else existing.blob_id)
            answer.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._send_json({"files": answer, "commitOid": commit.sha})

    def lfs_batch(self, repo: str) -> None:
        self._writable(repo)
        payload, hub = self._json(), self.server.hub
        if payload.get("operation") != "upload":
            self.server.hub.record_unhandled(f"LFS batch operation {payload.get('operation')}")
            raise HubError(501, "local_hub's LFS batch API only takes uploads")
        objects = []
        for item in payload.get("objects", []):
            oid, size = item.get("oid"), item.get("size")
            if not (isinstance(oid, str) and re.fullmatch(r"[0-9a-f]{64}", oid) and isinstance(size, int) and size >= 0):
                objects.append({"oid": str(oid), "size": size if isinstance(size, int) else 0,
                                "error": {"code": 422, "message": "oid must be a sha256 and size a byte count"}})
                continue
            answer = {"oid": oid, "size": size, "authenticated": True}
            if not hub.store.has_lfs_object(oid, size):
                ticket = hub.issue_upload_ticket(oid, size)
                answer["actions"] = {
                    "upload": {"href": f"{hub.endpoint}/lfs-upload/{ticket}", "header": {}},
                    "verify": {"href": f"{hub.endpoint}/{repo}.git/info/lfs/objects/verify", "header": {}},
                }
            objects.append(answer)
        body = json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode()
        self._send(200, body, {"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, ticket: str) -> None:
        """The pre-signed upload URL of the batch answer (like S3: no Authorization header, the ticket is the key)."""
        hub = self.server.hub
        with hub.store.lock:
            oid, size = hub.upload_tickets.pop(ticket, (None, None))
        if oid is None:
            raise HubError(403, "Upload URL expired or unknown")
        hub.store.store_lfs_object(oid, size, self.body)
        self._send(200, b"", {"ETag": f'"{hashlib.md5(self.body).hexdigest()}"'})

    def lfs_verify(self, repo: str) -> None:
        self._writable(repo)
        payload = self._json()
        if not self.server.hub.store.has_lfs_object(str(payload.get("oid")), payload.get("size")):
            raise HubError(404, f"LFS object {payload.get('oid')} of size {payload.get('size')} was not uploaded")
        self._send_json({"success": True})

    def commit(self, repo: str, rev: str) -> None:
        hub_repo, user = self._writable(repo)
        if "create_pr" in self.query:
            self.server.hub.record_unhandled(f"{self.command} {self.path}")
            raise HubError(501, "local_hub does not implement pull requests")
        if rev not in hub_repo.branches:
            hub_repo.resolve(rev)  # 404 RevisionNotFound when it names nothing
            raise HubError(400, f"Commits go to a branch; {rev} is a commit")
        header, operations = {}, []
        for line in self.body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"Unsupported file encoding {value.get('encoding')!r}")
                operations.append(("file", value["path"], base64.b64decode(value["content"])))
            elif key == "lfsFile":
                if value.get("algo", "sha256") != "sha256":
                    raise HubError(400, f"Unsupported LFS hash {value.get('algo')!r}")
                stored = self.server.hub.store.lfs / value["oid"]
                size = value.get("size", stored.stat().st_size if stored.is_file() else -1)  # copies name no size
                operations.append(("lfsFile", value["path"], value["oid"], int(size)))
            elif key in ("deletedFile", "deletedFolder"):
                operations.append((key, value["path"]))
            else:
                raise HubError(400, f"Unknown commit line key {key!r}")
        if "summary" not in header:
            raise HubError(400, "The commit's first line must be its header with a summary")
        commit = self.server.hub.store.commit(hub_repo, rev, user, header["summary"], header.get("description", ""),
                                              operations, header.get("parentCommit"))
        url = f"{self.server.hub.endpoint}/{repo}/commit/{commit.sha}"
        self._send_json({"success": True, "commitOid": commit.sha, "commitUrl": url, "hookOutput": ""})

    # --- download ------------------------------------------------------------------------------------------------

    def resolve(self, repo: str, rev: str, path: str) -> None:
        commit = self._readable(repo).resolve(rev)
        headers = {"X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes"}
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, "Entry not found", "EntryNotFound", headers)
        headers.update({"ETag": f'"{entry.blob_id}"', "Content-Type": "application/octet-stream",
                        "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"'})
        if entry.lfs_oid:
            headers.update({"X-Linked-Etag": f'"{entry.lfs_oid}"', "X-Linked-Size": str(entry.size)})
        content = self.server.hub.store.read(entry) if self.command == "GET" else b""
        start, status = 0, 200
        byte_range = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if byte_range:
            start, end = int(byte_range.group(1)), int(byte_range.group(2) or entry.size - 1)
            if start >= entry.size:
                raise HubError(416, f"Range start {start} is past the end of {path} ({entry.size} bytes)")
            status, content = 206, content[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{min(end, entry.size - 1)}/{entry.size}"
            headers["Content-Length"] = str(min(end, entry.size - 1) - start + 1)
        else:
            headers["Content-Length"] = str(entry.size)
        self._send(status, content, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: "LocalHub"


class LocalHub:
    """The server, its store and one user with a write token."""

    def __init__(self, root: Path, user: str = "user"):
        self.store = HubStore(root)
        self.user, self.token = user, "hf_local_" + secrets.token_hex(16)
        self.tokens = {self.token: user}
        self.upload_tickets: dict[str, tuple[str, int]] = {}
        self.unhandled: list[str] = []
        self.requests: list[str] = []
        self.faults: list[Fault] = []
        self.closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), HubRequestHandler)
        self._server.hub = self
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-hub", daemon=True
        )

    def start(self) -> "LocalHub":
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (stalled requests end unanswered); the port is closed afterwards. Closing twice is fine."""
        if self.closing.is_set():
            return
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def fail(self, method: str, path: str, status: int, times: int | None = 1) -> None:
        """Answer the next `times` requests `method` `path` (a regex; None: all of them) with HTTP `status`."""
        self.faults.append(Fault(method, path, status, times))

    def stall(self, method: str, path: str, times: int | None = None) -> None:
        """Never answer the next `times` requests `method` `path` (None: all of them) while the server runs."""
        self.faults.append(Fault(method, path, None, times))

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.store.lock:
            return next((fault for fault in self.faults if fault.take(method, path)), None)

    def issue_upload_ticket(self, oid: str, size: int) -> str:
        ticket = secrets.token_urlsafe(24)
        with self.store.lock:
            self.upload_tickets[ticket] = (oid, size)
        return ticket

    def record_unhandled(self, what: str) -> None:
        logger.warning("local_hub: unimplemented request %s", what)
        self.unhandled.append(what)

    def environ(self, home: Path) -> dict[str, str]:
        """The environment that sends huggingface_hub clients (in subprocesses too) here, with caches under `home`."""
        return {
            "HF_ENDPOINT": self.endpoint,
            "HF_TOKEN": self.token,
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(home),
            "HF_HUB_CACHE": str(home / "hub"),
            # hf_xet is installed and huggingface_hub uploads through Xet whenever it is (`is_xet_available()` checks
            # only the package and this switch), whatever the server says; Xet needs a CAS service this server does
            # not have, so the clients are told to use the Hub's plain HTTP + Git LFS protocol instead.
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",  # the `hf` CLI would otherwise ask PyPI for a newer version
        }


def point_client_at(hub: LocalHub, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redirect this process's huggingface_hub, whose constants were read from the environment at import time."""
    from huggingface_hub import constants, hf_api

    for name, value in hub.environ(home).items():
        monkeypatch.setenv(name, value)
    host = "127.0.0.1"
    for name, value in {
        "ENDPOINT": hub.endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {host},
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_UPDATE_CHECK": True,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
    }.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", hub.endpoint)  # the module-level HfApi behind `create_repo` & co.


@pytest.fixture
def local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHub]:
    """A running LocalHub with this process and subprocesses pointed at it; caches and token file under tmp_path."""
    hub = LocalHub(tmp_path / "local-hub-server").start()
    point_client_at(hub, tmp_path / "hf-home", monkeypatch)
    try:
        yield hub
    finally:
        hub.close()
