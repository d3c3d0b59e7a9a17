"""Typed environment config: `infra/environments.toml` loaded into frozen, validated dataclasses.

Validation is pydantic's (unknown keys, types, ranges); this module turns its findings into one message that
names the file, the key and the fix, and stops synth before any resource is built.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass

from infra.guard_rules import MAX_WORKERS
from infra.permissions import Persona
from pipelines.errors import LakehouseError
from pipelines.settings import (
    DEFAULT_LATENESS_MINUTES,
    DEFAULT_SIMILARITY_THRESHOLD,
    DEFAULT_TEXT_VECTOR_RETENTION_HOURS,
    DEFAULT_TOP_K,
    DEFAULT_WIKIS,
    DEFAULT_WINDOW_HOURS,
    PipelineSettings,
    PipelineSettingsError,
)

DEFAULT_CONFIG_PATH = Path(__file__).with_name("environments.toml")
SCHEMA_VERSION = 2
ENVIRONMENT_NAMES = ("staging", "production")
# How to move a file of an older schema version to this one (blueprint-style explicit migration).
MIGRATIONS = {
    1: "version 2 moved state to one top-level [state] table (remove [environments.<env>.backend]; CI refuses local "
    "state), added the deployer and auditor personas under [environments.<env>.principals], replaced "
    "pipeline.continuous by pipeline.trigger and ingestion worker counts by ingestion.compute; then set "
    "schema_version = 2",
}
# A laptop may keep state in local files (`LAKEHOUSE_STATE=local`); CI (which sets CI=true) never may.
LOCAL_STATE_ENV = "LAKEHOUSE_STATE"

# Unity Catalog object names we create: lower-case, so they never need quoting and never differ only by case.
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
_WORKSPACE_ROOT = re.compile(r"^/Workspace(/[A-Za-z0-9_.@-]+)+$")
# Every workspace user can edit what is under /Workspace/Shared (databricks/cli#5428 warns about bundles there).
_SHARED_FOLDER = "/Workspace/Shared"
# Managed storage for a catalog: a cloud storage URL (S3, ADLS Gen2, GCS, R2).
_STORAGE_ROOT = re.compile(r"^(s3|abfss|gs|r2)://[^\s/]+(/[^\s]*)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConfigError(LakehouseError):
    """The environment config is invalid; the message names the file, the key and the fix."""


@dataclass(frozen=True, config=_STRICT)
class LocalBackend:
    """Terraform state in a local file next to the synthesized stack (a laptop only; refused when CI is set)."""

    type: Literal["local"]


@dataclass(frozen=True, config=_STRICT)
class S3Backend:
    """Terraform state in S3, one object per environment and stack, locked with Terraform's native lock file."""

    type: Literal["s3"]
    bucket: str
    region: str
    # Objects are <key_prefix>/<environment>/<stack>.tfstate: one state per stack, never shared.
    key_prefix: str = "lakehouse"
    encrypt: bool = True
    # Terraform >= 1.10 native S3 locking (hashicorp/terraform#35661); or a DynamoDB table (older, deprecated).
    use_lockfile: bool = True
    dynamodb_table: str | None = None

    @model_validator(mode="after")
    def _locks(self) -> S3Backend:
        if not self.use_lockfile and not self.dynamodb_table:
            raise ValueError("remote state must lock: set use_lockfile = true (or dynamodb_table)")
        return self

    def key(self, environment: str, stack: str) -> str:
        return f"{self.key_prefix.strip('/')}/{environment}/{stack}.tfstate"


Backend = Annotated[LocalBackend | S3Backend, Field(discriminator="type")]


@dataclass(frozen=True, config=_STRICT)
class StateConfig:
    """The top-level [state] table: where every stack of every environment keeps its Terraform state."""

    backend: Backend


def resolve_backend(state: StateConfig, environ: Mapping[str, str]) -> LocalBackend | S3Backend:
    """The backend a synth uses: the configured one, or local files when a developer asks (`LAKEHOUSE_STATE=local`).

    Local state on a CI runner is lost with the runner: the next deploy would plan to create everything again and
    fail on "already exists". So local state is refused whenever `CI` is set (GitHub Actions sets CI=true).
    """
    backend: LocalBackend | S3Backend = state.backend
    if environ.get(LOCAL_STATE_ENV, "").strip().lower() == "local":
        backend = LocalBackend(type="local")
    if isinstance(backend, LocalBackend) and environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        raise ConfigError(
            "local Terraform state is refused on CI (CI is set): a runner's files vanish after the job, so the next "
            f"deploy would try to create everything again. Unset {LOCAL_STATE_ENV} and configure the remote "
            '[state] table in infra/environments.toml (type = "s3", bucket, region).'
        )
    return backend


_QUARTZ_FIELDS = 6  # seconds minutes hours day-of-month month day-of-week [year]


def _check_worker_bounds(min_workers: int, max_workers: int) -> None:
    if min_workers > max_workers:
        raise ValueError(
            f"min_workers ({min_workers}) > max_workers ({max_workers}):"
            f" lower min_workers or raise max_workers (at most {MAX_WORKERS})"
        )


@dataclass(frozen=True, config=_STRICT)
class ClusterConfig:
    spark_version: str
    node_type_id: str
    min_workers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = 1
    max_workers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = MAX_WORKERS
    autotermination_minutes: Annotated[int, Field(ge=10, le=240)] = 30

    @model_validator(mode="after")
    def _bounds(self) -> ClusterConfig:
        _check_worker_bounds(self.min_workers, self.max_workers)
        return self


def _quartz_cron(value: str) -> str:
    if len(value.split()) not in (_QUARTZ_FIELDS, _QUARTZ_FIELDS + 1):
        raise ValueError(f"{value!r} is not a quartz cron expression: use 6 or 7 fields, e.g. '0 0/15 * * * ?'")
    return value


@dataclass(frozen=True, config=_STRICT)
class PipelineConfig:
    """The Lakeflow pipeline: its compute (serverless by default) and what starts its updates.

    `trigger`: `continuous` (the pipeline runs all the time: lowest latency, compute always on), `scheduled` (a job
    with a pipeline task on `refresh_cron`), or `file_arrival` (a job triggered when files land in the landing
    volume). Argued in docs/deploy.md, "What starts the pipeline".
    """

    development: bool = True
    channel: Literal["CURRENT", "PREVIEW"] = "CURRENT"
    serverless: bool = True
    trigger: Literal["continuous", "scheduled", "file_arrival"] = "scheduled"
    # Every 15 minutes, a few minutes after GDELT publishes and the loader lands (quartz: sec min hour dom mon dow).
    refresh_cron: str = "0 5/15 * * * ?"
    # Classic compute only (serverless sizes itself):
    photon: bool = False
    node_type_id: str = "i3.xlarge"
    min_workers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = 1
    max_workers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = MAX_WORKERS
    # The engine's settings, written into the pipeline's configuration. Their ranges live in one place,
    # pipelines.settings.PipelineSettings (which the pipeline reads back); `_engine_settings` applies them here, so an
    # out-of-range value is a config error naming this file and key, not a failed pipeline update.
    window_hours: int = DEFAULT_WINDOW_HOURS
    similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD
    top_k: int = DEFAULT_TOP_K
    lateness_minutes: int = DEFAULT_LATENESS_MINUTES
    text_vector_retention_hours: int = DEFAULT_TEXT_VECTOR_RETENTION_HOURS
    # Which wikis silver keeps (comma-separated database names); the Wikimedia listener lands only these.
    wikis: str = DEFAULT_WIKIS
    include_bots: bool = False

    @field_validator("refresh_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _quartz_cron(value)

    @model_validator(mode="after")
    def _bounds(self) -> PipelineConfig:
        _check_worker_bounds(self.min_workers, self.max_workers)
        return self

    @model_validator(mode="after")
    def _engine_settings(self) -> PipelineConfig:
        try:
            self.engine_settings()
        except PipelineSettingsError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def engine_settings(self, **paths: str) -> PipelineSettings:
        """The pipeline settings these values make (`paths`: the landing paths and catalog the stack adds)."""
        return PipelineSettings(
            window_hours=self.window_hours,
            similarity_threshold=self.similarity_threshold,
            top_k=self.top_k,
            lateness_minutes=self.lateness_minutes,
            text_vector_retention_hours=self.text_vector_retention_hours,
            wikis=self.wikis,
            include_bots=self.include_bots,
            **paths,
        )


@dataclass(frozen=True, config=_STRICT)
class SqlWarehouseConfig:
    name: str
    cluster_size: Literal["2X-Small", "X-Small", "Small", "Medium", "Large"] = "2X-Small"
    auto_stop_mins: Annotated[int, Field(ge=1, le=120)] = 10


@dataclass(frozen=True, config=_STRICT)
class IngestionConfig:
    """The two ingestion jobs (GDELT loader on a schedule, Wikimedia listener continuous) and their compute.

    Both are single-process Python in the driver, so `compute` is `serverless` (serverless jobs compute with a
    pinned environment) or `single_node` (a one-node job cluster of `node_type_id`), never a multi-worker cluster.
    """

    gdelt_base_url: str = "http://data.gdeltproject.org/gdeltv2"
    wikimedia_url: str = "https://stream.wikimedia.org/v2/stream/recentchange"
    # GDELT publishes a new export every 15 minutes; quartz syntax because that is what Databricks jobs take.
    gdelt_cron: str = "0 0/15 * * * ?"
    timezone: str = "UTC"
    # Staging keeps its schedules and stream paused so it costs nothing until someone starts a run.
    paused: bool = False
    compute: Literal["serverless", "single_node"] = "serverless"
    node_type_id: str = "m5d.large"

    @field_validator("gdelt_base_url", "wikimedia_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("gdelt_cron")
    @classmethod
    def _quartz(cls, value: str) -> str:
        return _quartz_cron(value)


@dataclass(frozen=True, config=_STRICT)
class AlertsConfig:
    """What the SQL alerts watch and how often; they mail `notification_emails` through a notification destination."""

    # Alert when more than this share of a recent window's rows failed an expectation (real feeds always have some).
    quarantine_ratio_max: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    lookback_hours: Annotated[int, Field(ge=1, le=168)] = 24
    schedule_cron: str = "0 10 * * * ?"

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _quartz_cron(value)


@dataclass(frozen=True, config=_STRICT)
class EnvironmentConfig:
    name: str
    catalog: str
    workspace_host: str
    # Workspace folder the bundle (pipelines/**) is uploaded to; the pipeline's root_path. Terraform creates it with
    # its own ACL (admins manage, the pipeline principal reads), so it must not be under /Workspace/Shared.
    workspace_root: str
    state: StateConfig
    principals: dict[Persona, str]
    cluster: ClusterConfig
    pipeline: PipelineConfig
    sql_warehouse: SqlWarehouseConfig
    ingestion: IngestionConfig = Field(default_factory=IngestionConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    notification_emails: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    # Managed storage of the catalog. Required where the metastore has no storage root of its own (metastores of
    # workspaces enabled for Unity Catalog automatically have none): CREATE CATALOG then fails without it.
    storage_root: str | None = None

    @field_validator("catalog")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(
                f"{value!r} is not a valid catalog name: use lower-case letters, digits and _, starting with a letter"
            )
        return value

    @field_validator("workspace_root")
    @classmethod
    def _workspace_root(cls, value: str) -> str:
        value = value.rstrip("/")
        if not _WORKSPACE_ROOT.match(value):
            raise ValueError(
                f"{value!r} is not a workspace folder: use an absolute /Workspace/... path"
                " of letters, digits, '.', '@', '-', '_' and '/'"
            )
        if value == _SHARED_FOLDER or value.startswith(_SHARED_FOLDER + "/"):
            raise ValueError(
                f"{value!r} is under {_SHARED_FOLDER}, where every workspace user can edit files: the pipeline would"
                " run code anyone can change. Use a folder of the deployer, e.g. /Workspace/Users/<deployer>/lakehouse"
            )
        return value

    @field_validator("storage_root")
    @classmethod
    def _storage_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.rstrip("/")
        if not _STORAGE_ROOT.match(value):
            raise ValueError(
                f"{value!r} is not a cloud storage URL: use s3://bucket/path, abfss://container@account.dfs.core."
                "windows.net/path or gs://bucket/path (an external location must cover it)"
            )
        return value

    @field_validator("workspace_host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"{value!r} must be an https:// workspace URL")
        return value.rstrip("/")

    @field_validator("principals", mode="before")
    @classmethod
    def _known_personas(cls, value: Any) -> Any:
        if isinstance(value, dict):
            known = sorted(p.value for p in Persona)
            unknown = sorted(set(value) - set(known))
            if unknown:
                raise ValueError(f"unknown persona {', '.join(unknown)}: use one of {', '.join(known)}")
            missing = sorted(set(known) - set(value))
            if missing:
                raise ValueError(f"missing persona {', '.join(missing)}: every persona needs a principal")
            for persona, principal in value.items():
                if not isinstance(principal, str) or not principal.strip():
                    raise ValueError(f"principal for {persona} must be a non-empty group, user or application id")
        return value

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for email in value:
            if not _EMAIL.match(email):
                raise ValueError(f"{email!r} is not an email address")
        return value

    def principal(self, persona: Persona) -> str:
        return self.principals[persona]


def _format_errors(path: Path, env: str | None, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        key = f"environments.{env}.{loc}" if env else loc
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            msg = "unknown key: remove it or check its spelling against infra/config.py"
        elif err["type"] == "missing":
            msg = "required key is missing: add it"
        lines.append(f"{path}: [{key}] {msg}")
    return "invalid environment config:\n  " + "\n  ".join(lines)


def load_environments(path: Path = DEFAULT_CONFIG_PATH) -> dict[str, EnvironmentConfig]:
    """Load and validate every environment. Raises ConfigError naming file, key and fix."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: environment config not found; create it (see README, 'Environments')") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from exc
    version = raw.pop("schema_version", None)
    if version != SCHEMA_VERSION:
        migration = MIGRATIONS.get(version) if isinstance(version, int) else None
        raise ConfigError(
            f"{path}: [schema_version] is {version!r}; this code reads version {SCHEMA_VERSION}"
            + (f". To migrate: {migration}" if migration else "")
        )
    state_table = raw.pop("state", None)
    if not isinstance(state_table, dict):
        raise ConfigError(
            f'{path}: no [state] table: add one (type = "s3", bucket, region) so every environment\'s Terraform '
            "state is remote and locked"
        )
    try:
        state = StateConfig(backend=state_table)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, None, exc).replace("[backend.", "[state.")) from exc
    envs = raw.pop("environments", None)
    if raw:
        raise ConfigError(f"{path}: unknown top-level key(s) {', '.join(sorted(raw))}: remove them")
    if not isinstance(envs, dict) or not envs:
        raise ConfigError(f"{path}: no [environments.<name>] tables: define staging and production")
    unknown = sorted(set(envs) - set(ENVIRONMENT_NAMES))
    missing = sorted(set(ENVIRONMENT_NAMES) - set(envs))
    if unknown or missing:
        raise ConfigError(
            f"{path}: environments must be exactly {', '.join(ENVIRONMENT_NAMES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    out: dict[str, EnvironmentConfig] = {}
    for name, body in envs.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: [environments.{name}] must be a table")
        for moved in ("state", "backend"):
            if moved in body:
                raise ConfigError(
                    f"{path}: [environments.{name}.{moved}] is not read: state is configured once, in the top-level"
                    " [state] table"
                )
        try:
            out[name] = EnvironmentConfig(name=name, state=state, **body)
        except ValidationError as exc:
            raise ConfigError(_format_errors(path, name, exc)) from exc
        except TypeError as exc:  # an unknown top-level key of one environment
            raise ConfigError(f"{path}: [environments.{name}] {exc}: remove the unknown key") from exc
    return out


def load_environment(name: str, path: Path = DEFAULT_CONFIG_PATH) -> EnvironmentConfig:
    envs = load_environments(path)
    if name not in envs:
        raise ConfigError(f"unknown environment {name!r}: use one of {', '.join(sorted(envs))}")
    return envs[name]
