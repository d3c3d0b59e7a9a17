"""The loopback Unity Catalog server plus the workspace endpoints `lakehouse preflight` and `deploy` read.

Paths and JSON shapes are those databricks-sdk 0.162.0 calls and parses (databricks/sdk/service/iam.py, catalog.py):

- GET /api/2.0/preview/scim/v2/Me                                   SCIM User: userName, groups[].display
- GET /api/2.0/preview/scim/v2/Groups?filter=displayName eq "x"     SCIM ListResponse (Resources, totalResults)
- GET /api/2.0/preview/scim/v2/ServicePrincipals?filter=applicationId eq "x"
- GET /api/2.1/unity-catalog/current-metastore-assignment           404 METASTORE_DOES_NOT_EXIST when unassigned
- GET /api/2.1/unity-catalog/metastores/{id}                        storage_root, owner
- GET /api/2.1/unity-catalog/effective-permissions/metastore/{id}   privilege_assignments[].privileges[].privilege
- GET /api/2.1/unity-catalog/external-locations                     external_locations[].url
- GET /api/2.1/unity-catalog/catalogs/{name}                        owner (extends the UC fake's answer)

A completed pipeline update publishes `publishes[pipeline_id]` (full table names), as a first update would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fake_uc_server import PREFIX, FakeUnityCatalogServer, UnityCatalogState, _Handler

SCIM = "/api/2.0/preview/scim/v2"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@dataclass
class WorkspaceState:
    identity: str
    groups: set[str] = field(default_factory=set)  # the identity's groups
    workspace_groups: set[str] = field(default_factory=set)  # groups that exist
    service_principals: set[str] = field(default_factory=set)  # application ids that exist
    metastore_id: str | None = "metastore-1"
    metastore_storage_root: str | None = None
    metastore_owner: str = "metastore-admins"
    metastore_privileges: dict[str, set[str]] = field(default_factory=dict)  # principal -> privileges
    external_locations: list[str] = field(default_factory=list)
    catalog_owners: dict[str, str] = field(default_factory=dict)
    publishes: dict[str, list[str]] = field(default_factory=dict)  # pipeline id -> tables its update creates


class _WorkspaceHandler(_Handler):
    server: FakeWorkspaceServer

    def _scim_list(self, resources: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
        # SCIM pagination (RFC 7644 §3.4.2.4): 1-based startIndex and count; the SDK pages until a page is empty.
        start = int(query.get("startIndex", ["1"])[0] or 1)
        count = int(query.get("count", [str(len(resources) or 1)])[0] or 1)
        page = resources[start - 1 : start - 1 + count]
        self._send(
            200,
            {
                "schemas": [LIST_RESPONSE],
                "totalResults": len(resources),
                "startIndex": start,
                "itemsPerPage": len(page),
                **({"Resources": page} if page else {}),
            },
        )

    def _filter_value(self, query: dict[str, list[str]]) -> str:
        raw = query.get("filter", [""])[0]
        return raw.split(" eq ", 1)[1].strip().strip('"') if " eq " in raw else ""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        ws = self.server.workspace
        path = url.path
        if path.startswith(SCIM):
            self.server.requests.append(("GET", path, url.query))
            if self._authorized() is None:
                return
            if path == f"{SCIM}/Me":
                groups = [{"display": g, "value": str(i)} for i, g in enumerate(sorted(ws.groups))]
                self._send(200, {"id": "1", "userName": ws.identity, "groups": groups, "active": True})
            elif path == f"{SCIM}/Groups":
                name = self._filter_value(query)
                found = [{"id": "g1", "displayName": name}] if name in ws.workspace_groups else []
                self._scim_list(found, query)
            elif path == f"{SCIM}/ServicePrincipals":
                app_id = self._filter_value(query)
                found = [{"id": "s1", "applicationId": app_id}] if app_id in ws.service_principals else []
                self._scim_list(found, query)
            else:
                self._api_error(404, "NOT_FOUND", f"no such endpoint: {path}")
            return
        rest = path[len(PREFIX) :] if path.startswith(PREFIX) else None
        if rest == "/current-metastore-assignment":
            self.server.requests.append(("GET", path, url.query))
            if self._authorized() is None:
                return
            if ws.metastore_id is None:
                # Unity Catalog's answer for a workspace with no metastore assigned.
                self._api_error(404, "METASTORE_DOES_NOT_EXIST", "No metastore assigned for the current workspace.")
            else:
                self._send(200, {"metastore_id": ws.metastore_id, "workspace_id": 1, "default_catalog_name": "main"})
            return
        if rest is not None and rest.startswith("/metastores/"):
            self.server.requests.append(("GET", path, url.query))
            if self._authorized() is not None:
                body: dict[str, Any] = {"metastore_id": ws.metastore_id, "name": "main", "owner": ws.metastore_owner}
                if ws.metastore_storage_root:
                    body["storage_root"] = ws.metastore_storage_root
                self._send(200, body)
            return
        if rest is not None and rest.startswith("/effective-permissions/metastore/"):
            self.server.requests.append(("GET", path, url.query))
            if self._authorized() is not None:
                principal = query.get("principal", [ws.identity])[0]
                privileges = sorted(ws.metastore_privileges.get(principal, set()))
                assignments = (
                    [{"principal": principal, "privileges": [{"privilege": p} for p in privileges]}]
                    if privileges
                    else []
                )
                self._send(200, {"privilege_assignments": assignments})
            return
        if rest == "/external-locations":
            self.server.requests.append(("GET", path, url.query))
            if self._authorized() is not None:
                locations = [{"name": f"loc{i}", "url": u} for i, u in enumerate(ws.external_locations)]
                self._send(200, {"external_locations": locations})
            return
        if rest is not None and rest.startswith("/catalogs/") and unquote(rest[10:]) in ws.catalog_owners:
            self.server.requests.append(("GET", path, url.query))
            if self._authorized() is not None:
                name = unquote(rest[10:])
                self._send(200, {"name": name, "full_name": name, "owner": ws.catalog_owners[name]})
            return
        if path.startswith("/api/2.0/pipelines/") and "/updates/" in path:
            pipeline_id = path.split("/")[4]
            states = self.server.state.pipeline_update_states.get(pipeline_id, [])
            if len(states) == 1 and states[0] == "COMPLETED":
                for table in ws.publishes.get(pipeline_id, []):
                    self.server.state.tables.setdefault(table, "MANAGED")
        super().do_GET()


class FakeWorkspaceServer(FakeUnityCatalogServer):
    """`with FakeWorkspaceServer(uc_state, workspace_state) as server:` on 127.0.0.1:<free port>."""

    def __init__(
        self,
        state: UnityCatalogState,
        workspace: WorkspaceState,
        *,
        tokens: Iterable[str] = ("test-token",),
    ) -> None:
        super().__init__(state, tokens=tokens)
        self.RequestHandlerClass = _WorkspaceHandler
        self.workspace = workspace
