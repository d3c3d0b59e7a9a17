"""A small Unity Catalog REST server on 127.0.0.1 for the grant audit tests.

It speaks the paths and JSON shapes databricks-sdk 0.162.0 uses (see databricks/sdk/service/catalog.py):

- GET   /api/2.1/unity-catalog/catalogs/{name}
- GET   /api/2.1/unity-catalog/schemas?catalog_name=...            (paginated: max_results, page_token)
- GET   /api/2.1/unity-catalog/tables?catalog_name=...&schema_name=...   (paginated)
- GET   /api/2.1/unity-catalog/permissions/{securable_type}/{full_name}   (paginated)
- PATCH /api/2.1/unity-catalog/permissions/{securable_type}/{full_name}   body {"changes": [...]}
- GET   /api/2.1/unity-catalog/tables/{full_name}/exists            (deploy: are the pipeline's tables there yet)
- GET   /api/2.0/pipelines?filter=name LIKE '...'                   (find the pipeline by name)
- POST  /api/2.0/pipelines/{id}/updates, GET /api/2.0/pipelines/{id}/updates/{update_id}  (pipeline update)

Errors use the platform's JSON error shape ({"error_code", "message"}), so the SDK raises its real exception
types: 401 UNAUTHENTICATED for a missing/wrong bearer token, 403 PERMISSION_DENIED for a read-only token that
tries to PATCH or for a securable listed in `forbidden`, 404 for unknown securables. Pages are deliberately
small (default 2 items) so the SDK's pagination loop and ours are exercised for real.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from infra.permissions import LANDING_VOLUME, SCHEMAS, SECURE_VIEWS, PermissionMatrix, Persona

PREFIX = "/api/2.1/unity-catalog"
# Tables the pipeline publishes (tests/contracts): listed live by the audit, never granted directly.
PIPELINE_TABLES: tuple[tuple[str, str], ...] = (
    ("bronze", "gdelt_events"),
    ("bronze", "wikimedia_events"),
    ("silver", "gdelt_events"),
    ("silver", "wikimedia_edits"),
    ("ops", "gdelt_events_quarantine"),
    ("ops", "wikimedia_edits_quarantine"),
    ("ops", "expectation_counts"),
    ("ops", "pipeline_event_log"),
    ("gold", "correlations"),
    ("gold", "trending_stories"),
)


@dataclass
class UnityCatalogState:
    """The metastore as the server sees it. Mutate it between requests to inject drift."""

    catalogs: set[str] = field(default_factory=set)
    schemas: set[str] = field(default_factory=set)  # full names: catalog.schema
    tables: dict[str, str] = field(default_factory=dict)  # full name -> table_type (MANAGED, VIEW, ...)
    volumes: set[str] = field(default_factory=set)
    # (securable_type, full_name) -> principal -> privileges
    grants: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    # pipeline id -> the states successive GET .../updates/{id} calls return (the last one repeats)
    pipeline_update_states: dict[str, list[str]] = field(default_factory=dict)
    # pipeline name -> id (what GET /api/2.0/pipelines lists)
    pipelines: dict[str, str] = field(default_factory=dict)

    def exists(self, securable_type: str, full_name: str) -> bool:
        if securable_type == "catalog":
            return full_name in self.catalogs
        if securable_type == "schema":
            return full_name in self.schemas
        if securable_type == "table":
            return full_name in self.tables
        if securable_type == "volume":
            return full_name in self.volumes
        return False

    def grant(self, securable_type: str, full_name: str, principal: str, *privileges: str) -> None:
        self.grants.setdefault((securable_type, full_name), {}).setdefault(principal, set()).update(privileges)

    def revoke(self, securable_type: str, full_name: str, principal: str, *privileges: str) -> None:
        held = self.grants.get((securable_type, full_name), {}).get(principal)
        if held is None:
            return
        held.difference_update(privileges)
        if not held:
            del self.grants[(securable_type, full_name)][principal]

    def rename_principal(self, securable_type: str, full_name: str, old: str, new: str) -> None:
        by_principal = self.grants[(securable_type, full_name)]
        by_principal[new] = by_principal.pop(old)


def seeded_state(catalog: str, principals: Mapping[Persona, str]) -> UnityCatalogState:
    """A metastore exactly as the stacks and the pipeline leave it: the matrix's grants, nothing else."""
    state = UnityCatalogState(catalogs={catalog})
    state.schemas = {f"{catalog}.{s}" for s in SCHEMAS}
    state.volumes = {f"{catalog}.{LANDING_VOLUME[0]}.{LANDING_VOLUME[1]}"}
    for schema_name, table_name in PIPELINE_TABLES:
        state.tables[f"{catalog}.{schema_name}.{table_name}"] = "MANAGED"
    for schema_name, view_name in SECURE_VIEWS:
        state.tables[f"{catalog}.{schema_name}.{view_name}"] = "VIEW"
    for g in PermissionMatrix.default().expected_grants(catalog, principals):
        state.grant(g.securable_type.value, g.full_name, g.principal, g.privilege)
    return state


class _Handler(BaseHTTPRequestHandler):
    server: FakeUnityCatalogServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
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
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if token not in self.server.tokens and token not in self.server.readonly_tokens:
            self._error(401, "UNAUTHENTICATED", "Invalid access token.")
            return False
        if write and token in self.server.readonly_tokens:
            self._error(403, "PERMISSION_DENIED", "This token may only read.")
            return False
        return True

    def _page(self, items: list[Any], query: Mapping[str, list[str]]) -> tuple[list[Any], str | None]:
        start = int(query.get("page_token", ["0"])[0] or 0)
        size = self.server.page_size
        page = items[start : start + size]
        next_token = str(start + size) if start + size < len(items) else None
        return page, next_token

    def _pipelines(self, method: str, path: str) -> None:
        """POST /api/2.0/pipelines/{id}/updates and GET /api/2.0/pipelines/{id}/updates/{update_id}."""
        parts = path.strip("/").split("/")  # api 2.0 pipelines {id} updates [update_id]
        states = self.server.state.pipeline_update_states.get(parts[3]) if len(parts) >= 5 else None
        if states is None or parts[4] != "updates":
            self._error(404, "RESOURCE_DOES_NOT_EXIST", f"pipeline in {path} not found")
        elif method == "POST" and len(parts) == 5:
            self._send(200, {"update_id": "update-1"})
        elif method == "GET" and len(parts) == 6:
            state = states.pop(0) if len(states) > 1 else states[0]
            self._send(200, {"update": {"pipeline_id": parts[3], "update_id": parts[5], "state": state}})
        else:
            self._error(404, "NOT_FOUND", f"no such endpoint: {path}")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.server.requests.append(("POST", url.path, url.query))
        length = int(self.headers.get("Content-Length", "0") or 0)
        self.rfile.read(length)
        if self._authorized(write=True):
            with self.server.lock:
                self._pipelines("POST", url.path)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.server.requests.append(("GET", url.path, url.query))
        if url.path.startswith("/api/2.0/pipelines/"):
            if self._authorized(write=False):
                with self.server.lock:
                    self._pipelines("GET", url.path)
            return
        if url.path == "/api/2.0/pipelines":
            # ListPipelines: `filter` is SQL LIKE over the name ('%' wildcards); one page is enough here.
            if self._authorized(write=False):
                pattern = query.get("filter", [""])[0]
                match = re.fullmatch(r"name LIKE '(.*)'", pattern)
                like = re.compile(
                    "^"
                    + ".*".join(re.escape(p.replace("''", "'")) for p in (match.group(1) if match else "%").split("%"))
                    + "$"
                )
                with self.server.lock:
                    found = [
                        {"pipeline_id": pid, "name": name, "state": "IDLE"}
                        for name, pid in sorted(self.server.state.pipelines.items())
                        if like.match(name)
                    ]
                self._send(200, {"statuses": found} if found else {})
            return
        if not url.path.startswith(PREFIX):
            # e.g. /.well-known/databricks-config (host metadata): absent on this server, as on older hosts.
            self._error(404, "NOT_FOUND", f"no such endpoint: {url.path}")
            return
        if not self._authorized(write=False):
            return
        state = self.server.state
        rest = url.path[len(PREFIX) :]
        with self.server.lock:
            if rest.startswith("/tables/") and rest.endswith("/exists"):
                full_name = unquote(rest[len("/tables/") : -len("/exists")])
                self._send(200, {"table_exists": full_name in state.tables})
                return
            if rest.startswith("/catalogs/"):
                name = unquote(rest[len("/catalogs/") :])
                if name not in state.catalogs:
                    self._error(404, "CATALOG_DOES_NOT_EXIST", f"Catalog '{name}' does not exist.")
                    return
                self._send(200, {"name": name, "full_name": name, "catalog_type": "MANAGED_CATALOG"})
            elif rest == "/schemas":
                catalog = query.get("catalog_name", [""])[0]
                if catalog not in state.catalogs:
                    self._error(404, "CATALOG_DOES_NOT_EXIST", f"Catalog '{catalog}' does not exist.")
                    return
                names = sorted(s for s in state.schemas if s.split(".")[0] == catalog)
                # Unity Catalog lists the system schema in every catalog.
                names.append(f"{catalog}.information_schema")
                page, token = self._page(names, query)
                body: dict[str, Any] = {
                    "schemas": [{"name": n.split(".")[1], "catalog_name": catalog, "full_name": n} for n in page]
                }
                if token:
                    body["next_page_token"] = token
                self._send(200, body)
            elif rest == "/tables":
                catalog = query.get("catalog_name", [""])[0]
                schema_name = query.get("schema_name", [""])[0]
                if f"{catalog}.{schema_name}" not in state.schemas:
                    self._error(404, "SCHEMA_DOES_NOT_EXIST", f"Schema '{catalog}.{schema_name}' does not exist.")
                    return
                full = sorted(t for t in state.tables if t.rsplit(".", 1)[0] == f"{catalog}.{schema_name}")
                page, token = self._page(full, query)
                body = {
                    "tables": [
                        {
                            "name": t.rsplit(".", 1)[1],
                            "catalog_name": catalog,
                            "schema_name": schema_name,
                            "full_name": t,
                            "table_type": state.tables[t],
                        }
                        for t in page
                    ]
                }
                if token:
                    body["next_page_token"] = token
                self._send(200, body)
            elif rest.startswith("/permissions/"):
                securable_type, _, full_name = rest[len("/permissions/") :].partition("/")
                full_name = unquote(full_name)
                if not self._check_securable(securable_type, full_name):
                    return
                assignments = [
                    {"principal": p, "privileges": sorted(privs)}
                    for p, privs in sorted(state.grants.get((securable_type, full_name), {}).items())
                ]
                if "max_results" in query:
                    page, token = self._page(assignments, query)
                    body = {"privilege_assignments": page}
                    if token:
                        body["next_page_token"] = token
                else:
                    body = {"privilege_assignments": assignments}
                self._send(200, body)
            else:
                self._error(404, "NOT_FOUND", f"no such endpoint: {url.path}")

    def _check_securable(self, securable_type: str, full_name: str) -> bool:
        state = self.server.state
        if (securable_type, full_name) in state.forbidden:
            self._error(403, "PERMISSION_DENIED", f"User does not have MANAGE on {securable_type} '{full_name}'.")
            return False
        if not state.exists(securable_type, full_name):
            self._error(404, f"{securable_type.upper()}_DOES_NOT_EXIST", f"{securable_type} '{full_name}' not found.")
            return False
        return True

    def do_PATCH(self) -> None:
        url = urlsplit(self.path)
        self.server.requests.append(("PATCH", url.path, url.query))
        if not self._authorized(write=True):
            return
        rest = url.path[len(PREFIX) :]
        if not rest.startswith("/permissions/"):
            self._error(404, "NOT_FOUND", f"no such endpoint: {url.path}")
            return
        securable_type, _, full_name = rest[len("/permissions/") :].partition("/")
        full_name = unquote(full_name)
        length = int(self.headers.get("Content-Length", "0") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            if not self._check_securable(securable_type, full_name):
                return
            for change in payload.get("changes", []):
                principal = change["principal"]
                self.server.state.grant(securable_type, full_name, principal, *change.get("add", []))
                self.server.state.revoke(securable_type, full_name, principal, *change.get("remove", []))
            held = self.server.state.grants.get((securable_type, full_name), {})
            self._send(
                200,
                {"privilege_assignments": [{"principal": p, "privileges": sorted(v)} for p, v in sorted(held.items())]},
            )


class FakeUnityCatalogServer(ThreadingHTTPServer):
    """`with FakeUnityCatalogServer(state) as server:` serves on 127.0.0.1:<free port> in a daemon thread."""

    daemon_threads = True

    def __init__(
        self,
        state: UnityCatalogState,
        *,
        tokens: Iterable[str] = ("test-token",),
        readonly_tokens: Iterable[str] = ("read-only-token",),
        page_size: int = 2,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.tokens = set(tokens)
        self.readonly_tokens = set(readonly_tokens)
        self.page_size = page_size
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.02,), name="fake-uc", daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def __enter__(self) -> FakeUnityCatalogServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
