"""Text building for the correlation engine: plain strings in, plain strings out (no numpy, Spark or torch).

- `url_slug_words(url)`: the words of the story a news URL names (`/2019/10/24/elijah-cummings-funeral/` ->
  `["elijah", "cummings", "funeral"]`). The slug is the strongest signal of a GDELT event: the labels of the
  benchmark follow the story in the URL, while CAMEO codes and actor codes are often wrong.
- `EventFields.from_gdelt(row)` + `build_event_text(fields)`: one readable sentence per GDELT event
  (slug words first, then actors, CAMEO action description and place).
- `build_edit_text(title, comment)`: a Wikipedia edit's title plus its comment with wiki markup removed.
- `content_tokens(text)`: lower-case content words for the lexical signals (stop words and numbers removed,
  years kept because titles such as "2019 Chilean protests" name them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

# Path segments that name a site section, not a story.
_SECTION_WORDS = frozenset(
    """
    a amp article articles articleshow asia blog blogs breaking business category cms content default en entry
    europe feature features headlines home index item latest local nation national news newsroom opinion p page
    post posts print politics region regional section sport sports story stories tag today todays top uk us usa
    video view wire world www
    """.split()
)
# File extensions of story pages.
_EXTENSION = re.compile(r"\.(?:s?html?|php\d?|aspx?|cms|ece|jsp|cfm|stm)$", re.IGNORECASE)
_WORD_SPLIT = re.compile(r"[^0-9A-Za-z\u00C0-\u024F']+")
# Query parameters whose value can hold the story's slug (e.g. `index.php?o=rn&id=48257&SEO=european-...`).
_SLUG_QUERY_KEYS = frozenset({"seo", "slug", "title", "headline", "story"})

# English function words: they carry no story and inflate token overlap.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be been before being below between both but
    by can could did do does doing down during each few for from further had has have having he her here hers him
    his how i if in into is it its itself just may me might more most my no nor not now of off on once only or
    other our out over own s same she should so some such t than that the their them then there these they this
    those through to too under until up very via was we were what when where which while who whom why will with
    would you your says said say new over amid after vs
    """.split()
)


def _is_story_word(word: str) -> bool:
    """A slug word that can carry a story: not empty, not a pure number (except a year), not an opaque id."""
    if not word:
        return False
    if word.isdigit():
        return len(word) == 4 and word[:2] in ("19", "20")
    has_digit = any(ch.isdigit() for ch in word)
    has_alpha = any(ch.isalpha() for ch in word)
    if has_digit and has_alpha:
        # Ordinals ("3rd", "21st") are words; mixed ids ("idUSKBN1X31W0", "article7811279") are not.
        return re.fullmatch(r"\d{1,3}(?:st|nd|rd|th)", word.lower()) is not None
    # Long hex-like runs are ids (`fbd37891`), and so are long consonant-only runs.
    return not (len(word) >= 12 and not re.search(r"[aeiouy]", word.lower()))


def _segment_words(segment: str) -> list[str]:
    segment = _EXTENSION.sub("", unquote(segment))
    return [w.strip("'") for w in _WORD_SPLIT.split(segment) if _is_story_word(w.strip("'"))]


def url_slug_words(url: str) -> list[str]:
    """The lower-case words of the story a news URL names; [] when the URL names none.

    The segment (path part or slug-like query value) with the most story words wins when it has at least three
    words (`/news/world/380623/us-teen-denies-mocking-native-american` -> the last segment); otherwise the words of
    every non-section segment are joined (`/en/news/2019/10/24/Franco/2186279` -> `["franco"]`).
    """
    if not url or not url.strip():
        return []
    parts = urlsplit(url.strip())
    segments = [s for s in parts.path.split("/") if s]
    segments += [value for key, value in parse_qsl(parts.query) if key.lower() in _SLUG_QUERY_KEYS]
    candidates: list[list[str]] = []
    for segment in segments:
        if segment.isdigit():  # date folders (/2019/10/24/) and numeric ids
            continue
        words = [w.lower() for w in _segment_words(segment)]
        if words:
            candidates.append(words)
    if not candidates:
        return []
    longest = max(candidates, key=len)
    if len(longest) >= 3:
        return longest
    return [w for words in candidates for w in words if w not in _SECTION_WORDS]


@dataclass(frozen=True)
class EventFields:
    """The GDELT export fields that describe an event in words (codebook names in `from_gdelt`)."""

    actor1_name: str = ""
    actor2_name: str = ""
    action: str = ""  # CAMEO description of EventCode, e.g. "Host a visit"
    place: str = ""  # ActionGeo_FullName
    source_url: str = ""
    sql_date: str = ""  # YYYYMMDD

    @classmethod
    def from_gdelt(cls, row: Mapping[str, str | None]) -> EventFields:
        """Read the fields from a GDELT row keyed by codebook column names; missing or null columns are ""."""

        def get(key: str) -> str:
            return (row.get(key) or "").strip()

        return cls(
            actor1_name=get("Actor1Name"),
            actor2_name=get("Actor2Name"),
            action=get("EventDescription"),
            place=get("ActionGeo_FullName"),
            source_url=get("SOURCEURL"),
            sql_date=get("SQLDATE"),
        )

    @property
    def year(self) -> str:
        """The event's year ("" when SQLDATE is not YYYYMMDD)."""
        return self.sql_date[:4] if re.fullmatch(r"\d{8}", self.sql_date) else ""


def story_text(fields: EventFields) -> str:
    """The story the event's URL names, as a phrase ("" when the URL names none)."""
    return " ".join(url_slug_words(fields.source_url))


def build_event_text(fields: EventFields) -> str:
    """One readable line per event: `<slug words>. <actor1> <action> <actor2> in <place>`.

    Actor names are GDELT's upper-case codes ("SOUTH KOREAN"): title-cased so they read like words. Parts that
    are empty are left out; an event with no field at all gives "".
    """
    slug = story_text(fields)
    actors_action = " ".join(
        part for part in (fields.actor1_name.title(), fields.action, fields.actor2_name.title()) if part
    )
    coded = actors_action + (f" in {fields.place}" if fields.place else "") if actors_action else fields.place
    return ". ".join(part for part in (slug, coded) if part)


_SECTION_COMMENT = re.compile(r"/\*(.*?)\*/")
_WIKILINK = re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]")
_MARKUP = re.compile(r"[\[\]{}'=|]+")


def clean_edit_comment(comment: str) -> str:
    """An edit summary as plain words: `/* Section */ fix [[Target|link]]` -> `Section fix link`."""
    text = _SECTION_COMMENT.sub(lambda m: f" {m.group(1).strip()} ", comment or "")
    text = _WIKILINK.sub(r"\1", text)
    text = _MARKUP.sub(" ", text)
    return " ".join(text.split())


def build_edit_text(title: str, comment: str = "") -> str:
    """The edit's title, plus its cleaned comment when there is one (`"Title: comment"`)."""
    title = " ".join((title or "").split())
    cleaned = clean_edit_comment(comment)
    return f"{title}: {cleaned}" if title and cleaned else title or cleaned


def content_tokens(text: str) -> list[str]:
    """Lower-case content words of a text: no stop words, no bare numbers except years, no 1-letter words."""
    out: list[str] = []
    for raw in _WORD_SPLIT.split(text.lower()):
        word = raw.strip("'")
        if word.endswith("'s"):
            word = word[:-2]
        if len(word) < 2 or word in STOP_WORDS:
            continue
        if word.isdigit() and not (len(word) == 4 and word[:2] in ("19", "20")):
            continue
        out.append(word)
    return out
