"""CAMEO event codes -> descriptions: GDELT's `CAMEO.eventcodes.txt` lookup plus a built-in root-code fallback.

Pure: plain strings in, plain dicts out. The lookup file is GDELT's format: a header line
(`CAMEOEVENTCODE<TAB>EVENTDESCRIPTION`), then one `code<TAB>description` per line. Codes are strings: "040"
and "40" differ. The built-in table holds the 20 root codes (the first two digits of every code), so an
event whose exact code is missing from the file still gets its family's description instead of nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from pipelines.errors import LakehouseError

# The 20 CAMEO root codes (CAMEO codebook, verb families), in sentence case.
ROOT_CODES: Final[Mapping[str, str]] = {
    "01": "Make public statement",
    "02": "Appeal",
    "03": "Express intent to cooperate",
    "04": "Consult",
    "05": "Engage in diplomatic cooperation",
    "06": "Engage in material cooperation",
    "07": "Provide aid",
    "08": "Yield",
    "09": "Investigate",
    "10": "Demand",
    "11": "Disapprove",
    "12": "Reject",
    "13": "Threaten",
    "14": "Protest",
    "15": "Exhibit force posture",
    "16": "Reduce relations",
    "17": "Coerce",
    "18": "Assault",
    "19": "Fight",
    "20": "Use unconventional mass violence",
}

HEADER: Final = "CAMEOEVENTCODE\tEVENTDESCRIPTION"
_CODE: Final = re.compile(r"\d{2,4}")


class CameoLookupError(LakehouseError, ValueError):
    """The CAMEO lookup file is not in GDELT's `code<TAB>description` format."""


def parse_cameo_lookup(text: str, *, source: str = "<string>") -> dict[str, str]:
    """Code -> description from GDELT's lookup format (header line optional, LF or CRLF, blank lines skipped).

    Raises `CameoLookupError` naming the file and line when a line is not `<2-4 digit code><TAB><description>`
    or a code appears twice with different descriptions.
    """
    lookup: dict[str, str] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip("\r\n")
        if not line.strip():
            continue
        if line_no == 1 and line.split("\t", 1)[0].strip().upper() == "CAMEOEVENTCODE":
            continue
        code, sep, description = line.partition("\t")
        code, description = code.strip(), description.strip()
        if not sep or not _CODE.fullmatch(code) or not description:
            raise CameoLookupError(
                f"{source}:{line_no}: expected '<CAMEO code><TAB><description>' (e.g. '040\\tConsult'), "
                f"got {line[:120]!r}; use GDELT's CAMEO.eventcodes.txt format"
            )
        previous = lookup.get(code)
        if previous is not None and previous != description:
            raise CameoLookupError(
                f"{source}:{line_no}: code {code} is listed twice ({previous!r} and {description!r}); keep one"
            )
        lookup[code] = description
    return lookup


def merged_lookup(file_lookup: Mapping[str, str] | None = None) -> dict[str, str]:
    """The built-in root codes overlaid by the file's entries (the file wins where both name a code)."""
    return {**ROOT_CODES, **(file_lookup or {})}


def describe(code: str | None, lookup: Mapping[str, str]) -> str | None:
    """The description of an event code: exact code first, then its root code (first two digits); else None."""
    if not code:
        return None
    code = code.strip()
    exact = lookup.get(code)
    if exact is not None:
        return exact
    root = code[:2]
    return lookup.get(root) or ROOT_CODES.get(root)


def render_lookup(lookup: Mapping[str, str]) -> str:
    """A lookup in GDELT's file format (header, codes sorted), e.g. for the sample's reference file."""
    for code, description in lookup.items():
        if not _CODE.fullmatch(code) or "\t" in description or "\n" in description:
            raise CameoLookupError(f"cannot render code {code!r} -> {description!r}: codes are 2-4 digits")
    return HEADER + "\n" + "".join(f"{code}\t{lookup[code]}\n" for code in sorted(lookup))
