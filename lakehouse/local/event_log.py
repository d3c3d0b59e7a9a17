"""A pipeline event log for a local run, in the shape of the Databricks event log table, so the health SQL in
`sql/health/` runs unchanged over a laptop run.

On Databricks the pipeline writes its event log to `ops.pipeline_event_log` (Databricks "Pipeline event log
schema"): one row per event with `id`, `origin` (a struct: `pipeline_id`, `pipeline_name`, `update_id`,
`flow_name`, `dataset_name`), `timestamp`, `message`, `level`, `maturity_level`, `event_type` and `details`, a JSON
string shaped by the event type (`create_update`, `update_progress.state`, `flow_progress.status`,
`flow_progress.metrics.num_output_rows`).

Open-source `spark-pipelines` keeps no event log table; it prints its events as `<time>: <message>` lines. This
module turns those lines into the same rows:

- `create_update` at the first line ("Loading pipeline spec ..."), `update_progress` INITIALIZING ("Creating
  dataflow graph"), SETTING_UP_TABLES ("Registering graph elements"), RUNNING ("Starting run"), and the run's end
  state ("Run is COMPLETED.", FAILED, CANCELED); a run that stopped without one is FAILED at its last line;
- one `flow_progress` event per printed flow state (QUEUED, PLANNING, STARTING, RUNNING, COMPLETED, FAILED); the
  COMPLETED event carries `metrics.num_output_rows`: the rows of the table after the run, which is what the
  update wrote because every local run starts from an empty warehouse.

What differs from Databricks: no `data_quality` records (open-source Spark has no native expectations, so the
silver rules' failures come from the quarantine tables on both runtimes), one-second timestamps (the CLI prints
no more), and no `sequence`, `error` or cluster events (the health SQL does not read them).
Flow and end-of-run lines carry the server's UTC time; the CLI's own lines carry this machine's local time.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

# The columns of the local event log table, named and nested as in the Databricks event log.
EVENT_LOG_DDL: Final = (
    "id STRING, "
    "origin STRUCT<pipeline_id: STRING, pipeline_name: STRING, update_id: STRING, flow_name: STRING, "
    "dataset_name: STRING>, "
    "`timestamp` TIMESTAMP, message STRING, level STRING, maturity_level STRING, event_type STRING, details STRING"
)
TERMINAL_UPDATE_STATES: Final = ("COMPLETED", "FAILED", "CANCELED")

_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): (?P<message>.*)$")
_FLOW = re.compile(r"^Flow (?P<flow>[\w.`]+) (?:is|has) (?P<state>[A-Z_]+)\.?$")
_RUN_END = re.compile(r"^Run is (?P<state>[A-Z_]+)\.?$")
# Client-side milestones of `spark-pipelines run` (pyspark/pipelines/cli.py) -> the update state they begin.
_CLIENT_STATES: Final = (
    ("Creating dataflow graph", "INITIALIZING"),
    ("Registering graph elements", "SETTING_UP_TABLES"),
    ("Starting run", "RUNNING"),
)


@dataclass(frozen=True)
class PipelineEvent:
    """One event log row."""

    event_type: str
    timestamp: datetime
    message: str
    details: dict[str, Any]
    level: str = "INFO"
    flow_name: str | None = None

    def row(self, *, index: int, update_id: str, pipeline_id: str, pipeline_name: str) -> dict[str, Any]:
        """The row as the event log table holds it (`details` as JSON text, `origin` as a struct)."""
        return {
            "id": str(uuid.uuid5(uuid.UUID(int=0), f"{update_id}/{index}")),
            "origin": {
                "pipeline_id": pipeline_id,
                "pipeline_name": pipeline_name,
                "update_id": update_id,
                "flow_name": self.flow_name,
                "dataset_name": self.flow_name,
            },
            "timestamp": self.timestamp,
            "message": self.message,
            "level": self.level,
            "maturity_level": "STABLE",
            "event_type": self.event_type,
            "details": json.dumps(self.details, sort_keys=True),
        }


def _server_time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _client_time(stamp: str) -> datetime:
    # A naive datetime's astimezone() reads it as this machine's local time, as the CLI's datetime.now() wrote it.
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").astimezone(UTC)


def table_of_flow(flow: str) -> str:
    """`spark_catalog.silver.gdelt_events` -> `silver.gdelt_events` (the health SQL's normalization)."""
    parts = flow.replace("`", "").split(".")
    return ".".join(parts[-2:])


def events_from_log(lines: Iterable[str], *, rows: Mapping[str, int], run_failed: bool = False) -> list[PipelineEvent]:
    """The events of one `spark-pipelines run` log. `rows` maps `schema.table` to its rows after the run;
    `run_failed` marks a run whose process failed (FAILED at the last line when no end-of-run line came)."""
    events: list[PipelineEvent] = []
    last: datetime | None = None
    ended = False
    for raw in lines:
        match = _LINE.match(raw.strip())
        if not match:
            continue
        stamp, message = match.group("ts"), match.group("message").strip()
        flow = _FLOW.match(message)
        run_end = _RUN_END.match(message)
        if flow:
            when = _server_time(stamp)
            state, name = flow.group("state"), flow.group("flow").replace("`", "")
            progress: dict[str, Any] = {"status": state}
            if state == "COMPLETED" and table_of_flow(name) in rows:
                progress["metrics"] = {"num_output_rows": rows[table_of_flow(name)]}
            level = "ERROR" if state == "FAILED" else "INFO"
            events.append(PipelineEvent("flow_progress", when, message, {"flow_progress": progress}, level, name))
        elif run_end:
            when = _server_time(stamp)
            state = run_end.group("state")
            level = "ERROR" if state == "FAILED" else "INFO"
            events.append(PipelineEvent("update_progress", when, message, {"update_progress": {"state": state}}, level))
            ended = state in TERMINAL_UPDATE_STATES
        else:
            when = _client_time(stamp)
            if not events:
                details = {"create_update": {"cause": "USER_ACTION", "full_refresh": False}}
                events.append(PipelineEvent("create_update", when, "Update created by lakehouse run-local.", details))
                events.append(PipelineEvent("update_progress", when, message, {"update_progress": {"state": "QUEUED"}}))
            for prefix, state in _CLIENT_STATES:
                if message.startswith(prefix):
                    details = {"update_progress": {"state": state}}
                    events.append(PipelineEvent("update_progress", when, message, details))
        last = when
    if events and not ended and last is not None:
        state = "FAILED" if run_failed else "COMPLETED"
        level = "ERROR" if run_failed else "INFO"
        message = f"Update is {state} (no end-of-run line in the log)."
        events.append(PipelineEvent("update_progress", last, message, {"update_progress": {"state": state}}, level))
    return events


def event_rows(
    events: Sequence[PipelineEvent], *, update_id: str, pipeline_id: str, pipeline_name: str = "lakehouse-local"
) -> list[dict[str, Any]]:
    """The rows of the event log table for one update."""
    return [
        e.row(index=i, update_id=update_id, pipeline_id=pipeline_id, pipeline_name=pipeline_name)
        for i, e in enumerate(events)
    ]


def flow_seconds(events: Sequence[PipelineEvent]) -> dict[str, float]:
    """Per table: seconds from its flow's first RUNNING to its last terminal state (the report's time per flow)."""
    started: dict[str, datetime] = {}
    out: dict[str, float] = {}
    for e in events:
        if e.event_type != "flow_progress" or e.flow_name is None:
            continue
        table = table_of_flow(e.flow_name)
        status = e.details["flow_progress"]["status"]
        if status == "RUNNING":
            started.setdefault(table, e.timestamp)
        elif status in ("COMPLETED", "FAILED") and table in started:
            out[table] = (e.timestamp - started[table]).total_seconds()
    return out


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: Path) -> Path:
    """The rows as JSON lines (timestamps in ISO 8601, UTC), for reading back with `spark.read.json`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            record = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
            out.write(json.dumps(record, sort_keys=True) + "\n")
    return path
