"""Relative and partial dates read from a question (``qa.retrieval.dates``), resolved against a
fixed reference day; pure logic, no index. And the MultiHop-RAG dev questions, which name their
articles by absolute day, read as no period at all."""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import MULTIHOP

from qa.models import Chunk, ScoredChunk
from qa.retrieval.dates import (
    When,
    main_clause,
    narrowest,
    newest_first,
    period_label,
    read_when,
    reference_day,
)
from qa.retrieval.plan import outlet_patterns

R = date(2024, 4, 10)  # a Wednesday


@pytest.mark.parametrize(("question", "since", "until", "words"), [
    ("What happened today?", "2024-04-10", "2024-04-10", "today"),
    ("Today, what did the board say?", "2024-04-10", "2024-04-10", "Today"),
    ("What did the union say yesterday?", "2024-04-09", "2024-04-09", "yesterday"),
    ("Any news from yesterday?", "2024-04-09", "2024-04-09", "yesterday"),
    ("What was in today's news?", "2024-04-10", "2024-04-10", "today"),
    ("What happened this week?", "2024-04-08", "2024-04-10", "this week"),
    ("What happened last week?", "2024-04-01", "2024-04-07", "last week"),
    ("What happened in the past week?", "2024-04-03", "2024-04-10", "the past week"),
    ("What was reported this month?", "2024-04-01", "2024-04-10", "this month"),
    ("What was reported last month?", "2024-03-01", "2024-03-31", "last month"),
    ("What happened this year?", "2024-01-01", "2024-04-10", "this year"),
    ("What happened last year?", "2023-01-01", "2023-12-31", "last year"),
    ("What happened in March?", "2024-03-01", "2024-03-31", "in March"),
    ("What happened during February?", "2024-02-01", "2024-02-29", "during February"),
    ("What happened in April?", "2024-04-01", "2024-04-10", "in April"),  # not past R
    ("What happened in May?", "2023-05-01", "2023-05-31", "in May"),  # last year's May
    ("What has happened since Monday?", "2024-04-08", "2024-04-10", "since Monday"),
    ("What has happened since Wednesday?", "2024-04-10", "2024-04-10", "since Wednesday"),
    ("What has happened since last Friday?", "2024-04-05", "2024-04-10", "since last Friday"),
    ("What has changed since last week?", "2024-04-01", "2024-04-10", "since last week"),
    ("Since last week, what has changed?", "2024-04-01", "2024-04-10", "Since last week"),
    ("What has happened since March?", "2024-03-01", "2024-04-10", "since March"),
    ("What happened over the past 3 days?", "2024-04-07", "2024-04-10", "the past 3 days"),
    ("What happened in the last two weeks?", "2024-03-27", "2024-04-10", "the last two weeks"),
    ("What happened in the past month?", "2024-03-10", "2024-04-10", "the past month"),
    ("Who won in the last 10 days?", "2024-03-31", "2024-04-10", "the last 10 days"),
])
def test_relative_and_partial_dates_resolve_to_a_period(question: str, since: str, until: str,
                                                        words: str) -> None:
    when = read_when(question, R)
    assert (when.since, when.until, when.words) == (since, until, words)
    assert not when.latest


def test_a_year_boundary_and_a_leap_day() -> None:
    jan = read_when("What happened last month?", date(2024, 1, 15))
    assert (jan.since, jan.until) == ("2023-12-01", "2023-12-31")
    week = read_when("What happened last week?", date(2024, 1, 3))
    assert (week.since, week.until) == ("2023-12-25", "2023-12-31")
    march = read_when("What happened in the past month?", date(2024, 3, 31))
    assert march.since == "2024-02-29"
    assert read_when("What happened in December?", date(2024, 1, 2)).since == "2023-12-01"


@pytest.mark.parametrize(("question", "rest"), [
    ("What is the latest on the Vantor takeover?", "What is the Vantor takeover?"),
    ("What's the most recent news about Norrland Steel?", "What's Norrland Steel?"),
    ("Latest news on the steel deal", "the steel deal"),
    ("What are the newest reports from Kyiv?", "What are Kyiv?"),
    ("Tell me the latest about Norrland Steel", "Tell me Norrland Steel"),
    ("What is the latest?", "What is"),
])
def test_latest_asks_for_the_newest_articles_first_with_no_period(question: str,
                                                                 rest: str) -> None:
    when = read_when(question, R)
    assert when.latest and not when.since and not when.until and not when.words
    assert when.rest == rest


@pytest.mark.parametrize("question", [
    "What was Goodyear's latest tire technology?",  # an adjective of a thing, not the news
    "What did Chris Hammer's latest book describe?",
    "Which team did she play for in her most recent professional match?",
    "How did Kirk Cousins fare in last week's game?",  # an event's time, possessive
    "Which city, where Popa attended a conference last year, is the capital?",  # not main clause
    "Who was at the concerts in Buenos Aires that sold out in November?",
    "What happened on March 3?",  # an absolute day: the articles' own, read by the plan
    "What happened in March 2024?",  # a month with its year: not a partial date
    "Did the Verge report last week, on October 31, 2023, that it rose?",
    "What does USA Today say about the election?",  # a name, capitalised mid-question
    "Who will march in the parade?",
    "What happened?",
])
def test_words_that_name_no_period_of_the_news_are_not_read(question: str) -> None:
    assert read_when(question, R) == When()


def test_what_is_left_of_a_question_says_whether_it_names_a_topic() -> None:
    assert not read_when("What happened last week?", R).topic
    assert not read_when("Any news today?", R).topic
    assert read_when("What happened to Norrland Steel last week?", R).topic
    assert read_when("What happened to Norrland Steel last week?", R).rest == \
        "What happened to Norrland Steel ?"


def test_masked_outlet_names_and_the_main_clause() -> None:
    question = "What did Business Today | Latest Stock Market say today?"
    span = (question.index("Business"), question.index(" say"))
    assert main_clause(question, [span]).startswith("What did  ")
    assert read_when(question, R, masked=[span]).words == "today"
    assert main_clause("What happened last week, and who won?") == "What happened last week"


def test_the_reference_day_is_today_unless_the_index_is_an_archive() -> None:
    today = date(2026, 12, 5)
    assert reference_day(date(2026, 12, 1), today, 14) == (today, False)
    assert reference_day(date(2026, 11, 21), today, 14) == (today, False)  # 14 days: kept up
    assert reference_day(date(2023, 12, 31), today, 14) == (date(2023, 12, 31), True)
    assert reference_day(None, today, 14) == (today, False)
    assert reference_day(date(2027, 1, 1), today, 14) == (today, False)  # dated ahead


def test_the_narrower_of_the_question_and_the_filters_wins() -> None:
    week = When("2024-04-01", "2024-04-07", "last week")
    assert narrowest(week, "", "") == ("2024-04-01", "2024-04-07")
    assert narrowest(week, "2024-04-03", "") == ("2024-04-03", "2024-04-07")
    assert narrowest(week, "2024-03-01", "2024-04-05") == ("2024-04-01", "2024-04-05")
    assert narrowest(When(), "2024-03-01", "") == ("2024-03-01", "")
    since, until = narrowest(week, "2024-04-09", "")  # no overlap: a period holding nothing
    assert since > until


def test_the_period_label_names_the_days_and_the_reference_day() -> None:
    assert period_label("2024-04-01", "2024-04-07", words="last week", reference="2024-04-09",
                        newest=True) == ("published from 1 April 2024 to 7 April 2024 "
                                         "(“last week”, as of 9 April 2024, the newest article)")
    assert period_label("2024-04-10", "2024-04-10", words="today", reference="2024-04-10") == \
        "published on 10 April 2024 (“today”, as of 10 April 2024, today)"
    assert period_label("2024-03-10", "", outlets=["Nordic Wire", "The Ledger"]) == \
        "published since 10 March 2024 by Nordic Wire or The Ledger"
    assert period_label("", "", latest=True) == "newest first"
    assert period_label("", "") == ""


def _passage(day: str, similarity: float, n: int) -> ScoredChunk:
    chunk = Chunk(f"a{n}:0000", f"a{n}", 0, "text", 0, 4, published_at=f"{day}T08:00:00")
    return ScoredChunk(chunk, 1.0 - n / 10, vector_score=similarity)


def test_latest_orders_the_matching_passages_newest_first_and_keeps_the_rest() -> None:
    passages = [_passage("2024-03-01", 0.8, 0), _passage("2024-04-02", 0.6, 1),
                _passage("2024-04-09", 0.1, 2), _passage("2024-03-20", 0.45, 3)]
    ordered = newest_first(passages, 3)
    assert [p.chunk.article_id for p in ordered] == ["a1", "a3", "a0"]  # a2 off the topic
    assert [p.chunk.article_id for p in newest_first(passages, 10)][-1] == "a2"


def test_no_multihop_dev_question_reads_as_a_period_or_as_latest() -> None:
    """The dev questions name their articles by absolute day; retrieval of them stays as it
    was only if none of them reads as a relative period or as "latest"."""
    path = MULTIHOP / "queries-dev.json"
    if not path.exists():
        pytest.skip("MultiHop-RAG dev questions not present")
    corpus = json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))
    patterns = outlet_patterns(sorted({a["source"] for a in corpus}))
    for reference in (date(2023, 12, 31), date(2026, 12, 5)):
        for q in json.loads(path.read_text(encoding="utf-8")):
            text = q["query"]
            masked = [m.span() for p, _ in patterns for m in p.finditer(text)]
            assert read_when(text, reference, masked=masked) == When(), text
