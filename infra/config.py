"""Typed environment config: `infra/environments.toml` loaded into frozen, validated dataclasses.

Validation is pydantic's (unknown keys, types, ranges); this module turns its findings into one message that
names the file, the key and the fix, and stops synth before any resource is built.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass

from infra.permissions import Persona
from lakehouse.errors import LakehouseError
from pipelines.settings import DEFAULT_SIMILARITY_THRESHOLD, DEFAULT_WINDOW_HOURS

DEFAULT_CONFIG_PATH = Path(__file__).with_name("environments.toml")
SCHEMA_VERSION = 1
ENVIRONMENT_NAMES = ("staging", "production")

# Unity Catalog object names we create: lower-case, so they never need quoting and never differ only by case.
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,254}$")
_WORKSPACE_ROOT = re.compile(r"^/Workspace(/[A-Za-z0-9_.@-]+)+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConfigError(LakehouseError):
    """The environment config is invalid; the message names the file, the key and the fix."""


@dataclass(frozen=True, config=_STRICT)
class LocalBackend:
    type: Literal["local"]
    # Relative to the stack's synthesized folder: absolute paths would leak a developer's machine into the JSON.
    path: str

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ":" in value:
            raise ValueError("must be a relative path (state lives next to the synthesized stack)")
        return value


@dataclass(frozen=True, config=_STRICT)
class S3Backend:
    type: Literal["s3"]
    bucket: str
    key: str
    region: str
    encrypt: bool = True
    # Terraform's native S3 state locking; production must lock, so a dynamodb table or the lock file is required.
    use_lockfile: bool = False
    dynamodb_table: str | None = None

    @model_validator(mode="after")
    def _locks(self) -> S3Backend:
        if not self.use_lockfile and not self.dynamodb_table:
            raise ValueError("remote state must lock: set use_lockfile = true (or dynamodb_table)")
        return self


Backend = Annotated[LocalBackend | S3Backend, Field(discriminator="type")]


def _check_worker_bounds(min_workers: int, max_workers: int) -> None:
    if min_workers > max_workers:
        raise ValueError(
            f"min_workers ({min_workers}) > max_workers ({max_workers}):"
            " lower min_workers or raise max_workers (at most 8)"
        )


@dataclass(frozen=True, config=_STRICT)
class ClusterConfig:
    spark_version: str
    node_type_id: str
    min_workers: Annotated[int, Field(ge=1, le=8)] = 1
    max_workers: Annotated[int, Field(ge=1, le=8)] = 8
    autotermination_minutes: Annotated[int, Field(ge=10, le=240)] = 30

    @model_validator(mode="after")
    def _bounds(self) -> ClusterConfig:
        _check_worker_bounds(self.min_workers, self.max_workers)
        return self


@dataclass(frozen=True, config=_STRICT)
class PipelineConfig:
    continuous: bool = False
    development: bool = True
    channel: Literal["CURRENT", "PREVIEW"] = "CURRENT"
    photon: bool = False
    serverless: bool = False
    min_workers: Annotated[int, Field(ge=1, le=8)] = 1
    max_workers: Annotated[int, Field(ge=1, le=8)] = 8
    window_hours: Annotated[int, Field(ge=1, le=24)] = DEFAULT_WINDOW_HOURS
    similarity_threshold: Annotated[float, Field(ge=-1.0, le=1.0)] = DEFAULT_SIMILARITY_THRESHOLD

    @model_validator(mode="after")
    def _bounds(self) -> PipelineConfig:
        _check_worker_bounds(self.min_workers, self.max_workers)
        return self


@dataclass(frozen=True, config=_STRICT)
class SqlWarehouseConfig:
    name: str
    cluster_size: Literal["2X-Small", "X-Small", "Small", "Medium", "Large"] = "2X-Small"
    auto_stop_mins: Annotated[int, Field(ge=1, le=120)] = 10


_QUARTZ_FIELDS = 6  # seconds minutes hours day-of-month month day-of-week [year]


@dataclass(frozen=True, config=_STRICT)
class IngestionConfig:
    """The two ingestion jobs (GDELT loader on a schedule, Wikimedia listener continuous) and their small clusters."""

    gdelt_base_url: str = "http://data.gdeltproject.org/gdeltv2"
    wikimedia_url: str = "https://stream.wikimedia.org/v2/stream/recentchange"
    # GDELT publishes a new export every 15 minutes; quartz syntax because that is what Databricks jobs take.
    gdelt_cron: str = "0 0/15 * * * ?"
    timezone: str = "UTC"
    # Staging keeps its schedule and stream paused so it costs nothing until someone starts a run.
    paused: bool = False
    node_type_id: str = "m5d.large"
    min_workers: Annotated[int, Field(ge=1, le=8)] = 1
    max_workers: Annotated[int, Field(ge=1, le=8)] = 2

    @field_validator("gdelt_base_url", "wikimedia_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("gdelt_cron")
    @classmethod
    def _quartz(cls, value: str) -> str:
        if len(value.split()) not in (_QUARTZ_FIELDS, _QUARTZ_FIELDS + 1):
            raise ValueError(f"{value!r} is not a quartz cron expression: use 6 or 7 fields, e.g. '0 0/15 * * * ?'")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> IngestionConfig:
        if self.min_workers > self.max_workers:
            raise ValueError(
                f"min_workers ({self.min_workers}) > max_workers ({self.max_workers}): lower min_workers"
                " or raise max_workers (at most 8)"
            )
        return self


@dataclass(frozen=True, config=_STRICT)
class EnvironmentConfig:
    name: str
    catalog: str
    workspace_host: str
    # Workspace folder the bundle (pipelines/**) is uploaded to; the pipeline's root_path.
    workspace_root: str
    backend: Backend
    principals: dict[Persona, str]
    cluster: ClusterConfig
    pipeline: PipelineConfig
    sql_warehouse: SqlWarehouseConfig
    ingestion: IngestionConfig = Field(default_factory=IngestionConfig)
    notification_emails: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)

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
        raise ConfigError(f"{path}: [schema_version] is {version!r}; this code reads version {SCHEMA_VERSION}")
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
        try:
            out[name] = EnvironmentConfig(name=name, **body)
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
