"""The correlation engine without the model: windows, watermark edges, scoring, blocking, top-k.

A bag-of-words encoder stands in for the sentence model (same `Embedder` class, so caching is exercised): texts
that share words are close, texts that share none are orthogonal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import numpy.typing as npt
import pytest

import pipelines.correlate as correlate_module
from pipelines.correlate import (
    COUNTRY_MISMATCH_PENALTY,
    SHIPPED,
    Edit,
    Event,
    Match,
    MissingVectorError,
    StoredVectors,
    correlate,
    correlate_window,
    embedding_texts,
    event_views,
    is_late,
    iter_window_scores,
    rank_matrix,
    top_k_matches,
    watermark,
    window_bounds,
    window_scores,
    window_start,
)
from pipelines.embedding import Embedder
from pipelines.gkg import gkg_row, parse_gkg_fields
from pipelines.text import content_tokens

T0 = datetime(2019, 10, 24, 14, 30, tzinfo=UTC)


class BagOfWords:
    """Deterministic stand-in for the model: one dimension per content word (years ignored)."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in content_tokens(text):
                if not word.isdigit():
                    out[row, self.vocabulary.setdefault(word, len(self.vocabulary))] += 1.0
        return out


@pytest.fixture
def encoder() -> BagOfWords:
    return BagOfWords()


@pytest.fixture
def embedder(encoder: BagOfWords) -> Embedder:
    return Embedder(encode=encoder, dim=256)


def event(event_id: str, url: str, time: datetime = T0, **fields: str) -> Event:
    row = {"GLOBALEVENTID": event_id, "SOURCEURL": url, "SQLDATE": time.strftime("%Y%m%d"), **fields}
    return Event.from_gdelt(row, time)


def edit(edit_id: str, title: str, time: datetime = T0, comment: str = "") -> Edit:
    return Edit(edit_id, time, title, comment)


# --------------------------------------------------------------------------------------------------- windows


def test_window_start_is_epoch_aligned_and_boundaries_open_the_next_window() -> None:
    assert window_start(datetime(2019, 10, 24, 14, 30, tzinfo=UTC), 4) == datetime(2019, 10, 24, 12, tzinfo=UTC)
    assert window_start(datetime(2019, 10, 24, 16, 0, tzinfo=UTC), 4) == datetime(2019, 10, 24, 16, tzinfo=UTC)
    just_before = datetime(2019, 10, 24, 15, 59, 59, 999999, tzinfo=UTC)
    assert window_start(just_before, 4) == datetime(2019, 10, 24, 12, tzinfo=UTC)
    assert window_bounds(T0, 4) == (datetime(2019, 10, 24, 12, tzinfo=UTC), datetime(2019, 10, 24, 16, tzinfo=UTC))
    # 24-hour windows start at midnight UTC, like Spark's window(ts, "24 hours").
    assert window_start(T0, 24) == datetime(2019, 10, 24, tzinfo=UTC)


def test_window_start_treats_naive_as_utc_and_converts_other_zones() -> None:
    assert window_start(datetime(2019, 10, 24, 14, 30), 4) == datetime(2019, 10, 24, 12)
    plus_two = datetime(2019, 10, 24, 17, 30, tzinfo=timezone(timedelta(hours=2)))
    assert window_start(plus_two, 4) == datetime(2019, 10, 24, 12, tzinfo=UTC)


def test_window_hours_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_hours=0"):
        window_start(T0, 0)


def test_late_events_at_the_watermark_edge() -> None:
    lateness = timedelta(hours=1)
    # The latest event seen is 17:00, so the watermark is 16:00: the window [12:00, 16:00) is finalized.
    current = watermark(datetime(2019, 10, 24, 17, tzinfo=UTC), lateness)
    assert current == datetime(2019, 10, 24, 16, tzinfo=UTC)
    assert is_late(datetime(2019, 10, 24, 15, 59, 59, tzinfo=UTC), current, 4)  # window end == watermark: late
    assert not is_late(datetime(2019, 10, 24, 16, 0, tzinfo=UTC), current, 4)  # next window still open
    # One microsecond less of watermark and the old window is still open.
    assert not is_late(datetime(2019, 10, 24, 15, 59, 59, tzinfo=UTC), current - timedelta(microseconds=1), 4)
    # An event far older than the watermark is late whatever its offset within the window.
    assert is_late(datetime(2019, 10, 24, 8, tzinfo=UTC), current, 4)


# --------------------------------------------------------------------------------------------------- top-k


def test_top_k_keeps_the_best_above_threshold_with_deterministic_ties() -> None:
    scores = np.array([[0.9, 0.1, 0.5, 0.5, 0.7], [0.0, -0.2, 0.05, 0.0, 0.0]], dtype=np.float32)
    matches = top_k_matches(["e1", "e2"], ["a", "b", "d", "c", "e"], scores, threshold=0.2, top_k=3)
    assert [(m.event_id, m.edit_id, m.rank) for m in matches] == [
        ("e1", "a", 1),
        ("e1", "e", 2),
        ("e1", "c", 3),  # tie at 0.5 with "d": the smaller edit id wins
    ]
    assert matches[0].score == pytest.approx(0.9)
    assert top_k_matches(["e1", "e2"], list("abdce"), scores, threshold=0.95, top_k=3) == []
    with pytest.raises(ValueError, match="top_k=0"):
        top_k_matches(["e1"], ["a"], scores[:1, :1], threshold=0.0, top_k=0)


def test_rank_matrix_agrees_with_top_k_ranks() -> None:
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(4, 9)).astype(np.float32)
    scores[0, 3] = scores[0, 5]  # a tie
    edit_ids = [f"x{j}" for j in range(9)]
    ranks = rank_matrix(scores, edit_ids)
    for match in top_k_matches([f"e{i}" for i in range(4)], edit_ids, scores, threshold=-10.0, top_k=9):
        assert ranks[int(match.event_id[1:]), edit_ids.index(match.edit_id)] == match.rank


# --------------------------------------------------------------------------------------------------- scoring


def test_event_views_use_the_slug_and_the_full_text_with_the_year() -> None:
    e = event("1", "https://x.com/2019/10/24/elijah-cummings-funeral/", Actor1Name="MARYLAND")
    assert event_views(e) == ("2019 elijah cummings funeral", "2019 elijah cummings funeral. Maryland")
    no_url = event("2", "", Actor1Name="MARYLAND")
    assert event_views(no_url) == ("2019 Maryland", "2019 Maryland")
    assert event_views(event("3", "")) == ("", "")  # no text: never matched on the year alone


def test_an_event_without_text_matches_nothing(embedder: Embedder) -> None:
    silent = [event("1", "https://x.com/12345")]
    assert correlate_window(silent, [edit("a", "2019 in review")], embedder, threshold=-0.05, top_k=5) == []


def test_matching_story_scores_above_unrelated_titles(embedder: Embedder) -> None:
    events = [
        event("cummings", "https://x.com/2019/10/24/elijah-cummings-funeral-baltimore/"),
        event("chile", "https://y.com/news/chilean-protests-violence-santiago"),
    ]
    edits = [edit("a", "Elijah Cummings"), edit("b", "2019 Chilean protests"), edit("c", "Kukulkan")]
    scores = window_scores(events, edits, embedder)
    assert scores[0, 0] > 0.2 > scores[0, 1]
    assert scores[1, 1] > 0.2 > scores[1, 0]
    assert scores[0, 2] < 0 and scores[1, 2] < 0  # no shared word: below the background cosine
    matches = correlate_window(events, edits, embedder, threshold=0.0, top_k=5)
    assert {(m.event_id, m.edit_id) for m in matches} == {("cummings", "a"), ("chile", "b")}
    assert all(m.rank == 1 for m in matches)


def test_a_lone_pair_is_judged_against_background_partners(embedder: Embedder) -> None:
    # One event, one edit (a quiet window): correcting a pair by its own neighbourhood alone would cancel every
    # cosine to 0, so no lone pair could ever pass the shipped threshold. Against background partners, a matching
    # lone pair is still found and an unrelated one still is not.
    from pipelines.settings import DEFAULT_SIMILARITY_THRESHOLD

    e = [event("1", "https://x.com/elijah-cummings-funeral")]
    related = window_scores(e, [edit("a", "Elijah Cummings funeral")], embedder)[0, 0]
    unrelated = window_scores(e, [edit("b", "Kukulkan")], embedder)[0, 0]
    assert related >= DEFAULT_SIMILARITY_THRESHOLD
    assert unrelated < 0 < DEFAULT_SIMILARITY_THRESHOLD
    assert correlate_window(
        e, [edit("a", "Elijah Cummings funeral")], embedder, threshold=DEFAULT_SIMILARITY_THRESHOLD, top_k=5
    )


def test_more_titles_below_an_events_best_partner_leave_its_scores_unchanged(embedder: Embedder) -> None:
    # A bigger window holds more loosely related titles. They must not lower the scores of the event's existing
    # pairs (a top-5 mean over the event's row would rise with them and cost recall in larger windows).
    events = [event("1", "https://x.com/2019/10/24/elijah-cummings-funeral-baltimore-church")]
    edits = [edit("a", "Elijah Cummings funeral"), edit("b", "Kukulkan")]
    base = window_scores(events, edits, embedder)
    loosely = [edit(f"x{i}", f"{word} history") for i, word in enumerate(["Baltimore", "Church", "Funeral", "Elijah"])]
    grown = window_scores(events, edits + loosely, embedder)
    np.testing.assert_allclose(grown[:, :2], base, atol=1e-6)
    assert (grown[0, 2:] < grown[0, 0]).all()  # the new titles are loosely related, not better
    assert (grown[0, 2:] > grown[0, 1]).all()


def test_hub_title_close_to_every_event_is_penalized(embedder: Embedder) -> None:
    # "news" words everywhere: a broad title sharing one word with every event loses to a specific one.
    events = [
        event(str(i), f"https://x.com/government-shutdown-{topic}-workers")
        for i, topic in enumerate(["airports", "museums", "parks", "courts", "farms", "taxes"])
    ]
    edits = [edit("broad", "Government"), edit("specific", "Shutdown airports workers")]
    scores = window_scores(events, edits, embedder)
    plain = np.asarray(embedder.embed([event_views(events[0])[0]]) @ embedder.embed(["Government"]).T)[0, 0]
    assert plain > 0  # the broad title does share a word with the event...
    assert scores[0, 1] > scores[0, 0]  # ...but the specific title wins after the correction
    assert scores[1:, 0].max() < scores[0, 1]


def test_edit_comments_are_not_scored(embedder: Embedder) -> None:
    # Real edit summaries are about the edit, not the news ("/* Reception */ clean up"): embedded with the title they
    # cost F1 (docs/correlation.md, "Edit comments"), so the engine scores the title alone, with or without a comment.
    events = [event("1", "https://x.com/2019/01/21/zimbabwe-fuel-protests-crackdown")]
    without = correlate_window(events, [edit("a", "Zimbabwe")], embedder, threshold=0.0, top_k=1)
    noisy = edit("a", "Zimbabwe", comment="/* Reception */ clean up, [[WP:AWB/T|typo(s) fixed]]")
    with_comment = correlate_window(events, [noisy], embedder, threshold=0.0, top_k=1)
    assert without and with_comment == without
    assert embedding_texts(noisy) == ("Zimbabwe",)
    assert noisy.text == "Zimbabwe: Reception clean up, typo(s) fixed"  # still readable for display and baselines


def test_repeated_edits_of_an_article_with_different_comments_are_one_text(
    embedder: Embedder, encoder: BagOfWords
) -> None:
    events = [event("1", "https://x.com/2019/10/24/brexit-deal-vote-commons", Actor1Name="BRITAIN")]
    edits = [edit(str(i), "Brexit withdrawal agreement", comment=f"revision {i}: copyedit") for i in range(30)]
    scores = window_scores(events, edits, embedder)
    np.testing.assert_allclose(scores, np.repeat(scores[:, :1], 30, axis=1), atol=1e-6)
    assert embedder.encoded_texts == 3  # two event views + one title, not 30 title-and-comment texts


def test_chunked_scores_equal_one_shot_scores(embedder: Embedder) -> None:
    topics = ["alpha beta", "beta gamma", "gamma delta", "delta epsilon", "epsilon zeta", "zeta eta", "eta theta"]
    events = [event(str(i), f"https://x.com/{t.replace(' ', '-')}-story") for i, t in enumerate(topics)]
    edits = [edit(f"d{i}", t.title()) for i, t in enumerate(reversed(topics))]

    def assemble(chunk_rows: int) -> npt.NDArray[np.float32]:
        out = np.full((len(events), len(edits)), np.nan, dtype=np.float32)
        for positions, chunk in iter_window_scores(events, edits, embedder, chunk_rows=chunk_rows):
            assert np.isnan(out[positions]).all()  # every event comes in exactly one chunk
            out[positions] = chunk
        return out

    whole, pieces = assemble(100), assemble(2)
    assert not np.isnan(pieces).any()
    np.testing.assert_allclose(whole, pieces, atol=1e-6)
    np.testing.assert_allclose(window_scores(events, edits, embedder), whole, atol=1e-6)


def test_repeated_texts_are_scored_once_and_do_not_shift_scores(embedder: Embedder) -> None:
    url = "https://x.com/2019/10/24/brexit-deal-vote-commons"
    events = [event("1", url, Actor1Name="BRITAIN"), event("2", "https://y.com/chile-protests-santiago")]
    edits = [edit("a", "Brexit withdrawal agreement"), edit("b", "Chilean protests"), edit("c", "Santiago")]
    base = window_scores(events, edits, embedder)
    # The same article edited 20 times and the same event coded 3 times: same scores for every copy.
    many_edits = edits + [edit(f"a{i}", "Brexit withdrawal agreement") for i in range(20)]
    many_events = [*events, event("3", url, Actor1Name="BRITAIN"), event("4", url, Actor1Name="BRITAIN")]
    scores = window_scores(many_events, many_edits, embedder)
    np.testing.assert_allclose(scores[:2, :3], base, atol=1e-6)
    np.testing.assert_allclose(scores[:, 3:], np.repeat(scores[:, :1], 20, axis=1), atol=1e-6)
    np.testing.assert_allclose(scores[2:], np.repeat(scores[:1], 2, axis=0), atol=1e-6)


def test_each_distinct_text_is_embedded_once(embedder: Embedder, encoder: BagOfWords) -> None:
    url = "https://x.com/2019/10/24/brexit-deal-vote"
    events = [event("1", url, Actor1Name="BRITAIN"), event("2", url, Actor1Name="BRITAIN")]  # same texts twice
    edits = [edit(str(i), "Brexit withdrawal agreement") for i in range(50)] + [edit("x", "Theresa May")]
    correlate_window(events, edits, embedder, threshold=0.0, top_k=3)
    encoded = [text for call in encoder.calls for text in call]
    assert len(encoded) == len(set(encoded))
    assert embedder.encoded_texts == 4  # 2 event views + 2 distinct titles
    correlate_window(events, edits, embedder, threshold=0.0, top_k=3)
    assert embedder.encoded_texts == 4  # second window with the same texts: all cached


def test_empty_sides_give_no_matches(embedder: Embedder) -> None:
    assert correlate_window([], [edit("a", "x")], embedder, threshold=0.0, top_k=1) == []
    assert correlate_window([event("1", "https://x.com/a-b")], [], embedder, threshold=0.0, top_k=1) == []


# --------------------------------------------------------------------------------------------------- country veto


def test_a_title_naming_only_another_country_than_the_slug_is_vetoed(embedder: Embedder) -> None:
    events = [event("1", "https://y.com/news/chilean-protests-violence-santiago")]
    edits = [
        edit("chile", "2019 Chilean protests"),
        edit("bolivia", "2019 Bolivian protests"),
        edit("metro", "Santiago"),
    ]
    vetoed = window_scores(events, edits, embedder)
    plain = window_scores(events, edits, embedder, params=dataclasses.replace(SHIPPED, country_penalty=0.0))
    assert plain[0, 1] > 0.0  # "protests" is shared: without the veto the other country's protests score well
    np.testing.assert_allclose(vetoed[0], plain[0] - np.array([0.0, COUNTRY_MISMATCH_PENALTY, 0.0]), atol=1e-6)
    matches = correlate_window(events, edits, embedder, threshold=-0.5, top_k=5)
    assert {m.edit_id for m in matches} == {"chile", "metro"}


def test_no_veto_unless_both_sides_name_countries_and_share_none(embedder: Embedder) -> None:
    no_country_slug = event("1", "https://x.com/en/news/2019/10/24/Franco/2186279", ActionGeo_FullName="Bolivia")
    both = event("2", "https://x.com/us-navy-to-sail-near-reefs-claimed-by-china")
    edits = [
        edit("bol", "2019 Bolivian protests"),
        edit("none", "Francisco Franco"),
        edit("shared", "Territorial disputes in the South China Sea"),
        edit("other", "Philippines"),
    ]
    vetoed = window_scores([no_country_slug, both], edits, embedder)
    plain = window_scores(
        [no_country_slug, both], edits, embedder, params=dataclasses.replace(SHIPPED, country_penalty=0.0)
    )
    # The slug names no country (GDELT's place field is not the event side): nothing vetoed.
    np.testing.assert_allclose(vetoed[0], plain[0], atol=1e-6)
    # The slug names China and the US: a title naming China or no country is kept; Bolivia and the Philippines not.
    penalty = np.array([1.0, 0.0, 0.0, 1.0]) * COUNTRY_MISMATCH_PENALTY
    np.testing.assert_allclose(vetoed[1], plain[1] - penalty, atol=1e-6)


def test_the_veto_leaves_every_other_pair_of_the_window_unchanged(embedder: Embedder) -> None:
    # The veto is applied after the neighbourhood terms, so vetoing a close title moves no other pair.
    events = [
        event("1", "https://y.com/chile-protests-santiago"),
        event("2", "https://y.com/bolivia-protests-la-paz"),
    ]
    edits = [edit("a", "2019 Chilean protests"), edit("b", "2019 Bolivian protests"), edit("c", "Protests")]
    vetoed = window_scores(events, edits, embedder)
    plain = window_scores(events, edits, embedder, params=dataclasses.replace(SHIPPED, country_penalty=0.0))
    penalty = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]) * COUNTRY_MISMATCH_PENALTY
    np.testing.assert_allclose(vetoed, plain - penalty, atol=1e-6)


# --------------------------------------------------------------------------------------------------- GKG names


def test_gkg_names_join_the_full_view_and_find_the_story_the_slug_does_not_name(embedder: Embedder) -> None:
    url = "https://x.com/lebanon-president-addresses-protesters"
    row = {"GLOBALEVENTID": "7", "SOURCEURL": url, "SQLDATE": "20191024"}
    gkg = parse_gkg_fields(
        gkg_row(
            {
                "GKGRECORDID": "20191024143000-12",
                "SourceCollectionIdentifier": "1",
                "DocumentIdentifier": row["SOURCEURL"],
                "V2Persons": "Michel Aoun,120;Saad Hariri,410;Michel Aoun,980",
                "V2Organizations": "Hezbollah,700",
            }
        )
    )
    without = Event.from_gdelt(row, T0)
    with_names = Event.from_gdelt(row, T0, gkg=gkg)
    assert with_names.persons == ("Michel Aoun", "Saad Hariri") and with_names.organizations == ("Hezbollah",)
    assert event_views(with_names) == (
        "2019 lebanon president addresses protesters",
        "2019 lebanon president addresses protesters",
        "2019 Michel Aoun, Saad Hariri, Hezbollah",
    )
    assert event_views(without) == event_views(with_names)[:2]  # without GKG: the views as before
    edits = [edit("aoun", "Michel Aoun"), edit("other", "Kukulkan")]
    assert correlate_window([without], edits, embedder, threshold=0.0, top_k=1) == []
    found = correlate_window([with_names], edits, embedder, threshold=0.0, top_k=1)
    assert [m.edit_id for m in found] == ["aoun"]


def test_gkg_names_are_capped_per_kind_most_mentioned_first() -> None:
    persons = tuple(f"Person {chr(65 + i)}" for i in range(6))
    e = Event("1", T0, "a story", persons=persons, organizations=("Org",), year="2019")
    assert event_views(e) == ("2019 a story", "2019 a story", "2019 Person A, Person B, Person C, Org")
    names_only = Event("2", T0, "", persons=("Michel Aoun",), year="2019")
    assert embedding_texts(names_only) == ("2019 Michel Aoun",)


# --------------------------------------------------------------------------------------------------- blocking


def test_pairs_across_windows_are_never_compared(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    morning, evening = T0.replace(hour=9), T0.replace(hour=21)
    events = [
        event("am", "https://x.com/2019/10/24/elijah-cummings-funeral", morning),
        event("pm", "https://x.com/2019/10/24/chilean-protests-santiago", evening),
    ]
    edits = [
        edit("am-cummings", "Elijah Cummings funeral", morning),
        edit("pm-cummings", "Elijah Cummings funeral", evening),  # same text, other window
        edit("pm-chile", "Chilean protests", evening),
    ]
    windows_per_call: list[set[datetime]] = []
    real_correlate_window = correlate_module.correlate_window

    def spy(evs: Sequence[Event], eds: Sequence[Edit], emb: Embedder, **kwargs: float) -> list[Match]:
        windows_per_call.append({window_start(x.time, 4) for x in [*evs, *eds]})
        return real_correlate_window(evs, eds, emb, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(correlate_module, "correlate_window", spy)
    by_window = correlate(events, edits, embedder, window_hours=4, threshold=-1.0, top_k=10)
    assert len(windows_per_call) == 2 and all(len(w) == 1 for w in windows_per_call)
    assert sorted(by_window) == [window_start(morning, 4), window_start(evening, 4)]
    assert {(m.event_id, m.edit_id) for m in by_window[window_start(morning, 4)]} == {("am", "am-cummings")}
    assert {(m.event_id, m.edit_id) for m in by_window[window_start(evening, 4)]} == {
        ("pm", "pm-cummings"),
        ("pm", "pm-chile"),
    }


def test_windows_without_both_sides_are_skipped(embedder: Embedder) -> None:
    lonely = [event("1", "https://x.com/a-story-here", T0.replace(hour=1))]
    result = correlate(
        lonely, [edit("a", "A story", T0.replace(hour=13))], embedder, window_hours=4, threshold=-1, top_k=1
    )
    assert result == {}


# --------------------------------------------------------------------------------------------------- stored vectors


def test_scoring_from_stored_vectors_equals_scoring_with_the_model(embedder: Embedder) -> None:
    # The streaming pipeline embeds `embedding_texts` of each row once and scores windows later from stored vectors:
    # the matches must be exactly the ones the model path finds, and no other text may be needed.
    events = [
        event("1", "https://example.com/news/2019/10/23/essex-lorry-deaths-39-bodies-found", Actor1Name="POLICE"),
        event("2", "https://example.com/world/brexit-vote-delayed-again"),
        Event("3", T0, ""),  # no text at all: the zero vector, never a match
    ]
    edits = [edit("a", "Essex lorry deaths"), edit("b", "Brexit", comment="vote delayed"), edit("c", "Tottenham")]
    events.append(
        Event("4", T0, "talks. Britain", "https://y.com/may-meets-eu-leaders", persons=("Theresa May",), year="2019")
    )
    stored = {t: embedder.embed([t])[0] for item in [*events, *edits] for t in embedding_texts(item)}
    from_model = correlate_window(events, edits, embedder, threshold=0.0, top_k=3)
    from_store = correlate_window(events, edits, StoredVectors(stored, dim=256), threshold=0.0, top_k=3)
    assert from_store == from_model and from_model
    assert embedding_texts(edits[1]) == ("Brexit",)
    assert embedding_texts(events[2]) == ()
    assert embedding_texts(events[3]) == ("2019 may meets eu leaders", "2019 talks. Britain", "2019 Theresa May")


def test_a_text_that_was_never_stored_is_an_error_not_a_zero_vector() -> None:
    with pytest.raises(MissingVectorError, match="no stored vector for text 'Brexit'"):
        StoredVectors({}, dim=4).embed(["Brexit"])
