"""A small Genie / SQL warehouses / Permissions REST server on 127.0.0.1 for the `lakehouse genie sync` tests.

Paths and JSON shapes as databricks-sdk 0.162.0 calls them (databricks/sdk/service/dashboards.py GenieAPI,
sql.py WarehousesAPI, iam.py PermissionsAPI) and as the Genie API reference documents them:

- GET   /api/2.0/genie/spaces                 `{"spaces": [...], "next_page_token"}`; list items carry no
                                              `serialized_space` ("excluded in List Genie spaces responses")
- GET   /api/2.0/genie/spaces/{id}            `serialized_space` only with `include_serialized_space=true`
- POST  /api/2.0/genie/spaces                 `warehouse_id` and `serialized_space` required
- PATCH /api/2.0/genie/spaces/{id}            full replacement of what is sent; a stale `etag` is refused
- GET   /api/2.0/sql/warehouses               `{"warehouses": [{"id", "name", ...}]}`
- GET   /api/2.0/permissions/genie/{id}       `{"object_id", "object_type", "access_control_list": [...]}`
- PATCH /api/2.0/permissions/genie/{id}       adds or changes the listed principals' levels

Errors use the platform's JSON error body (`{"error_code", "message"}`, which the SDK's error parser maps to its
exception classes): 401 UNAUTHENTICATED for an unknown bearer token, 403 PERMISSION_DENIED when the read-only token
writes, 404 RESOURCE_DOES_NOT_EXIST for an unknown space, 400 INVALID_PARAMETER_VALUE for a malformed body, 409
RESOURCE_CONFLICT for a stale etag. Lists page 2 items at a time so the sync's paging is exercised.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback import LoopbackServer

SPACES = "/api/2.0/genie/spaces"
PERMISSIONS = "/api/2.0/permissions/genie/"
OWNER = "deployer@example.com"


@dataclass
class GenieState:
    warehouses: dict[str, str] = field(default_factory=dict)  # id -> name
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> GenieSpace JSON (with serialized_space)
    acls: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # id -> principal -> (kind, level)

    def add_space(self, title: str, **fields: Any) -> str:
        space_id = secrets.token_hex(16)
        self.spaces[space_id] = {"space_id": space_id, "title": title, "etag": "1", **fields}
        self.acls[space_id] = {OWNER: ("user_name", "CAN_MANAGE")}
        return space_id


class _Handler(BaseHTTPRequestHandler):
    server: FakeGenieServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error_code": code, "message": message})

    def _authorized(self, *, write: bool) -> bool:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if token not in self.server.tokens | self.server.readonly_tokens:
            self._error(401, "UNAUTHENTICATED", "Invalid access token.")
            return False
        if write and token in self.server.readonly_tokens:
            self._error(403, "PERMISSION_DENIED", "You do not have permission to manage this Genie space.")
            return False
        return True

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", "0") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        body = self._body() if method in ("POST", "PATCH") else {}
        self.server.requests.append((method, url.path, body))
        if not url.path.startswith(("/api/2.0/genie", "/api/2.0/sql", "/api/2.0/permissions")):
            self._error(404, "NOT_FOUND", f"no such endpoint: {url.path}")  # e.g. host metadata probes
            return
        if not self._authorized(write=method != "GET"):
            return
        with self.server.lock:
            state = self.server.state
            if url.path == "/api/2.0/sql/warehouses" and method == "GET":
                self._send(200, {"warehouses": [{"id": i, "name": n} for i, n in sorted(state.warehouses.items())]})
            elif url.path == SPACES and method == "GET":
                items = sorted(state.spaces.values(), key=lambda s: s["space_id"])
                start = int(query.get("page_token", ["0"])[0])
                page = items[start : start + 2]
                out: dict[str, Any] = {
                    "spaces": [{k: v for k, v in s.items() if k != "serialized_space"} for s in page]
                }
                if start + 2 < len(items):
                    out["next_page_token"] = str(start + 2)
                self._send(200, out)
            elif url.path == SPACES and method == "POST":
                self._create(body)
            elif url.path.startswith(SPACES + "/"):
                self._space(method, url.path.removeprefix(SPACES + "/"), query, body)
            elif url.path.startswith(PERMISSIONS):
                self._permissions(method, url.path.removeprefix(PERMISSIONS), body)
            else:
                self._error(404, "NOT_FOUND", f"no such endpoint: {method} {url.path}")

    def _valid_space(self, serialized: Any) -> bool:
        try:
            ok = json.loads(serialized).get("version") == 2
        except (TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            self._error(400, "INVALID_PARAMETER_VALUE", "serialized_space is not a valid version 2 space export.")
        return ok

    def _create(self, body: dict[str, Any]) -> None:
        if not body.get("warehouse_id"):
            self._error(400, "INVALID_PARAMETER_VALUE", "warehouse_id is required.")
            return
        if not self._valid_space(body.get("serialized_space")):
            return
        space_id = self.server.state.add_space(
            body.get("title", "Untitled"), **{k: v for k, v in body.items() if k != "title"}
        )
        self._send(200, self.server.state.spaces[space_id])

    def _space(self, method: str, space_id: str, query: dict[str, list[str]], body: dict[str, Any]) -> None:
        space = self.server.state.spaces.get(space_id)
        if space is None:
            self._error(404, "RESOURCE_DOES_NOT_EXIST", f"Genie space {space_id} does not exist.")
        elif method == "GET":
            include = query.get("include_serialized_space", ["false"])[0] == "true"
            self._send(200, {k: v for k, v in space.items() if include or k != "serialized_space"})
        elif method == "PATCH":
            if "etag" in body and body["etag"] != space["etag"]:
                self._error(409, "RESOURCE_CONFLICT", "The Genie space was modified since the etag was read.")
                return
            if "serialized_space" in body and not self._valid_space(body["serialized_space"]):
                return
            space.update({k: v for k, v in body.items() if k != "etag"})
            space["etag"] = str(int(space["etag"]) + 1)
            self._send(200, space)
        else:
            self._error(404, "NOT_FOUND", f"no such endpoint: {method} {space_id}")

    def _acl_body(self, space_id: str) -> dict[str, Any]:
        return {
            "object_id": f"/genie/{space_id}",
            "object_type": "genie",
            "access_control_list": [
                {kind: principal, "all_permissions": [{"permission_level": level, "inherited": False}]}
                for principal, (kind, level) in sorted(self.server.state.acls[space_id].items())
            ],
        }

    def _permissions(self, method: str, space_id: str, body: dict[str, Any]) -> None:
        if space_id not in self.server.state.spaces:
            self._error(404, "RESOURCE_DOES_NOT_EXIST", f"genie {space_id} does not exist.")
            return
        if method == "PATCH":
            for entry in body.get("access_control_list", []):
                kind = next(k for k in ("group_name", "service_principal_name", "user_name") if k in entry)
                self.server.state.acls[space_id][entry[kind]] = (kind, entry["permission_level"])
        self._send(200, self._acl_body(space_id))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class FakeGenieServer(LoopbackServer):
    """`with FakeGenieServer(state) as server:` serves on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, state: GenieState, *, tokens: set[str], readonly_tokens: set[str]) -> None:
        super().__init__(_Handler, "fake-genie")
        self.state = state
        self.tokens = tokens
        self.readonly_tokens = readonly_tokens
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.02,), name="fake-genie", daemon=True)

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m != "GET"]
