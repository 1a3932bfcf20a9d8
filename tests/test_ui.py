"""The chat window, driven as another program and as a person would: gradio_client and Chromium.

One app is served from this process over a temporary index of the seed article, with the real
local LLM; ``python app.py`` is run as a subprocess for the first-run screen and its errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED, free_port, place_named, seed_tree

from qa.config import Settings
from qa.errors import ConfigError
from qa.faces.library import resolve_under_root
from qa.faces.render import reading_status, render_answer, render_evidence, render_sources
from qa.faces.server import launch
from qa.faces.ui import build_app, index_summary
from qa.models import Chunk, Evidence, HopEvidence, Snippet
from qa.service import QAService
from qa.store.index import ArticleIndex

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SLOW = 600_000  # ms: an answer on two shared CPU cores can take minutes

OTHER_STORY = (
    "Springfield Council Approves River Bridge\n"
    "The Springfield city council voted seven to two on Thursday to build a new bridge over the "
    "river, ending a debate that had lasted three years. Construction is expected to start next "
    "spring and to cost about forty million dollars, according to the mayor's office.\n"
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """QA_ARTICLES_ROOT for the app: one folder of articles holding the seed article."""
    return seed_tree(tmp_path_factory, "root")


@pytest.fixture(scope="module")
def served(root: Path) -> Iterator[tuple[str, QAService]]:
    """The app on a free loopback port over a fresh index of the seed article."""
    settings = Settings.load(index_dir=root.parent / "index", articles_root=root,
                             ui_host="127.0.0.1", ui_port=free_port())
    service = QAService(settings)
    service.ingest(root / "articles")
    app = build_app(service, settings)
    url = launch(app, settings)
    try:
        yield url, service
    finally:
        app.close()
        service.close()


@pytest.fixture(scope="module")
def client(served: tuple[str, QAService]) -> Client:
    return Client(served[0], verbose=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (see `make browser`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- rendering (pure) ---------------------------------------------------------------------------


def answer_dict(**overrides: Any) -> dict[str, Any]:
    base = {"question": "q", "text": "Stoltenberg spoke at Ramstein [1]. He liked cake.",
            "refused": False, "unsupported": ["He liked cake."], "citations": [{
                "number": 1, "title": "NATO <b>news</b>", "source": "VOA",
                "published_at": "2023-04-21T00:00:00", "url": "javascript:alert(1)",
                "path": "a.txt",
                "quote": "He spoke at Ramstein.", "start": 0, "end": 21,
                "passage": "He spoke at Ramstein. Then left.", "highlights": [[0, 21]]}]}
    return {**base, **overrides}


def test_answer_links_markers_and_marks_unsupported_sentences() -> None:
    shown = render_answer(answer_dict(), turn=3)
    assert '<a class="qa-cite" href="#src-3-1">[1]</a>' in shown
    assert '<span class="qa-unsupported"' in shown and "He liked cake.</span>" in shown
    refused = render_answer(answer_dict(refused=True, text="Not here.", citations=[]), turn=1)
    assert "qa-refusal" in refused and "Not here." in refused


def test_how_far_an_answer_was_checked_is_shown() -> None:
    """A reader tells a confirmed answer from one checked by its words only, and from one
    missing an article the question names."""
    lexical = render_answer(answer_dict(verdict="lexical"), turn=1)
    assert 'class="qa-lexical"' in lexical and "Checked by its words only" in lexical
    confirmed = render_answer(answer_dict(verdict="confirmed", support_score=1.0), turn=1)
    assert "qa-lexical" not in confirmed and "✓ Confirmed" in confirmed
    partial = render_answer(answer_dict(verdict="partial", uncovered=["VOA on “cake”"]), turn=1)
    assert "qa-lexical" in partial and "not among the articles read: VOA on “cake”" in partial
    assert "Checked" not in render_answer(answer_dict(), turn=1)  # an older answer: no line


def test_a_bracketed_number_that_names_no_source_is_not_a_link() -> None:
    shown = render_answer(answer_dict(text="Support reached [150] billion euros [1].",
                                      unsupported=[]), turn=2)
    assert "[150] billion" in shown and 'href="#src-2-150"' not in shown
    assert 'href="#src-2-1"' in shown


def test_evidence_cards_show_each_snippet_marked_in_its_passage() -> None:
    body = "Intro line. Stoltenberg spoke at Ramstein on Friday. He then left."
    chunk = Chunk(id="a.txt:0000", article_id="a.txt", index=0, text=body, start=0,
                  end=len(body), title="NATO <news>", source="VOA", path="a.txt")
    snippet = Snippet(number=1, passage=chunk, text=body[12:52], start=12, end=52)
    evidence = Evidence("Where?", "Where?", (snippet,), 0.4)
    panel = render_evidence(evidence, turn=1)
    assert reading_status(evidence) == "Reading 1 excerpt from 1 article…"
    assert panel.startswith('<div class="qa-panel-head">Reading 1 excerpt')
    assert "<mark>Stoltenberg spoke at Ramstein on Friday.</mark> He then left." in panel
    assert "NATO &lt;news&gt;" in panel


def test_evidence_cards_are_grouped_under_the_articles_the_question_names() -> None:
    def card(number: int, source: str, text: str) -> Snippet:
        chunk = Chunk(id=f"{source}:0000", article_id=f"{source}.txt", index=0, text=text,
                      start=0, end=len(text), title=f"{source} story", source=source)
        return Snippet(number=number, passage=chunk, text=text, start=0, end=len(text))

    snippets = (card(1, "Gazette", "The mayor backed the steel design."),
                card(2, "Wire", "Steel prices rose in March."))
    hops = (HopEvidence(("Gazette",), "report that the mayor backed steel", 0.8, (1,), True),
            HopEvidence(("Herald",), "reports that the vote was <delayed>", 0.0, (), False))
    panel = render_evidence(Evidence("Q?", "Q?", snippets, 0.3, hops=hops), turn=1)
    gazette = panel.index("Gazette on “report that the mayor backed steel”")
    herald = panel.index("Herald on “reports that the vote was &lt;delayed&gt;”")
    other = panel.index("Other excerpts")
    assert gazette < panel.index('id="src-1-1"') < herald < other < panel.index('id="src-1-2"')
    assert panel.count("not among the articles read") == 1
    assert panel.index("not among the articles read") > herald


def test_source_panel_escapes_highlights_and_anchors() -> None:
    panel = render_sources([{"question": "Where?", "answer": answer_dict()}])
    assert 'id="src-1-1"' in panel
    assert "<mark>He spoke at Ramstein.</mark> Then left." in panel
    assert "NATO &lt;b&gt;news&lt;/b&gt;" in panel and "javascript:" not in panel
    assert "VOA · 2023-04-21 · a.txt" in panel
    assert "He liked cake." in panel  # listed as unsupported
    citation = {**answer_dict()["citations"][0], "also_in": ["AP", "Reuters <x>"]}
    folded = render_sources([{"question": "Where?", "answer": answer_dict(citations=[citation])}])
    assert "VOA · also ran in AP, Reuters &lt;x&gt; · 2023-04-21 · a.txt" in folded


def test_an_answer_says_which_deleted_files_it_left_out() -> None:
    shown = render_answer(answer_dict(files_gone=["old.txt", "b <i>.txt"]), turn=1)
    assert ("Left out 2 articles whose files were deleted since the index was built "
            "(old.txt, b &lt;i&gt;.txt)") in shown
    refused = render_answer(answer_dict(refused=True, text="Not here.", citations=[],
                                        files_gone=["old.txt"]), turn=1)
    assert "Left out 1 article whose file was deleted" in refused
    assert "Left out" not in render_answer(answer_dict(), turn=1)


def test_index_summary_tells_no_index_from_an_empty_one(tmp_path: Path) -> None:
    settings = Settings.load(index_dir=tmp_path / "index")
    line, table, usable = index_summary(QAService(settings))
    assert (line, usable) == ("No index yet.", False) and "build one" in table
    assert not settings.index_dir.exists(), "looking did not create an index"
    ArticleIndex(settings).collection  # noqa: B018 - an index made, and nothing put in it
    line, table, usable = index_summary(QAService(settings))
    assert (line, usable) == ("The index is empty.", False)


def test_rebuild_path_must_be_under_root(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    assert resolve_under_root("articles", tmp_path) == (tmp_path / "articles").resolve()
    for outside in ("/etc", "../", "articles/../../"):
        with pytest.raises(ConfigError, match="outside"):
            resolve_under_root(outside, tmp_path)
    (tmp_path / "escape").symlink_to("/etc")
    with pytest.raises(ConfigError, match="outside"):
        resolve_under_root("escape", tmp_path)


# --- the running app ----------------------------------------------------------------------------


@pytest.mark.llm
def test_ask_endpoint_yields_evidence_then_a_cited_answer(client: Client) -> None:
    job = client.submit("How much support have NATO allies delivered to Ukraine since "
                        "March 2022?", api_name="/ask")
    result = job.result()
    evidence, *_rest = job.outputs()
    assert evidence["event"] == "evidence" and evidence["snippets"]
    assert any("150 billion" in s["text"] for s in evidence["snippets"])
    assert all("path" not in s["passage"] for s in evidence["snippets"])  # not a file to fetch
    print(f"\n/ask answered in {result['seconds']:.1f}s: {result['text']}")
    assert result["event"] == "answer"
    assert not result["refused"], result
    assert set(result) >= {"text", "citations", "refused", "unsupported"}
    assert "150 billion" in result["text"]
    assert any("150 billion euros" in c["quote"] for c in result["citations"]), result
    assert result["citations"][0]["article_path"] == SEED.name
    assert all(f"[{c['number']}]" in result["text"] for c in result["citations"])


@pytest.mark.llm
def test_browser_streams_an_answer_and_shows_its_source(served: tuple[str, QAService],
                                                        browser: Any) -> None:
    url = served[0]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page.goto(url)
    box = page.locator("#qa-question textarea")
    box.wait_for(timeout=60_000)
    page.evaluate("""() => {
      window.__qa = {};
      document.querySelector('#qa-question textarea').addEventListener('keydown', (e) => {
        if (e.key === 'Enter') window.__qa.enter = performance.now();
      }, true);
      new MutationObserver(() => {
        if (!window.__qa.enter) return;
        const now = performance.now();
        const bot = document.querySelector('[data-testid="bot"]');
        const text = bot ? bot.innerText.trim() : "";
        const head = document.querySelector('#qa-sources .qa-panel-head');
        const cards = document.querySelectorAll('#qa-sources .qa-src').length;
        if (!window.__qa.evidence && cards && head && head.innerText.startsWith('Reading'))
          window.__qa.evidence = now;
        if (!window.__qa.status && text.startsWith('Reading')) window.__qa.status = now;
        if (!window.__qa.first && text && !text.startsWith('Reading')) window.__qa.first = now;
        if (!window.__qa.done && head && head.innerText.startsWith('Sources for'))
          window.__qa.done = now;
      }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    box.fill("Where did Stoltenberg speak to reporters on Friday?")
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function("window.__qa.first", timeout=SLOW, polling=50)
    first_words = page.evaluate("window.__qa.first - window.__qa.enter") / 1000
    head = page.locator("#qa-sources .qa-panel-head", has_text="Sources for")
    head.wait_for(timeout=SLOW)
    total = time.perf_counter() - started

    answer = page.locator('[data-testid="bot"]').last.inner_text()
    marks = page.evaluate("window.__qa")
    evidence_at = (marks["evidence"] - marks["enter"]) / 1000
    print(f"\nEnter -> evidence cards {evidence_at:.2f}s, first streamed words "
          f"{first_words:.2f}s, full answer {total:.1f}s: {answer}")
    # the evidence cards came first, under a status line, before any word of the answer
    assert marks["evidence"] < marks["first"] < marks["done"], marks
    assert marks["status"] < marks["first"], marks  # "Reading N excerpts…" in the chat first
    place = place_named(answer)
    assert place, answer
    card = page.locator("#qa-sources .qa-src").first
    assert place in card.inner_text()
    assert any(place in m for m in card.locator("mark").all_inner_texts())
    cite = page.locator("#qa-chat a.qa-cite").first  # [n] brings its source into view
    cite.click()
    page.locator(f"#qa-sources {cite.get_attribute('href')}.qa-flash").wait_for(timeout=5000)
    assert card.is_visible() and len(page.context.pages) == 1  # no new tab opened
    assert not outside, f"the page reached beyond loopback: {outside}"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui.png"), full_page=True)
    (ARTIFACTS / "ui-timing.json").write_text(json.dumps(
        {"enter_to_evidence_s": round(evidence_at, 2),
         "enter_to_first_words_s": round(first_words, 2), "enter_to_answer_s": round(total, 1),
         "answer": answer}, indent=1))
    page.close()


@pytest.mark.llm
def test_a_closed_tab_stops_its_answer(served: tuple[str, QAService], browser: Any) -> None:
    """The model must not go on writing for a reader who left: its stream is closed, and the
    llama.cpp server logs the disconnect and stops at its next token."""
    url, service = served
    _ = service.llm  # the app's own local model server
    server = service._server
    assert server is not None
    server.ensure_running()

    def disconnects() -> int:
        return server.log_path.read_text(errors="replace").count("Disconnected from client")

    page = browser.new_page()
    page.goto(url)
    box = page.locator("#qa-question textarea")
    box.wait_for(timeout=60_000)
    box.fill("Who did Stoltenberg meet in Kyiv, and what did he tour there?")
    box.press("Enter")
    page.locator('[data-testid="bot"]', has_text="Reading").wait_for(timeout=SLOW)
    before = disconnects()
    page.close()  # the reader leaves while the model is reading the evidence
    deadline = time.monotonic() + 300
    while disconnects() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert disconnects() > before, "the closed tab's answer went on to the end"
    answer = service.ask("Where did Stoltenberg speak to reporters on Friday?")
    assert place_named(answer.text), answer.text  # the next person is served


def test_index_tab_refuses_folders_outside_the_root(client: Client, root: Path) -> None:
    status, *_ = client.predict("/etc", api_name="/rebuild")
    assert "outside" in status and "QA_ARTICLES_ROOT" in status
    status, *_ = client.predict("../", api_name="/rebuild")
    assert "outside" in status
    status, stats, *_ = client.predict("articles", api_name="/rebuild")  # under the root: ok
    assert "unchanged 1" in status and stats.startswith("| Articles") and "| **1** |" in stats


def test_uploaded_files_are_added_to_the_index(client: Client, served: tuple[str, QAService],
                                               tmp_path: Path) -> None:
    story = tmp_path / "springfield-bridge.txt"
    story.write_text(OTHER_STORY)
    status, stats, *_ = client.predict([handle_file(str(story))], api_name="/add_files")
    assert "Added 1 file:" in status and "added 1" in status and "unchanged 1" in status
    assert "| **2** |" in stats and "uploaded files" in stats
    assert served[1].stats().articles == 2


def test_rebuild_from_a_deleted_then_an_emptied_folder_says_what_the_index_holds(
    tmp_path: Path, embedder: Any
) -> None:
    folder = tmp_path / "root" / "articles"
    folder.mkdir(parents=True)
    (folder / "bridge.txt").write_text(OTHER_STORY)
    settings = Settings.load(index_dir=tmp_path / "index", articles_root=tmp_path / "root",
                             ui_host="127.0.0.1", ui_port=free_port())
    service = QAService(settings, embedder=embedder)
    service.ingest(folder)
    app = build_app(service, settings)
    client = Client(launch(app, settings), verbose=False)
    try:
        shutil.rmtree(folder)
        status, stats, *_ = client.predict("articles", api_name="/rebuild")
        assert "no such file or folder; the index at" in status
        assert "still holds 1 article indexed from it" in status and "| **1** |" in stats
        folder.mkdir()
        status, stats, header, *_ = client.predict("articles", api_name="/rebuild")
        assert "removed 1," in status and status.endswith("the index is now empty")
        assert header.endswith("The index is empty.")
    finally:
        app.close()
        service.close()


# --- python app.py ------------------------------------------------------------------------------


def run_app(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, text=True,
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@pytest.mark.server
def test_empty_index_shows_a_first_run_screen(tmp_path: Path, browser: Any) -> None:
    port = free_port()
    proc = run_app({"QA_INDEX_DIR": str(tmp_path / "empty"), "QA_UI_PORT": str(port),
                    "QA_ARTICLES_ROOT": str(tmp_path)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line + (proc.stderr.read() if proc.stderr
                                                          else "")
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        page.goto(f"http://127.0.0.1:{port}/")
        welcome = page.locator(".qa-welcome")
        welcome.wait_for(timeout=60_000)
        assert "qa index" in welcome.inner_text() and "Index" in welcome.inner_text()
        assert not page.locator("#qa-question textarea").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "first-run.png"))
        page.close()
        with pytest.raises(Exception, match="no index at .* yet: build one with `qa index"):
            Client(f"http://127.0.0.1:{port}/", verbose=False).predict("Who?", api_name="/ask")
        assert not (tmp_path / "empty").exists(), "the app did not create an empty index"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.server
def test_app_py_turns_a_bad_setting_into_one_line() -> None:
    proc = run_app({"QA_UI_PORT": "not-a-port"})
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().count("\n") == 0 and "QA_UI_PORT" in err, err
