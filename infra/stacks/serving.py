"""What readers use once the pipeline has published: secure views, their grants, alerts (the serving stack).

These objects select from tables only the pipeline's first update creates (gold.correlations, ops quarantine
tables, the event log). Unity Catalog checks a view's query when it is created, so a view created before its table
fails with TABLE_OR_VIEW_NOT_FOUND: they live in their own stack, deployed after the pipeline has run
(infra/phases.py; `lakehouse deploy` sequences it).
"""

from __future__ import annotations

from infra.alerts import alert_specs
from infra.cdk import Construct, databricks
from infra.config import EnvironmentConfig
from infra.observability import dashboard_spec, health_views
from infra.permissions import Persona
from infra.stacks.common import logical_id, workspace_api_path
from infra.views import secure_views


def deployer_view(
    scope: Construct,
    env: EnvironmentConfig,
    *,
    schema: str,
    name: str,
    definition: str,
    comment: str,
    warehouse_id: str,
    depends_on: list[databricks.sql_table.SqlTable] | None = None,
) -> databricks.sql_table.SqlTable:
    """A Unity Catalog view (`databricks_sql_table`, VIEW) owned by the deployer: a view runs with its owner's rights,
    and the deployer's SELECT on the schemas views read comes from the matrix."""
    return databricks.sql_table.SqlTable(
        scope,
        logical_id("view", schema, name),
        catalog_name=env.catalog,
        schema_name=schema,
        name=name,
        table_type="VIEW",
        view_definition=definition,
        comment=comment,
        warehouse_id=warehouse_id,
        owner=env.principal(Persona.DEPLOYER),
        depends_on=depends_on,
    )


class SecureViews(Construct):
    """Handle: `views[(schema, name)]`. Each view is rendered from sql/views/<name>.sql and owned by the deployer
    (a view runs with its owner's rights; the deployer's SELECT on its schema comes from the matrix)."""

    def __init__(self, scope: Construct, construct_id: str, env: EnvironmentConfig, *, warehouse_id: str) -> None:
        super().__init__(scope, construct_id)
        self.views: dict[tuple[str, str], databricks.sql_table.SqlTable] = {}
        for view in secure_views(env.catalog, env.principals):
            # Secure view (masking + row filter by group membership) rendered from sql/views/<name>.sql.
            self.views[(view.schema, view.name)] = deployer_view(
                self,
                env,
                schema=view.schema,
                name=view.name,
                definition=view.definition,
                comment=f"Secure view from sql/views/{view.name}.sql; managed by Terraform (cdktn).",
                warehouse_id=warehouse_id,
            )


class Alerts(Construct):
    """SQL alerts that schedule themselves (`databricks_alert_v2`: Quartz schedule, no wrapper job) and mail through a
    notification destination (a mailing list is not a workspace user, so it cannot be a user subscription).

    They run as the pipeline principal, which reads `ops` and `silver` (matrix), not as whoever deployed them.
    Handles: `destination` (None without notification_emails), `alerts[name]`.
    """

    def __init__(self, scope: Construct, construct_id: str, env: EnvironmentConfig, *, warehouse_id: str) -> None:
        super().__init__(scope, construct_id)
        self.destination = (
            databricks.notification_destination.NotificationDestination(
                self,
                "notification_destination",
                display_name=f"lakehouse on-call ({env.name})",
                config=databricks.notification_destination.NotificationDestinationConfigA(
                    email=databricks.notification_destination.NotificationDestinationConfigEmail(
                        addresses=list(env.notification_emails)
                    )
                ),
            )
            if env.notification_emails
            else None
        )
        subscriptions = (
            [databricks.alert_v2.AlertV2EvaluationNotificationSubscriptions(destination_id=self.destination.id)]
            if self.destination is not None
            else None
        )
        pause = "PAUSED" if env.ingestion.paused else "UNPAUSED"
        self.alerts: dict[str, databricks.alert_v2.AlertV2] = {}
        for spec in alert_specs(env):
            self.alerts[spec.name] = databricks.alert_v2.AlertV2(
                self,
                logical_id("alert", spec.name),
                display_name=f"lakehouse {spec.display_name} ({env.name})",
                query_text=spec.sql,
                warehouse_id=warehouse_id,
                parent_path=workspace_api_path(env.workspace_root),
                run_as=databricks.alert_v2.AlertV2RunAs(service_principal_name=env.principal(Persona.PIPELINE)),
                evaluation=databricks.alert_v2.AlertV2Evaluation(
                    source=databricks.alert_v2.AlertV2EvaluationSource(name=spec.column),
                    comparison_operator="GREATER_THAN",
                    threshold=databricks.alert_v2.AlertV2EvaluationThreshold(
                        value=databricks.alert_v2.AlertV2EvaluationThresholdValue(double_value=spec.threshold)
                    ),
                    # No rows means nothing to judge (e.g. nothing ingested in the window): not an incident.
                    empty_result_state="OK",
                    notification=databricks.alert_v2.AlertV2EvaluationNotification(
                        subscriptions=subscriptions, notify_on_ok=True, retrigger_seconds=3600
                    ),
                ),
                schedule=databricks.alert_v2.AlertV2Schedule(
                    quartz_cron_schedule=env.alerts.schedule_cron,
                    timezone_id=env.ingestion.timezone,
                    pause_status=pause,
                ),
            )


class HealthViews(Construct):
    """Pipeline health in `ops` (docs/observability.md): views over the event log and the quarantine tables,
    rendered from sql/health/*.sql by `infra.observability.health_views`, owned by the deployer like every view.
    Handle: `views[name]`."""

    def __init__(self, scope: Construct, construct_id: str, env: EnvironmentConfig, *, warehouse_id: str) -> None:
        super().__init__(scope, construct_id)
        self.views: dict[str, databricks.sql_table.SqlTable] = {}
        for spec in health_views(env.catalog):
            # A view built on another health view is created after it (UC analyzes the query at CREATE VIEW).
            self.views[spec.name] = deployer_view(
                self,
                env,
                schema=spec.schema,
                name=spec.name,
                definition=spec.definition,
                comment=spec.comment,
                warehouse_id=warehouse_id,
                depends_on=[self.views[d] for d in spec.depends_on] or None,
            )


class LakeviewDashboard(Construct):
    """The Lakeview dashboard (`databricks_dashboard`) from dashboards/lakehouse.lvdash.json, on the warehouse.

    Tiles run with each viewer's own grants (`embed_credentials = false`), so the analyst pages show each reader
    only what the analyst view lets them see. Handle: `dashboard`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        env: EnvironmentConfig,
        *,
        warehouse_id: str,
        after: list[databricks.sql_table.SqlTable],
    ) -> None:
        super().__init__(scope, construct_id)
        board = dashboard_spec(env.name, env.catalog, workspace_api_path(env.workspace_root))
        self.dashboard = databricks.dashboard.Dashboard(
            self,
            "dashboard",
            display_name=board.display_name,
            parent_path=board.parent_path,
            warehouse_id=warehouse_id,
            serialized_dashboard=board.serialized_dashboard,
            embed_credentials=board.embed_credentials,
            depends_on=after,
        )
