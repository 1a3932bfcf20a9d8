"""Questions as people ask them about the news (issue 27): "latest", "last week", "in January",
a date range and outlets set as filters, over a running story the tests write
(``tests/news.py``: 14 dated articles from three outlets, indexed for real). Retrieval and
refusals are checked without the model; the answers of the real local model (marked ``llm``)
are checked for what any correct answer holds: which articles are cited, refused or not.

The story's own days end on 9 April 2024, long before today: an archive, so "last week" is
the week before that day and the answer says so; moved to this week, the same story is an
index kept up to date, read against today."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from news import shift_to, write_news
from story import WIRE

from qa.answering import scoping
from qa.answering.languages import REFUSALS
from qa.config import Settings
from qa.errors import ConfigError
from qa.faces.cli import main
from qa.faces.http_api import Gate, build_api
from qa.models import Answer, Evidence, Snippet
from qa.service import QAService

NEWEST = "ledger-0409.json"
LAST_WEEK = ("2024-04-01", "2024-04-07")  # the week before 9 April 2024, the newest article
AS_OF = "as of 9 April 2024, the newest article"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, embedder: Any
            ) -> tuple[Settings, Any]:
    """Settings of the story's index on its own days, and the embedder."""
    root = tmp_path_factory.mktemp("news")
    write_news(root / "articles")
    settings = Settings.load(index_dir=root / "index", cache_dir=cache_dir, progress=False)
    QAService(settings, embedder=embedder).ingest(root / "articles")
    return settings, embedder


@pytest.fixture(scope="module")
def service(archive: tuple[Settings, Any]) -> QAService:
    """A service over the archive that never reaches a model unless a test asks it to."""
    settings, embedder = archive
    return QAService(settings, embedder=embedder)


@pytest.fixture(scope="module")
def answering(archive: tuple[Settings, Any], local_llm: Any) -> QAService:
    settings, embedder = archive
    return QAService(settings, llm=local_llm, embedder=embedder)


def evidence(service: QAService, question: str, **kw: Any) -> Evidence:
    """The evidence the model would read (the stream is closed before the model is asked)."""
    steps = service.stream(question, **kw)
    first = next(steps)
    steps.close()
    assert isinstance(first, Evidence)
    return first


def refusal(service: QAService, question: str, **kw: Any) -> Answer:
    """The answer of a question refused before the model: no evidence was read."""
    steps = list(service.stream(question, **kw))
    assert isinstance(steps[0], Evidence) and not steps[0].snippets
    assert len(steps) == 2 and isinstance(steps[1], Answer) and steps[1].refused
    return steps[1]


def days_of(items: Any) -> set[str]:
    """The published days of snippets' or citations' articles."""
    return {(i.passage if isinstance(i, Snippet) else i).published_at[:10] for i in items}


# --- retrieval and refusals, no model ----------------------------------------------------------


def test_latest_puts_the_newest_article_first(service: QAService) -> None:
    found = evidence(service, "What is the latest on the Vantor takeover of Norrland Steel?")
    assert found.period is not None and found.period.latest and not found.period.since
    assert found.snippets[0].passage.path == NEWEST
    dates = [s.passage.published_at for s in found.snippets]
    assert dates == sorted(dates, reverse=True)


def test_last_week_reads_only_that_weeks_articles_as_of_the_newest_article(
        service: QAService) -> None:
    found = evidence(service, "What happened to Norrland Steel last week?")
    assert found.snippets and days_of(found.snippets) <= {"2024-04-02", "2024-04-03"}
    period = found.period
    assert period is not None and (period.since, period.until) == LAST_WEEK
    assert (period.words, period.reference, period.reference_is) == \
        ("last week", "2024-04-09", "newest article")
    assert AS_OF in period.label
    passages = service.retrieve("What happened to Norrland Steel last week?")  # as the eval
    assert passages and days_of(p.chunk for p in passages) <= {"2024-04-02", "2024-04-03"}


def test_a_question_naming_no_topic_reads_the_news_of_its_period(service: QAService) -> None:
    found = evidence(service, "What happened last week?")  # below the similarity floor
    assert found.snippets and days_of(found.snippets) <= {"2024-04-02", "2024-04-03"}
    assert any("approve" in s.text for s in found.snippets), found.snippets  # the news itself


def test_outlets_and_dates_set_as_filters_keep_to_them_and_the_narrower_wins(
        service: QAService) -> None:
    found = evidence(service, "What did the board of Norrland Steel decide?",
                     outlets=["nordic wire"])
    assert found.snippets and {s.passage.source for s in found.snippets} == {WIRE}
    assert found.period is not None and found.period.outlets == (WIRE,)
    found = evidence(service, "What happened to Norrland Steel last week?",
                     since="2024-04-03", until="2024-12-31")
    assert days_of(found.snippets) == {"2024-04-03"}  # later start: the filter's; end: the week's
    assert found.period is not None and \
        (found.period.since, found.period.until) == ("2024-04-03", "2024-04-07")


def test_a_period_holding_nothing_is_refused_and_named(service: QAService) -> None:
    answer = refusal(service, "What happened to Norrland Steel in January?")
    assert "1 January 2024 to 31 January 2024" in answer.text and AS_OF in answer.text
    assert answer.period is not None and answer.period.words == "in January"
    answer = refusal(service, "What did the board of Norrland Steel decide?",
                     since="2025-01-01", outlets=["The Ledger"])
    assert answer.text == ("No article published since 1 January 2025 by The Ledger answers "
                           "this question.")
    assert answer.citations == ()
    # a question in another language keeps its refusal sentence and adds the period
    german = dataclasses.replace(answer, text=REFUSALS["de"], period=None)
    assert scoping.refusal_in(answer.period, german, foreign=True).text == (
        f"{REFUSALS['de']} (published since 1 January 2025 by The Ledger)")


def test_bad_filters_are_one_line_errors(service: QAService) -> None:
    for bad in ({"since": "March 3"}, {"until": "2024-02-30"},
                {"since": "2024-04-01", "until": "2024-03-01"}, {"outlets": ["Daily Nowhere"]}):
        with pytest.raises(ConfigError) as err:
            list(service.stream("What did the board decide?", **bad))
        assert "\n" not in str(err.value)


def test_a_question_without_dates_or_filters_is_read_as_before(service: QAService) -> None:
    found = evidence(service, "What did the board of Norrland Steel decide on Thursday?")
    assert found.period is None and found.snippets


def test_an_index_kept_up_to_date_reads_dates_against_today(
        tmp_path: Path, cache_dir: Path, embedder: Any) -> None:
    today = date.today()
    days = write_news(tmp_path / "articles", shift=shift_to(today))
    settings = Settings.load(index_dir=tmp_path / "index", cache_dir=cache_dir, progress=False)
    service = QAService(settings, embedder=embedder)
    service.ingest(tmp_path / "articles")
    found = evidence(service, "What happened to Norrland Steel over the past 7 days?")
    period = found.period
    assert period is not None and (period.reference, period.reference_is) == \
        (today.isoformat(), "today")
    assert (period.since, period.until) == ((today - timedelta(days=7)).isoformat(),
                                            today.isoformat())
    assert "today)" in period.label
    assert days[NEWEST] in days_of(found.snippets)
    assert all(period.since <= d <= period.until for d in days_of(found.snippets))


# --- the faces, no model -------------------------------------------------------------------------


def test_the_cli_takes_since_until_and_outlets(archive: tuple[Settings, Any]) -> None:
    settings, _ = archive
    env = {"QA_INDEX_DIR": str(settings.index_dir), "QA_CACHE_DIR": str(settings.cache_dir)}
    run = CliRunner()
    out = run.invoke(main, ["ask", "What did the board of Norrland Steel decide?", "--json",
                            "--until", "2024-03-01", "--outlet", "nordic wire",
                            "--outlet", "The Ledger"], env=env)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["refused"] and data["period"]["until"] == "2024-03-01"
    assert data["period"]["outlets"] == ["Nordic Wire", "The Ledger"]
    assert "until 1 March 2024 by Nordic Wire or The Ledger" in data["text"]
    text = run.invoke(main, ["ask", "What happened to Norrland Steel in January?"], env=env)
    assert text.exit_code == 0 and AS_OF in text.output
    for bad, words in ((["--since", "soon"], "YYYY-MM-DD"),
                       (["--outlet", "Daily Nowhere"], "Daily Nowhere")):
        out = run.invoke(main, ["ask", "What did the board decide?", *bad], env=env)
        assert out.exit_code == 2 and words in out.output and "Traceback" not in out.output
        assert len(out.output.strip().splitlines()) == 1
    assert "--outlet" in run.invoke(main, ["ask", "--help"]).output


def test_the_python_api_takes_since_until_and_outlets(archive: tuple[Settings, Any]) -> None:
    import qa

    settings, _ = archive
    answer = qa.answer("What happened to Norrland Steel?", index_dir=settings.index_dir,
                       since="2024-05-01")
    assert answer.refused and answer.period is not None and answer.period.since == "2024-05-01"
    steps = qa.stream_answer("What did the board of Norrland Steel decide?",
                             index_dir=settings.index_dir, outlets=["Nordic Wire"],
                             until="2024-03-31")
    first = next(steps)
    steps.close()  # before the model is asked
    assert isinstance(first, Evidence) and {s.passage.source for s in first.snippets} == {WIRE}
    with pytest.raises(ConfigError):
        qa.answer("What happened?", index_dir=settings.index_dir, until="yesterday")


def test_the_http_api_takes_since_until_and_outlets(service: QAService) -> None:
    client = TestClient(build_api(service, service.settings, Gate(2)))
    ok = client.post("/api/ask", json={"question": "What happened to Norrland Steel?",
                                       "since": "2024-05-01", "outlets": ["Nordic Wire"]})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["refused"] and body["period"]["outlets"] == ["Nordic Wire"]
    assert "since 1 May 2024 by Nordic Wire" in body["text"]
    chat = client.post("/v1/chat/completions", json={
        "model": "article-qa", "until": "2024-01-31",
        "messages": [{"role": "user", "content": "What happened to Norrland Steel?"}]})
    assert chat.status_code == 200, chat.text
    assert chat.json()["refused"] and chat.json()["period"]["until"] == "2024-01-31"
    for bad in ({"since": "soon"}, {"outlets": ["Daily Nowhere"]}):
        for path, body in (("/api/ask", {"question": "What happened?", **bad}),
                           ("/v1/chat/completions", {"messages": [
                               {"role": "user", "content": "What happened?"}], **bad})):
            got = client.post(path, json=body)
            assert got.status_code == 400, (path, got.text)
            assert got.json()["error"]["code"] == "bad_input"


# --- the real model ------------------------------------------------------------------------------


@pytest.mark.llm
def test_what_is_the_latest_cites_the_newest_article(answering: QAService) -> None:
    answer = answering.ask("What is the latest on the Vantor takeover of Norrland Steel?")
    print(answer.text)
    assert not answer.refused, answer.text
    assert NEWEST in {c.path for c in answer.citations}, answer.text


@pytest.mark.llm
def test_what_happened_last_week_cites_only_that_weeks_articles(answering: QAService) -> None:
    answer = answering.ask("What happened to Norrland Steel last week?")
    print(answer.text)
    assert not answer.refused and answer.citations, answer.text
    assert days_of(answer.citations) <= {"2024-04-02", "2024-04-03"}
    assert answer.period is not None and AS_OF in answer.period.label  # the archive's day


@pytest.mark.llm
def test_an_outlet_filter_keeps_the_answer_to_the_outlet(answering: QAService) -> None:
    answer = answering.ask("What did the board of Norrland Steel decide?", outlets=[WIRE])
    print(answer.text)
    assert not answer.refused and answer.citations, answer.text
    assert {c.source for c in answer.citations} == {WIRE}


@pytest.mark.llm
def test_the_cli_answers_within_the_filters_and_prints_the_period(
        archive: tuple[Settings, Any], llm_base_url: str) -> None:
    settings, _ = archive
    env = {"QA_INDEX_DIR": str(settings.index_dir), "QA_CACHE_DIR": str(settings.cache_dir),
           "QA_LLM_BASE_URL": llm_base_url}
    out = CliRunner().invoke(main, ["ask", "What did the board of Norrland Steel decide?",
                                    "--outlet", "Nordic Wire", "--since", "2024-03-10"],
                             env=env)
    assert out.exit_code == 0, out.output
    assert "(Articles published since 10 March 2024 by Nordic Wire.)" in out.output
    sources = [line for line in out.output.splitlines() if line.startswith("[")]
    assert sources and all("Nordic Wire" in line for line in sources), out.output


def test_the_markdown_export_names_the_period() -> None:
    from qa.faces.export import answer_markdown

    answer = {"text": "The board agreed [1].", "refused": False, "unsupported": [],
              "citations": [], "period": {"label": "published since 10 March 2024 by *Wire*"}}
    shown = answer_markdown({"question": "What did the board decide?", "answer": answer})
    assert "*Articles published since 10 March 2024 by \\*Wire\\*.*" in shown
