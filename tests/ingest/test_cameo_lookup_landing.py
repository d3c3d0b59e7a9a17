"""Landing GDELT's CAMEO lookup: validated before it replaces anything, atomic, idempotent, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lakehouse.local.gdelt_feed import GdeltFeedServer
from pipelines.cameo import CameoLookupError, parse_cameo_lookup
from pipelines.ingest import IngestError
from pipelines.ingest.cli import ingest
from pipelines.ingest.gdelt_loader import CAMEO_FILE_NAME, DownloadPolicy, land_cameo_lookup

LOOKUP = "CAMEOEVENTCODE\tEVENTDESCRIPTION\n01\tMake public statement\n010\tMake statement, not specified\n"
FAST = DownloadPolicy(http_retries=0, backoff_factor_s=0.0, download_attempts=1)


def _landed(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_lands_the_lookup_byte_for_byte_then_is_idempotent(tmp_path: Path) -> None:
    with GdeltFeedServer({}, cameo_lookup=LOOKUP) as feed:
        first = land_cameo_lookup(feed.cameo_url, tmp_path, policy=FAST)
        again = land_cameo_lookup(feed.cameo_url, tmp_path, policy=FAST)
        asked = len(feed.requests)
        skipped = land_cameo_lookup(feed.cameo_url, tmp_path, if_missing=True, policy=FAST)
        assert len(feed.requests) == asked  # --if-missing does not even ask the server
    assert (first.status, again.status, skipped.status) == ("landed", "unchanged", "already_present")
    assert (tmp_path / CAMEO_FILE_NAME).read_text("utf-8") == LOOKUP
    assert parse_cameo_lookup(LOOKUP) == {"01": "Make public statement", "010": "Make statement, not specified"}
    assert first.codes == skipped.codes == 2
    assert _landed(tmp_path) == [CAMEO_FILE_NAME]  # no temporary file left behind


def test_a_malformed_lookup_keeps_the_previous_file(tmp_path: Path) -> None:
    (tmp_path / CAMEO_FILE_NAME).write_text(LOOKUP, encoding="utf-8")
    with GdeltFeedServer({}, cameo_lookup="<html>maintenance</html>\n") as feed:
        with pytest.raises(CameoLookupError, match=r":1: expected '<CAMEO code><TAB><description>'"):
            land_cameo_lookup(feed.cameo_url, tmp_path, policy=FAST)
    assert (tmp_path / CAMEO_FILE_NAME).read_text("utf-8") == LOOKUP
    assert _landed(tmp_path) == [CAMEO_FILE_NAME]


def test_an_empty_lookup_or_a_404_lands_nothing(tmp_path: Path) -> None:
    with GdeltFeedServer({}, cameo_lookup="") as feed:
        with pytest.raises(IngestError, match="holds no CAMEO codes"):
            land_cameo_lookup(feed.cameo_url, tmp_path, policy=FAST)
    with GdeltFeedServer({}) as feed:
        with pytest.raises(IngestError, match="HTTP 404"):
            land_cameo_lookup(feed.cameo_url, tmp_path, policy=FAST)
    assert _landed(tmp_path) == []


def test_cli_reports_a_malformed_lookup_and_exits_1(tmp_path: Path) -> None:
    with GdeltFeedServer({}, cameo_lookup="40 Consult\n") as feed:
        result = CliRunner().invoke(ingest, ["cameo", "--url", feed.cameo_url, "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "nothing was landed" in result.output
    assert _landed(tmp_path) == []
