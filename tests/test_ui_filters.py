"""The chat window's filters next to the question box (issue 27): since, until and an outlet
picker filled from the index, in Debian's Chromium over the tests' running story
(``tests/news.py``, indexed for real). A filtered question whose period holds nothing is
refused, naming the period, without the model (the service's model fails the test if
called); the evidence cards and the sources name the period used (rendering, pure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from news import write_news
from pages import CHROMIUM, CHROMIUM_ARGS
from story import HERALD, LEDGER, WIRE
from test_ui_timeline import served

from qa.faces.render import render_evidence, render_sources
from qa.models import Chunk, Evidence, Period, Snippet

LABEL = "published until 31 January 2024 by Nordic Wire"


@pytest.fixture(scope="module")
def news_app(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("news-ui"), write_news, embedder) as url:
        yield url


def test_the_filters_beside_the_question_restrict_it_and_name_the_period(news_app: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (see `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(news_app)
            box = page.locator("#qa-question textarea")
            box.wait_for(timeout=60_000)
            page.locator("#qa-until input, #qa-until textarea").first.fill("2024-01-31")
            picker = page.locator("#qa-outlets input").first
            picker.click()  # the picker lists the index's outlets
            options = page.get_by_role("option")
            options.first.wait_for(timeout=10_000)
            assert sorted(options.all_inner_texts()) == sorted([HERALD, WIRE, LEDGER])
            page.get_by_role("option", name=WIRE).click()
            page.keyboard.press("Escape")
            box.fill("What did the board of Norrland Steel decide?")
            box.press("Enter")
            bot = page.locator('[data-testid="bot"]', has_text="No answer")
            bot.wait_for(timeout=60_000)
            assert f"No article {LABEL} answers this question." in bot.inner_text()
            head = page.locator("#qa-sources .qa-period")
            head.wait_for(timeout=10_000)
            assert LABEL in head.inner_text()
            page.locator("#qa-until input, #qa-until textarea").first.fill("soon")
            box.fill("What did the board of Norrland Steel decide?")
            box.press("Enter")  # a bad day: one line in the chat, as the CLI says it
            page.locator('[data-testid="bot"]', has_text="YYYY-MM-DD").wait_for(timeout=30_000)
        finally:
            browser.close()


def test_the_evidence_cards_and_the_sources_name_the_period() -> None:
    chunk = Chunk("a:0000", "a", 0, "The board agreed.", 0, 17, title="Deal agreed",
                  source=WIRE, published_at="2024-03-19T08:00:00")
    period = Period(since="2024-03-18", until="2024-03-24", words="last week",
                    label="published from 18 March 2024 to 24 March 2024 (“last week”, as of "
                          "27 March 2024, today)")
    shown = render_evidence(Evidence("q", "q", (Snippet(1, chunk, chunk.text, 0, 17),), 0.1,
                                     period=period), 1)
    assert "Articles published from 18 March 2024 to 24 March 2024 (“last week”" in shown
    answer = {"question": "q", "answer": {"text": "x", "refused": True, "citations": [],
                                          "unsupported": [], "period": {"label": "by <b>X</b>"}}}
    assert "Articles by &lt;b&gt;X&lt;/b&gt;." in render_sources([answer])
