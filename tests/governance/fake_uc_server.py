"""A small Unity Catalog REST server on 127.0.0.1 for the grant audit tests.

It speaks the paths and JSON shapes databricks-sdk 0.162.0 uses (see databricks/sdk/service/catalog.py):

- GET   /api/2.1/unity-catalog/catalogs/{name}
- GET   /api/2.1/unity-catalog/schemas?catalog_name=...            (paginated: max_results, page_token)
- GET   /api/2.1/unity-catalog/tables?catalog_name=...&schema_name=...   (paginated)
- GET   /api/2.1/unity-catalog/permissions/{securable_type}/{full_name}   (paginated when max_results is sent)
- PATCH /api/2.1/unity-catalog/permissions/{securable_type}/{full_name}   body {"changes": [...]}
- GET   /api/2.1/unity-catalog/tables/{full_name}/exists            (deploy: are the pipeline's tables there yet)
- GET   /api/2.0/pipelines?filter=name LIKE '...'                   (find the pipeline by name)
- POST  /api/2.0/pipelines/{id}/updates, GET /api/2.0/pipelines/{id}/updates/{update_id}  (pipeline update)

It answers the way a real workspace does, errors included; each shape is documented where it is built
(`INVALID_TOKEN_BODY`, `_uc_error`, `_assignments`, `_page`, `UnityCatalogState.create_catalog`). In short:

- a token the workspace does not know: HTTP 403 `{"error_code":403,"message":"Invalid access token."}` from the
  authentication front door (an integer error_code, not Unity Catalog's string codes);
- Unity Catalog's own errors: `{"error_code": "<CODE>", "message": ..., "details": [RequestInfo]}`, 403
  PERMISSION_DENIED for a read-only token that PATCHes or a securable listed in `forbidden`, 404
  `<TYPE>_DOES_NOT_EXIST` for unknown securables;
- a new catalog comes with its `default` schema, and every catalog lists `information_schema`;
- a deleted principal's grants stay, listed with `principal_id` and no `principal`;
- pages are small (default 2 items) and, like the real service, may be empty while still carrying a
  `next_page_token`, so the SDK's pagination loop and ours are exercised for real.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from loopback import LoopbackServer

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

# A token the workspace does not know (mistyped, expired, revoked, or issued by another workspace) is refused before
# any service runs, with HTTP 403 and exactly these 52 bytes: integer error_code, no details. Seen verbatim in
# request logs against real workspaces: databricks/databricks-sdk-go #873 (GET /api/2.0/secrets/scopes/list) and
# #917 (GET /api/2.0/policies/clusters/get), both "HTTP/2.0 403 Forbidden", "Content-Length: 52",
# "X-Databricks-Reason-Phrase: Invalid access token.". The Databricks API docs (docs.databricks.com/api, "Errors")
# say some legacy endpoints put the HTTP status in error_code as an integer; databricks-sdk-py then maps the response
# by status alone (errors/mapper.py: 403 -> PermissionDenied), so only the integer tells it from a real denial.
INVALID_TOKEN_BODY = b'{"error_code":403,"message":"Invalid access token."}'
INVALID_TOKEN_REASON = "Invalid access token."

# Unity Catalog names the securable type in messages with a capital ("User does not have USE CATALOG on Catalog
# 'abc001'.", terraform-provider-databricks #2109; "... on Metastore 'primary'.", terraform-databricks-examples #121).
_TYPE_IN_MESSAGES = {"catalog": "Catalog", "schema": "Schema", "table": "Table", "volume": "Volume"}


def _principal_id(principal: str) -> int:
    """A stable numeric id per principal (the service's ids are opaque int64s; any stable number serves here)."""
    return 1_000_000_000 + zlib.crc32(principal.encode())


@dataclass
class UnityCatalogState:
    """The metastore as the server sees it. Mutate it between requests to inject drift."""

    catalogs: set[str] = field(default_factory=set)
    schemas: set[str] = field(default_factory=set)  # full names: catalog.schema (information_schema is implicit)
    tables: dict[str, str] = field(default_factory=dict)  # full name -> table_type (MANAGED, VIEW, ...)
    volumes: set[str] = field(default_factory=set)
    # (securable_type, full_name) -> principal -> privileges
    grants: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)
    # (securable_type, full_name) -> principal_id -> privileges, for principals deleted from the identity system
    deleted_grants: dict[tuple[str, str], dict[int, set[str]]] = field(default_factory=dict)
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    # pipeline id -> the states successive GET .../updates/{id} calls return (the last one repeats)
    pipeline_update_states: dict[str, list[str]] = field(default_factory=dict)
    # pipeline name -> id (what GET /api/2.0/pipelines lists)
    pipelines: dict[str, str] = field(default_factory=dict)

    def create_catalog(self, name: str) -> None:
        """POST /catalogs: Unity Catalog creates the catalog with a `default` schema (and its `information_schema`,
        which every catalog lists). terraform-provider-databricks deletes `default` right after creating a
        catalog (catalog/resource_catalog.go: "cannot remove new catalog default schema"), so a catalog made by
        the stack has none, while one made in the UI, in SQL or by another tool keeps it."""
        self.catalogs.add(name)
        self.schemas.add(f"{name}.default")

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

    def delete_principal(self, principal: str) -> int:
        """The principal is deleted (SCIM / account console); its grants stay, known only by its id. Returns it."""
        principal_id = _principal_id(principal)
        for key, by_principal in self.grants.items():
            held = by_principal.pop(principal, None)
            if held:
                self.deleted_grants.setdefault(key, {}).setdefault(principal_id, set()).update(held)
        return principal_id


def seeded_state(catalog: str, principals: Mapping[Persona, str]) -> UnityCatalogState:
    """A metastore exactly as the stacks and the pipeline leave it: the matrix's grants, nothing else."""
    state = UnityCatalogState()
    state.create_catalog(catalog)
    state.schemas.discard(f"{catalog}.default")  # dropped by the provider on create (see create_catalog)
    state.schemas |= {f"{catalog}.{s}" for s in SCHEMAS}
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

    def _send_raw(self, status: int, raw: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        self._send_raw(status, json.dumps(body).encode())

    def _api_error(self, status: int, code: str, message: str) -> None:
        """The services' error object (Unity Catalog, Pipelines): a string error_code, a message and a details array
        with the request id. docs.databricks.com/api "Errors": `{"error_code": "NOT_FOUND", "message": "Job 123 does
        not exist.", "details": [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "request_id": ...}]}`, "the
        same shape is returned by every Databricks service"; Unity Catalog answers a missing catalog with 404
        "error_code": "CATALOG_DOES_NOT_EXIST" (databricks/sdk-js #181). The SDK maps a code it does not know by
        the HTTP status, so the `<TYPE>_DOES_NOT_EXIST` codes used for schemas, tables and volumes (following the
        catalog's; not seen verbatim) only need the right status to behave as the real ones."""
        details = [{"@type": "type.googleapis.com/google.rpc.RequestInfo", "request_id": str(uuid.uuid4())}]
        self._send(status, {"error_code": code, "message": message, "details": details})

    def _not_found(self, securable_type: str, full_name: str) -> None:
        shown = _TYPE_IN_MESSAGES.get(securable_type, securable_type)
        self._api_error(404, f"{securable_type.upper()}_DOES_NOT_EXIST", f"{shown} '{full_name}' does not exist.")

    def _permission_denied(self, privilege: str, securable_type: str, full_name: str) -> None:
        shown = _TYPE_IN_MESSAGES.get(securable_type, securable_type)
        self._api_error(403, "PERMISSION_DENIED", f"User does not have {privilege} on {shown} '{full_name}'.")

    def _authorized(self) -> str | None:
        """The caller's token, or None after answering the invalid-token 403 (see INVALID_TOKEN_BODY)."""
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if token in self.server.tokens or token in self.server.readonly_tokens:
            return token
        self.server.rejected_tokens += 1
        self._send_raw(403, INVALID_TOKEN_BODY, {"X-Databricks-Reason-Phrase": INVALID_TOKEN_REASON})
        return None

    def _page(self, items: list[Any], query: Mapping[str, list[str]]) -> tuple[list[Any], str | None]:
        """One page of `items` and the token for the next, if any.

        With `empty_pages` the server also answers, before each page of items and once after the last one, an empty
        page that still carries a `next_page_token`: the SDK documents that Unity Catalog lists do this ("a page may
        contain zero results while still providing a next_page_token. Clients must continue reading pages until
        next_page_token is absent", databricks-sdk 0.162.0 catalog.py, e.g. CatalogsAPI.list, GrantsAPI.get).
        Tokens: "<n>" = the page starting at item n; "e<n>" = the empty page before it.
        """
        raw = query.get("page_token", [""])[0]
        empty_pages = self.server.empty_pages
        if empty_pages and not raw.startswith("e") and not raw.isdigit():
            raw = "e0"  # the first page
        if raw.startswith("e"):
            start = int(raw[1:])
            self.server.empty_pages_served += 1
            return [], (str(start) if start < len(items) else None)
        start = int(raw or 0)
        size = self.server.page_size
        page = items[start : start + size]
        following = start + size
        if empty_pages:
            return page, f"e{following}"
        return page, (str(following) if following < len(items) else None)

    def _paged(self, key: str, items: list[Any], query: Mapping[str, list[str]]) -> dict[str, Any]:
        page, token = self._page(items, query)
        body: dict[str, Any] = {key: page}
        if token:
            body["next_page_token"] = token
        return body

    def _assignments(self, securable_type: str, full_name: str) -> list[dict[str, Any]]:
        """PrivilegeAssignment objects as GET/PATCH .../permissions return them. Databricks REST reference (Grants
        get/update) and databricks-sdk 0.162.0 PrivilegeAssignment: "For deleted principals, `principal` is empty
        while `principal_id` is populated"; "For active principals, both `principal` and `principal_id` are
        present". Empty fields are omitted from the JSON (proto3 JSON mapping), so a deleted principal's entry
        has no `principal` key at all."""
        state = self.server.state
        key = (securable_type, full_name)
        active = [
            {"principal": p, "principal_id": _principal_id(p), "privileges": sorted(privs)}
            for p, privs in sorted(state.grants.get(key, {}).items())
        ]
        deleted = [
            {"principal_id": pid, "privileges": sorted(privs)}
            for pid, privs in sorted(state.deleted_grants.get(key, {}).items())
        ]
        return active + deleted

    def _pipelines(self, method: str, path: str) -> None:
        """POST /api/2.0/pipelines/{id}/updates and GET /api/2.0/pipelines/{id}/updates/{update_id}."""
        parts = path.strip("/").split("/")  # api 2.0 pipelines {id} updates [update_id]
        states = self.server.state.pipeline_update_states.get(parts[3]) if len(parts) >= 5 else None
        if states is None or parts[4] != "updates":
            self._api_error(404, "RESOURCE_DOES_NOT_EXIST", f"pipeline in {path} not found")
        elif method == "POST" and len(parts) == 5:
            self._send(200, {"update_id": "update-1"})
        elif method == "GET" and len(parts) == 6:
            state = states.pop(0) if len(states) > 1 else states[0]
            self._send(200, {"update": {"pipeline_id": parts[3], "update_id": parts[5], "state": state}})
        else:
            self._api_error(404, "NOT_FOUND", f"no such endpoint: {path}")

    def _list_pipelines(self, query: Mapping[str, list[str]]) -> None:
        """GET /api/2.0/pipelines (ListPipelinesResponse: `statuses` of PipelineStateInfo). `filter` is SQL LIKE over
        the name ('%' wildcard); an empty result omits `statuses`, as proto3 JSON omits empty lists."""
        match = re.fullmatch(r"name LIKE '(.*)'", query.get("filter", [""])[0])
        parts = (match.group(1) if match else "%").replace("''", "'").split("%")
        like = re.compile("^" + ".*".join(re.escape(p) for p in parts) + "$")
        with self.server.lock:
            found = [
                {"pipeline_id": pid, "name": name, "state": "IDLE"}
                for name, pid in sorted(self.server.state.pipelines.items())
                if like.match(name)
            ]
        self._send(200, {"statuses": found} if found else {})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.server.requests.append(("POST", url.path, url.query))
        length = int(self.headers.get("Content-Length", "0") or 0)
        self.rfile.read(length)
        token = self._authorized()
        if token is None:
            return
        if token in self.server.readonly_tokens:  # an authenticated identity without the right: 403, string code
            self._api_error(
                403, "PERMISSION_DENIED", f"User does not have permission to run the pipeline in {url.path}."
            )
            return
        with self.server.lock:
            self._pipelines("POST", url.path)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.server.requests.append(("GET", url.path, url.query))
        if not url.path.startswith(("/api/2.0/pipelines", PREFIX)):
            # e.g. /.well-known/databricks-config (host metadata): absent on this server, as on older hosts.
            self._api_error(404, "NOT_FOUND", f"no such endpoint: {url.path}")
            return
        if self._authorized() is None:
            return
        if url.path.startswith("/api/2.0/pipelines/"):
            with self.server.lock:
                self._pipelines("GET", url.path)
            return
        if url.path == "/api/2.0/pipelines":
            self._list_pipelines(query)
            return
        state = self.server.state
        rest = url.path[len(PREFIX) :]
        with self.server.lock:
            if rest.startswith("/tables/") and rest.endswith("/exists"):
                # TableExistsResponse: {"table_exists": bool}; a missing schema is just "false" here.
                self._send(200, {"table_exists": unquote(rest[len("/tables/") : -len("/exists")]) in state.tables})
                return
            if rest.startswith("/catalogs/"):
                name = unquote(rest[len("/catalogs/") :])
                if name not in state.catalogs:
                    self._not_found("catalog", name)
                    return
                self._send(200, {"name": name, "full_name": name, "catalog_type": "MANAGED_CATALOG"})
            elif rest == "/schemas":
                catalog = query.get("catalog_name", [""])[0]
                if catalog not in state.catalogs:
                    self._not_found("catalog", catalog)
                    return
                # Unity Catalog lists the system schema in every catalog.
                names = sorted(
                    {s for s in state.schemas if s.split(".")[0] == catalog} | {f"{catalog}.information_schema"}
                )
                schemas = [{"name": n.split(".")[1], "catalog_name": catalog, "full_name": n} for n in names]
                self._send(200, self._paged("schemas", schemas, query))
            elif rest == "/tables":
                catalog = query.get("catalog_name", [""])[0]
                schema_name = query.get("schema_name", [""])[0]
                if f"{catalog}.{schema_name}" not in state.schemas:
                    self._not_found("schema", f"{catalog}.{schema_name}")
                    return
                full = sorted(t for t in state.tables if t.rsplit(".", 1)[0] == f"{catalog}.{schema_name}")
                tables = [
                    {
                        "name": t.rsplit(".", 1)[1],
                        "catalog_name": catalog,
                        "schema_name": schema_name,
                        "full_name": t,
                        "table_type": state.tables[t],
                    }
                    for t in full
                ]
                self._send(200, self._paged("tables", tables, query))
            elif rest.startswith("/permissions/"):
                securable_type, _, full_name = rest[len("/permissions/") :].partition("/")
                full_name = unquote(full_name)
                if not self._check_securable(securable_type, full_name):
                    return
                assignments = self._assignments(securable_type, full_name)
                if "max_results" in query:
                    self._send(200, self._paged("privilege_assignments", assignments, query))
                else:
                    self._send(200, {"privilege_assignments": assignments})
            else:
                self._api_error(404, "NOT_FOUND", f"no such endpoint: {url.path}")

    def _check_securable(self, securable_type: str, full_name: str) -> bool:
        state = self.server.state
        if (securable_type, full_name) in state.forbidden:
            self._permission_denied("MANAGE", securable_type, full_name)
            return False
        if not state.exists(securable_type, full_name):
            self._not_found(securable_type, full_name)
            return False
        return True

    def do_PATCH(self) -> None:
        url = urlsplit(self.path)
        self.server.requests.append(("PATCH", url.path, url.query))
        length = int(self.headers.get("Content-Length", "0") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        token = self._authorized()
        if token is None:
            return
        rest = url.path[len(PREFIX) :]
        if not url.path.startswith(PREFIX) or not rest.startswith("/permissions/"):
            self._api_error(404, "NOT_FOUND", f"no such endpoint: {url.path}")
            return
        securable_type, _, full_name = rest[len("/permissions/") :].partition("/")
        full_name = unquote(full_name)
        with self.server.lock:
            if not self._check_securable(securable_type, full_name):
                return
            if token in self.server.readonly_tokens:
                self._permission_denied("MANAGE", securable_type, full_name)
                return
            if not self._apply_changes(securable_type, full_name, payload.get("changes", [])):
                return
            self._send(200, {"privilege_assignments": self._assignments(securable_type, full_name)})

    def _apply_changes(self, securable_type: str, full_name: str, changes: list[dict[str, Any]]) -> bool:
        """PermissionsChange: by `principal`, or by `principal_id` to remove a deleted principal's privileges. The
        reference says "Only one of principal or principal_id should be specified" and, for principal_id, "only the
        entries specified in the remove field are processed; any entries in the add field will be rejected"."""
        state = self.server.state
        key = (securable_type, full_name)
        for change in changes:
            principal, principal_id = change.get("principal"), change.get("principal_id")
            if (principal is None) == (principal_id is None) or (principal_id is not None and change.get("add")):
                self._api_error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "Specify exactly one of principal or principal_id; principal_id only removes privileges.",
                )
                return False
        for change in changes:
            if change.get("principal_id") is not None:
                held = state.deleted_grants.get(key, {}).get(int(change["principal_id"]))
                if held is not None:
                    held.difference_update(change.get("remove", []))
                    if not held:
                        del state.deleted_grants[key][int(change["principal_id"])]
                continue
            state.grant(securable_type, full_name, change["principal"], *change.get("add", []))
            state.revoke(securable_type, full_name, change["principal"], *change.get("remove", []))
        return True


class FakeUnityCatalogServer(LoopbackServer):
    """`with FakeUnityCatalogServer(state) as server:` serves on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(
        self,
        state: UnityCatalogState,
        *,
        tokens: Iterable[str] = ("test-token",),
        readonly_tokens: Iterable[str] = ("read-only-token",),
        page_size: int = 2,
        empty_pages: bool = True,
    ) -> None:
        super().__init__(_Handler, "fake-uc")
        self.state = state
        self.tokens = set(tokens)
        self.readonly_tokens = set(readonly_tokens)
        self.page_size = page_size
        self.empty_pages = empty_pages
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []
        # What the server did, for tests that must prove a path was exercised.
        self.empty_pages_served = 0
        self.rejected_tokens = 0
