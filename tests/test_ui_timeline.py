"""The chat window's Timeline tab in Debian's Chromium: for the tests' story (``tests/story.py``,
indexed for real) it draws the chart (articles per day and the events, Gradio's ScatterPlot)
and the event list beneath it, each event opening onto its quotes, and offers the timeline
for download. No model writes a timeline: the service's model fails the test if called."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from pages import CHROMIUM, CHROMIUM_ARGS
from story import EVENTS, TOPIC, write_story

from qa.config import Settings
from qa.faces.server import launch
from qa.faces.ui import build_app
from qa.service import QAService


class NoModel:
    """A model that must not be asked: a timeline's lines are its articles' sentences."""

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int) -> Iterator[str]:
        raise AssertionError("the timeline called the model")

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int,
                 stop: list[str] | None = None) -> str:
        raise AssertionError("the timeline called the model")


@contextmanager
def served(root: Path, write: Callable[[Path], object], embedder: Any) -> Iterator[str]:
    """The chat app on a free loopback port over the articles ``write`` puts in
    ``root/articles``, with a model that fails the test if asked; its URL."""
    write(root / "articles")
    settings = Settings.load(index_dir=root / "index", articles_root=root, progress=False,
                             ui_host="127.0.0.1", ui_port=free_port())
    service = QAService(settings, llm=NoModel(), embedder=embedder)  # type: ignore[arg-type]
    service.ingest(root / "articles")
    app = build_app(service, settings)
    url = launch(app, settings)
    try:
        yield url
    finally:
        app.close()
        service.close()


@pytest.fixture(scope="module")
def story_app(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("story-ui"), write_story, embedder) as url:
        yield url


def test_the_timeline_tab_draws_the_chart_and_the_list(story_app: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (see `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000},
                                    accept_downloads=True)
            page.goto(story_app)
            page.get_by_role("tab", name="Timeline").click()
            page.locator("#qa-topic input, #qa-topic textarea").first.fill(TOPIC)
            page.locator("#qa-follow").click()
            page.locator("#qa-timeline-status", has_text="Done").wait_for(timeout=60_000)
            # the chart: Vega draws it once the data arrives
            drawn = page.locator("#qa-timeline-chart canvas, #qa-timeline-chart svg.marks")
            drawn.first.wait_for(timeout=30_000)
            box = drawn.first.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100
            # Vega's SVG names each mark: one per day with articles, one per event
            marks = page.locator('#qa-timeline-chart [role="graphics-symbol"]'
                                 '[aria-roledescription="point"]')
            # Vega draws the last snapshot's data a moment after the list shows it
            page.wait_for_function(
                """(n) => [...document.querySelectorAll(
                     '#qa-timeline-chart [role="graphics-symbol"][aria-roledescription="point"]')]
                   .filter(e => (e.getAttribute('aria-label') || '').includes('kind: event;'))
                   .length === n""", arg=len(EVENTS), timeout=30_000)
            labels = [marks.nth(i).get_attribute("aria-label") or ""
                      for i in range(marks.count())]
            assert sum("kind: event;" in label for label in labels) == len(EVENTS)
            # pointing at an event's mark opens its first quote, numbered as in the list
            first_mark = next(i for i, label in enumerate(labels) if "kind: event;" in label)
            marks.nth(first_mark).hover()
            tip = page.locator("#vg-tooltip-element")
            tip.wait_for(state="visible", timeout=10_000)
            assert "quote" in tip.inner_text() and "[1]" in tip.inner_text(), tip.inner_text()
            days = {day for day, _p, _o in EVENTS} | {"2024-03-05", "2024-03-13", "2024-03-20",
                                                       "2024-04-03"}
            assert sum("kind: articles on the topic that day" in label
                       for label in labels) == len(days)
            page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)
            # the list: every event in date order, with its outlets
            events = page.locator("#qa-timeline-list details.qa-event")
            assert events.count() == len(EVENTS)
            days = [events.nth(i).get_attribute("data-day") for i in range(events.count())]
            assert days == [day for day, _p, _o in EVENTS]
            first = events.nth(0)
            assert "also reported by" in first.locator(".qa-outlets").inner_text()
            quote = first.locator("blockquote").first
            assert not quote.is_visible()
            first.locator("summary").click()  # an event opens onto its quotes
            quote.wait_for(state="visible", timeout=5_000)
            assert "2.1 billion" in quote.inner_text()
            with page.expect_download() as got:
                page.locator("#qa-save-tl-md").click()
            saved = Path(got.value.path()).read_text(encoding="utf-8")
            assert saved.startswith(f"# Timeline: {TOPIC}\n")
            assert all(f"## {day}" in saved for day, _p, _o in EVENTS)
        finally:
            browser.close()
