"""Issue 26, items 2 and 3: a text file of one line is an article, and a JSON body of any shape
that holds text is read, in document order, passing over ids, links, dates and numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.sources.formats import HEADLINE_CHARS, headline, read_articles
from qa.sources.records import parse_records

STORY = (
    "The Springfield city council voted seven to two on Thursday to build a new bridge over "
    "the river, ending a debate that had lasted three years. Construction is expected to start "
    "next spring and to cost about forty million dollars, according to the mayor's office. "
    "Opponents said the money would be better spent repairing roads in the older parts of the "
    "city."
)
FIRST = STORY.split(". ")[0] + "."


def write(root: Path, rel: str, content: str | bytes) -> None:
    file = root / rel
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(content.encode() if isinstance(content, str) else content)


def read(root: Path) -> tuple[dict, dict]:
    articles, problems = read_articles(root, max_article_mb=5)
    return {a.id: a for a in articles}, {p.path: p.message for p in problems}


def records(*recs: object) -> tuple[list, dict]:
    articles, problems = parse_records(json.dumps(list(recs)), "r.json", jsonl=False,
                                       limit_mb=5)
    return articles, {p.path: p.message for p in problems}


# --- item 2: a file of one line ---------------------------------------------------------------


def test_a_page_saved_as_one_long_line_is_an_article(tmp_path: Path) -> None:
    page = " ".join([STORY] * 60)  # about 20,000 characters, no line break at all
    write(tmp_path, "scraped.txt", page)
    write(tmp_path, "scraped.md", page)
    write(tmp_path, "no-newline-at-end.txt", STORY)
    got, problems = read(tmp_path)
    assert problems == {}
    assert sorted(got) == ["no-newline-at-end.txt", "scraped.md", "scraped.txt"]
    for rel, text in (("scraped.txt", page), ("scraped.md", page),
                      ("no-newline-at-end.txt", STORY)):
        assert got[rel].title == FIRST
        assert got[rel].body == text  # nothing lost: the headline's sentence stays in the body


def test_a_run_on_first_sentence_makes_a_headline_cut_at_a_word(tmp_path: Path) -> None:
    words = " ".join(f"clause{i}" for i in range(3000))  # no sentence end anywhere
    write(tmp_path, "runon.txt", words)
    write(tmp_path, "token.txt", "x" * 5000)  # no space to cut at either
    long_first = "Officials said " + ", and ".join(["the river rose overnight"] * 20) + ". Next."
    write(tmp_path, "long-first.md", long_first)
    got, problems = read(tmp_path)
    assert problems == {}
    for rel, text in (("runon.txt", words), ("token.txt", "x" * 5000),
                      ("long-first.md", long_first)):
        title, body = got[rel].title, got[rel].body
        assert body == text
        assert 0 < len(title) <= HEADLINE_CHARS and body.startswith(title)
    assert got["runon.txt"].title.split() == words.split()[: len(got["runon.txt"].title.split())]
    assert got["runon.txt"].body[len(got["runon.txt"].title)] == " "  # whole words only
    assert got["token.txt"].title == "x" * HEADLINE_CHARS
    assert got["long-first.md"].title[-1].isalpha()  # ends on a word, no dangling comma


def test_one_line_of_text_among_blank_header_and_trailer_lines(tmp_path: Path) -> None:
    write(tmp_path, "blank.txt", f"\n\n   \n  {STORY}  \n\n\n")
    write(tmp_path, "crlf.txt", f"\r\n\r\n{STORY}\r\n".encode())
    write(tmp_path, "bom.txt", b"\xef\xbb\xbf" + STORY.encode())
    write(tmp_path, "trailer.md", f"{STORY}\n\nRead more\n")
    write(tmp_path, "fields.txt", f"{STORY}\nSource: Springfield Gazette\nDate: April 21, 2023\n")
    got, problems = read(tmp_path)
    assert problems == {}
    assert {rel: (a.title, a.body) for rel, a in got.items()} == {
        rel: (FIRST, STORY) for rel in ("blank.txt", "bom.txt", "crlf.txt", "fields.txt",
                                        "trailer.md")}
    assert (got["fields.txt"].source, got["fields.txt"].published_at) == (
        "Springfield Gazette", "2023-04-21")


def test_a_first_line_too_long_for_a_headline_opens_the_body(tmp_path: Path) -> None:
    page = " ".join([STORY] * 30)
    write(tmp_path, "footer.txt", f"{page}\nCopyright 2024 Springfield Gazette\n")
    write(tmp_path, "fields.md", f"{page}\nSource: Springfield Gazette\n\nA second paragraph.\n")
    long_headline = "Council approves new bridge: " + "a debate of three years ends " * 5
    write(tmp_path, "headline.txt", f"{long_headline.strip()}\n\nThe council voted.\n")
    got, problems = read(tmp_path)
    assert problems == {}
    assert (got["footer.txt"].title, got["footer.txt"].body) == (
        FIRST, f"{page}\n\nCopyright 2024 Springfield Gazette")
    assert (got["fields.md"].title, got["fields.md"].body, got["fields.md"].source) == (
        FIRST, f"{page}\n\nA second paragraph.", "Springfield Gazette")
    # A headline that fits in 200 characters is still one, however long: as before.
    assert 150 < len(long_headline.strip()) <= 200
    assert (got["headline.txt"].title, got["headline.txt"].body) == (
        long_headline.strip(), "The council voted.")


def test_a_short_lone_line_is_an_article_unless_marked_as_a_heading(tmp_path: Path) -> None:
    write(tmp_path, "short.txt", "Council approves new bridge\n")
    write(tmp_path, "short.md", "Council approves new bridge")
    write(tmp_path, "heading.md", "# Council approves new bridge\n")
    write(tmp_path, "heading-and-text.md", "# Council approves bridge. Work starts in spring.")
    write(tmp_path, "two-lines.txt", "Council approves bridge\nWork starts in spring.\n")
    got, problems = read(tmp_path)
    assert {rel: (a.title, a.body) for rel, a in got.items()} == {
        "short.txt": ("Council approves new bridge", "Council approves new bridge"),
        "short.md": ("Council approves new bridge", "Council approves new bridge"),
        "heading-and-text.md": ("Council approves bridge.",
                                "Council approves bridge. Work starts in spring."),
        "two-lines.txt": ("Council approves bridge", "Work starts in spring."),  # as before
    }
    # A markdown heading alone says it is a headline: there is no story to index.
    assert problems == {"heading.md": "empty article (no body text)"}


@pytest.mark.parametrize(("text", "title"), [
    ("Mr. Smith went to Washington. He stayed.", "Mr. Smith went to Washington."),
    ("The U.S. Army moved on Friday. More later.", "The U.S. Army moved on Friday."),
    ("  Short one.  Then more.  ", "Short one."),
    ("Runs on" + " word" * 40, "Runs on" + " word" * 28),  # 147 characters: whole words
    ("a" * 140 + " bbbbbbb, cccccccccc", "a" * 140 + " bbbbbbb"),  # no dangling comma
    ("A" * 10 + " " + "b" * 200, "A" * 10),
])
def test_headline(text: str, title: str) -> None:
    assert headline(text) == title
    assert len(headline(text)) <= HEADLINE_CHARS


# --- item 3: JSON bodies of shapes no list names ---------------------------------------------


def test_json_bodies_of_unlisted_shapes_are_read_in_document_order() -> None:
    uuid = "0b9c5a1e-3d2f-4c6b-9a8e-1f2e3d4c5b6a"
    articles, problems = records(
        {"title": "Lead", "body": {"lead": "The lead.", "paragraphs": ["P one.", "P two."]},
         "source": "Gazette", "published_at": "2024-01-15", "url": "https://g.example/1"},
        {"title": "Blocks", "content": {"blocks": [{"text": "Block one."},
                                                   {"text": "Block two."}]}},
        {"title": "Editor.js", "content": {"time": 1705305600, "version": "2.28", "blocks": [
            {"id": "h1x", "type": "header", "data": {"text": "A heading", "level": 2}},
            {"id": "p1x", "type": "paragraph", "data": {"text": "First <b>bold</b> words."}},
            {"id": "i1x", "type": "image", "data": {"file": {"url": "https://g.example/a.jpg"},
                                                    "caption": "The bridge at dusk.",
                                                    "withBorder": False}},
            {"id": "l1x", "type": "list", "data": {"style": "unordered",
                                                   "items": ["Item one", "Item two"]}}]}},
        {"title": "Portable", "body": [
            {"_type": "block", "_key": "k1", "style": "normal", "markDefs": [], "children": [
                {"_type": "span", "_key": "s1", "text": "Span one.", "marks": ["strong"]}]},
            {"_type": "image", "_key": "k2", "asset": {"_ref": "image-abc123-800x600-jpg"}}]},
        {"title": "Draft", "text": {"blocks": [
            {"key": "a1b2c", "text": "Draft line.", "type": "unstyled", "depth": 0,
             "inlineStyleRanges": [{"offset": 0, "length": 5, "style": "BOLD"}],
             "entityRanges": [], "data": {}}],
            "entityMap": {"0": {"type": "LINK", "mutability": "MUTABLE",
                                "data": {"url": "https://g.example/x"}}}}},
        {"title": "WordPress", "content": {"rendered": "<p>Rendered <em>HTML</em>.</p>",
                                           "protected": False}},
        {"title": "Sections", "article": {"id": uuid, "sections": [
            {"heading": "Background", "created_at": "2024-01-15T08:00:00Z",
             "paragraphs": [["Nested one.", "Nested two."], "Nested three."]}]}},
        {"title": "Mixed list", "body": ["Para one.", 3, None, True, ["Para two."]]},
        {"title": "Twins", "body": {"html": "<p>Same words.</p>", "plain": "Same words."}},
    )
    assert problems == {}
    assert {a.title: a.body for a in articles} == {
        "Lead": "The lead.\n\nP one.\n\nP two.",
        "Blocks": "Block one.\n\nBlock two.",
        "Editor.js": "A heading\n\nFirst <b>bold</b> words.\n\nThe bridge at dusk.\n\n"
                     "Item one\n\nItem two",
        "Portable": "Span one.",
        "Draft": "Draft line.",
        "WordPress": "<p>Rendered <em>HTML</em>.</p>",  # HTML kept as a string body's is
        "Sections": "Background\n\nNested one.\n\nNested two.\n\nNested three.",
        "Mixed list": "Para one.\n\nPara two.",
        "Twins": "<p>Same words.</p>",  # one paragraph, not its HTML and plain copies both
    }
    lead = articles[0]
    assert (lead.source, lead.published_at, lead.url, lead.id) == (
        "Gazette", "2024-01-15", "https://g.example/1", "r.json#https://g.example/1")


def test_json_body_walk_passes_over_ids_links_dates_numbers_and_labels() -> None:
    [article], problems = records({"title": "T", "body": {
        "id": "0B9C5A1E-3D2F-4C6B-9A8E-1F2E3D4C5B6A", "articleId": "Some Words Id",
        "guid": "urn:x", "webUrl": "https://g.example/a", "link": "www.g.example/a",
        "contact": "desk@g.example", "updated_at": "yesterday", "when": "2024-01-15T08:00:00Z",
        "day": "2024-01-15", "count": 12, "ratio": 0.5, "live": True, "gone": None,
        "digits": "1705305600", "kind": "Opinion Piece", "@type": "NewsArticle",
        "lang": "en-GB", "label": "story", "hash": "9f86d081884c7d659a2feaa0c55ad015",
        "blob": "QmFzZTY0QmxvYkJhc2U2NEJsb2JCYXNlNjRCbG9iQmFzZTY0", "flag": "BREAKING",
        "parts": [{"type": "paragraph", "value": "Only this is text."}],
        "credit": "Reuters"}})
    assert problems == {}
    assert article.body == "Only this is text.\n\nReuters"


def test_json_record_without_a_body_field_is_read_from_its_other_keys() -> None:
    articles, problems = records(
        {"title": "Paragraphs", "paragraphs": ["P one.", "P two."], "tags": ["Politics"],
         "category": "World", "image": {"caption": "A photo."}, "uuid": "abc"},
        {"headline": "Selftext", "selftext": "A post's own text.", "ups": 5,
         "permalink": "/r/news/abc", "og_title": "Selftext"},
        {"webTitle": "Wrapped", "fields": {"headline": "Wrapped", "storyText": "Inner text."}},
        {"title": "Headline and labels only", "tags": ["Politics"], "section": "World"},
        {"title": "Textless body", "body": {"id": 5}, "lede": "The lede instead."},
    )
    assert {a.title: a.body for a in articles} == {
        "Paragraphs": "P one.\n\nP two.",
        "Selftext": "A post's own text.",  # not its copy of the headline
        "Wrapped": "Inner text.",
        "Textless body": "The lede instead.",
    }
    assert problems == {"r.json#4": "empty article (no body text)"}


def test_json_bodies_holding_no_text_keep_a_precise_problem() -> None:
    articles, problems = records(
        {"title": "Ids", "body": {"id": "0b9c5a1e-3d2f-4c6b-9a8e-1f2e3d4c5b6a",
                                  "url": "https://g.example/a", "date": "2024-01-15"}},
        {"title": "Images", "body": [{"type": "image", "src": "https://g.example/a.jpg"}]},
        {"title": "Numbers", "content": [1, 2, 3]},
        {"title": "Nested", "body": {"blocks": [{"type": "divider"}]}},
        {"title": "Read elsewhere", "body": {"id": 7}, "summary": "The summary."},
    )
    assert [(a.title, a.body) for a in articles] == [("Read elsewhere", "The summary.")]
    assert problems == {
        "r.json#1": "body is an object with no text in it (keys: id, url, date), expected text",
        "r.json#2": "body is a list of objects with no text in them, expected text",
        "r.json#3": "content is a list of numbers, expected text",
        "r.json#4": "body is an object with no text in it (keys: blocks), expected text",
    }
    assert all("\n" not in m for m in problems.values())


# --- through the real ingest path ------------------------------------------------------------


def test_one_line_files_and_unlisted_json_bodies_are_indexed_and_found(
    make_settings, embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from qa.service import QAService

    folder = tmp_path / "articles"
    write(folder, "bridge.txt", " ".join([STORY] * 40))
    write(folder, "flood.md", "\n\nThe river Avon burst its banks at Tewkesbury on Monday, "
                              "flooding two hundred homes. The army sent four lorries of "
                              "sandbags.\n")
    write(folder, "feed.json", json.dumps({"items": [
        {"title": "Lighthouse sold", "url": "https://g.example/lighthouse",
         "content": {"id": 9, "blocks": [
             {"type": "paragraph", "data": {"text": "The Hartland Point lighthouse was sold "
                                                    "at auction for 1.2 million pounds."}},
             {"type": "paragraph", "data": {"text": "The buyer plans a museum of shipwrecks."}}]}},
        {"title": "Nothing", "body": {"id": 3, "url": "https://g.example/n"}}]}))
    service = QAService(make_settings(), embedder=embedder)
    report = service.ingest(folder)
    assert report.added == 3
    assert [(p.path, p.message) for p in report.problems] == [
        ("feed.json#2", "body is an object with no text in it (keys: id, url), expected text")]
    titles = {e.article_id: e.title for e in service.articles()}
    assert titles == {"bridge.txt": FIRST,
                      "flood.md": "The river Avon burst its banks at Tewkesbury on Monday, "
                                  "flooding two hundred homes.",
                      "feed.json#https://g.example/lighthouse": "Lighthouse sold"}
    for question, article_id, words in (
        ("How many homes were flooded at Tewkesbury?", "flood.md", "two hundred homes"),
        ("What does the buyer of the lighthouse plan?", "feed.json#https://g.example/lighthouse",
         "museum of shipwrecks"),
        ("How much will the Springfield bridge cost?", "bridge.txt", "forty million dollars"),
    ):
        top = service.retrieve(question)[0].chunk
        assert top.article_id == article_id and words in top.text
