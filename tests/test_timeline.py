"""Timelines (``qa timeline``, ``QAService.timeline``, ``qa.answering.timeline``) over a story
the tests write (``tests/story.py``): 12 dated articles from three outlets with repeats, and
one off-topic article, indexed for real (embedder, Chroma, keyword index)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt
from story import ARTICLES, EVENTS, OFF_TOPIC, TOPIC, WIRE, write_story

from qa.answering.timeline import stated_day
from qa.config import Settings
from qa.errors import ConfigError
from qa.faces.cli import main
from qa.faces.export import timeline_markdown
from qa.models import Timeline
from qa.service import QAService


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, embedder: Any
          ) -> tuple[QAService, dict[str, str], Path]:
    """A service over the story's index, the articles' bodies by file name, the index."""
    root = tmp_path_factory.mktemp("story")
    bodies = write_story(root / "articles")
    settings = Settings.load(index_dir=root / "index", cache_dir=cache_dir, progress=False)
    service = QAService(settings, embedder=embedder)
    service.ingest(root / "articles")
    return service, bodies, root / "index"


def final(service: QAService, topic: str = TOPIC, **kw: Any) -> Timeline:
    snapshots = list(service.timeline(topic, **kw))
    assert snapshots[-1].complete and not any(s.complete for s in snapshots[:-1])
    return snapshots[-1]


def test_the_story_reads_as_its_events_in_date_order_with_every_outlet(story) -> None:  # type: ignore[no-untyped-def]
    service, bodies, _ = story
    timeline = final(service)
    days = [e.date for e in timeline.events]
    assert days == sorted(days)
    assert len(timeline.events) == len(EVENTS)  # repeats folded, nothing off the topic
    for (day, phrase, outlets), event in zip(EVENTS, timeline.events, strict=True):
        assert event.date == day, (event.date, event.line)
        assert phrase in event.line
        assert set(event.outlets) == outlets, (day, event.outlets)
        assert event.outlets[0] not in event.also_reported_by
    # a later article's "on Tuesday" dates the repeat by the day it states
    assert timeline.events[-1].dated_by == "stated" and timeline.events[-1].stated == "on Tuesday"
    quoted = {q.path for e in timeline.events for q in e.quotes}
    assert f"{OFF_TOPIC}.json" not in quoted
    assert len(quoted) == len(ARTICLES) - 1  # every on-topic article contributes
    numbers = [q.number for e in timeline.events for q in e.quotes]
    assert numbers == list(range(1, len(numbers) + 1))
    for event in timeline.events:
        for q in event.quotes:
            assert bodies[q.path][q.start:q.end] == q.text  # quotes are exact spans
    assert timeline.articles_read == timeline.articles_total >= len(ARTICLES) - 1
    assert sum(n for _d, n in timeline.articles_per_day) == len(ARTICLES) - 1


def test_progress_comes_in_steps_and_stopping_keeps_what_was_found(story) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = story
    steps = service.timeline(TOPIC)
    first = next(steps)
    assert 0 < first.articles_read < first.articles_total and not first.complete
    assert first.events and first.first_event_seconds is not None
    steps.close()  # what the chat's Stop button and Ctrl+C do
    with pytest.raises(StopIteration):
        next(steps)


def test_since_until_and_outlets_narrow_the_story(story) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = story
    narrow = final(service, since="2024-03-10", until="2024-03-20", outlets=["nordic wire"])
    assert narrow.events
    for event in narrow.events:
        for q in event.quotes:
            assert q.source == WIRE and "2024-03-10" <= q.published_at[:10] <= "2024-03-20"
    assert [e.date for e in narrow.events] == ["2024-03-15", "2024-03-19"]
    for bad in ({"since": "March 3"}, {"since": "2024-04-01", "until": "2024-03-01"},
                {"outlets": ["Daily Nowhere"]}):
        with pytest.raises(ConfigError):
            list(service.timeline(TOPIC, **bad))
    with pytest.raises(ConfigError):
        list(service.timeline("   "))


@pytest.mark.parametrize(("sentence", "published", "expected"), [
    ("The board met on Tuesday.", "2024-03-20T08:00:00", ("2024-03-19", "on Tuesday")),
    ("The board met on Wednesday.", "2024-03-20", ("2024-03-20", "on Wednesday")),
    ("Talks collapsed yesterday.", "2024-03-01", ("2024-02-29", "yesterday")),
    ("The deal was signed on December 30.", "2024-01-04", ("2023-12-30", "December 30")),
    ("The deal was signed on 3 March 2022.", "2024-01-04", ("2022-03-03", "3 March 2022")),
    ("Shareholders will vote on Friday.", "2024-03-20", ("", "")),  # not yet happened
    ("Watch it live, October 3.", "2023-10-02", ("", "")),  # a day to come, not last year's
    ("Shares rose sharply.", "2024-03-20", ("", "")),
    ("The board met on Tuesday.", "", ("", "")),  # no day to resolve against
    ("It ended on February 30.", "2024-03-20", ("", "")),
])
def test_a_day_a_sentence_states_is_resolved_against_its_article(
        sentence: str, published: str, expected: tuple[str, str]) -> None:
    assert stated_day(sentence, published) == expected


def parse_back(markdown: str) -> tuple[list[tuple[str, str, list[int], list[str]]], list[str]]:
    """Events (day, line, quote numbers, outlets) and source items, read with markdown-it."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    events, sources, day, kind = [], [], "", ""
    for n, t in enumerate(tokens):
        if t.type == "heading_open" and t.tag == "h2":
            day = tokens[n + 1].content
        elif t.type in ("bullet_list_open", "ordered_list_open"):
            kind = t.type
        elif t.type == "inline" and tokens[n - 1].type == "paragraph_open" and \
                tokens[n - 2].type == "list_item_open":
            text = "".join(c.content for c in t.children or () if c.type == "text")
            if kind == "bullet_list_open":
                body, who = text.rsplit(" — ", 1)
                m = re.fullmatch(r"(.*?) ((?:\[\d+\])+)", body)
                assert m, body
                first, _, also = who.partition("; also reported by ")
                events.append((day, m.group(1), [int(x) for x in re.findall(r"\d+", m.group(2))],
                               [first, *(also.split(", ") if also else [])]))
            else:
                sources.append(text)
        elif t.type == "inline" and tokens[n - 1].type == "paragraph_open" and \
                tokens[n - 2].type == "blockquote_open":
            sources[-1] += " > " + t.content.replace("\\", "")
    return events, sources


def test_the_markdown_export_reads_back_to_the_same_events_and_sources(story) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = story
    timeline = final(service)
    events, sources = parse_back(timeline_markdown(timeline.to_dict()))
    assert events == [(e.date, e.line, [q.number for q in e.quotes], list(e.outlets))
                      for e in timeline.events]
    quotes = [q for e in timeline.events for q in e.quotes]
    assert len(sources) == len(quotes)
    for q, shown in zip(quotes, sources, strict=True):
        for field in (q.title, q.source, q.published_at[:10], q.url, q.text):
            assert field in shown, (field, shown)


def test_the_cli_prints_the_timeline_as_text_json_and_markdown(story) -> None:  # type: ignore[no-untyped-def]
    service, _, index = story
    env = {"QA_INDEX_DIR": str(index), "QA_CACHE_DIR": str(service.settings.cache_dir)}
    run = CliRunner()
    text = run.invoke(main, ["timeline", TOPIC], env=env, catch_exceptions=False)
    assert text.exit_code == 0, text.output
    lines = [line for line in text.output.splitlines() if re.match(r"\d{4}-\d\d-\d\d  ", line)]
    assert [line[:10] for line in lines] == [day for day, _p, _o in EVENTS]
    data = json.loads(run.invoke(main, ["timeline", TOPIC, "--json"], env=env).output)
    assert [e["date"] for e in data["events"]] == [day for day, _p, _o in EVENTS]
    assert data["events"][0]["also_reported_by"] == [WIRE]
    md = run.invoke(main, ["timeline", TOPIC, "--markdown", "--since", "2024-03-30"], env=env)
    assert md.output.startswith(f"# Timeline: {TOPIC}\n")
    assert parse_back(md.output)[0][0][0] == "2024-04-02"
    bad = run.invoke(main, ["timeline", TOPIC, "--until", "soon"], env=env)
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output and "Traceback" not in bad.output
    both = run.invoke(main, ["timeline", TOPIC, "--json", "--markdown"], env=env)
    assert both.exit_code == 2


def test_the_python_api_returns_the_whole_timeline(story) -> None:  # type: ignore[no-untyped-def]
    import qa

    _, _, index = story
    timeline = qa.timeline(TOPIC, index_dir=index, until="2024-03-07")
    assert isinstance(timeline, qa.Timeline) and timeline.complete
    assert [(e.date, set(e.outlets)) for e in timeline.events] == \
        [(day, outlets) for day, _p, outlets in EVENTS[:2]]


def test_article_text_in_a_timeline_export_makes_no_markup(story) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = story
    data = final(service, until="2024-03-04").to_dict()
    hostile = "Bid [1] ![x](http://leak.example/a) <img src=x onerror=alert(1)> **b**\n# h"
    data["events"][0]["line"] = hostile
    data["events"][0]["quotes"][0].update(title=hostile, text=hostile)
    html = MarkdownIt("commonmark", {"html": True}).render(timeline_markdown(data))
    assert "<img" not in html and "<strong>b" not in html and "leak.example/a\"" not in html
    links = re.findall(r'href="([^"]*)"', html)
    assert links == [q["url"] for e in data["events"] for q in e["quotes"]]
    events, _ = parse_back(timeline_markdown(data))
    assert hostile.split("\n")[0] in events[0][1]  # read as written
