"""PDF articles, printed during the test by Chromium (and a scan written by Pillow)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pages import FACT, HEADER, PARAGRAPHS, TITLE, article_html, pdf_printer

from qa.models import IngestProblem
from qa.service import QAService
from qa.sources.formats import read_articles
from qa.sources.pdf import NO_TEXT

COLUMNS = [f"Part {i}. {PARAGRAPHS[i % len(PARAGRAPHS)]}" for i in range(12)]
HYPHENS = ("The council published an environ-<br>mental report on the well-<br>known channel. "
           "Everyone in Vestby calls it the well-known channel, and the report runs to four "
           "hundred pages.")


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """PDFs Chromium printed from web pages, with the times around the untitled one."""
    folder = tmp_path_factory.mktemp("printed")
    with pdf_printer() as print_pdf:
        out: dict[str, Any] = {
            "article": print_pdf(article_html(), folder / "harbour.pdf"),
            "columns": print_pdf(article_html(columns=2, paragraphs=COLUMNS),
                                 folder / "columns.pdf"),
            "hyphens": print_pdf(article_html(title="Report on the channel",
                                              dateline="By Kari Nordmann | 21 April 2023",
                                              paragraphs=[HYPHENS]), folder / "hyphens.pdf"),
            "before": datetime.now(UTC).replace(microsecond=0),
        }
        out["untitled"] = print_pdf(article_html(headline=False, dateline="",
                                                 title="Council backs harbour plan"),
                                    folder / "untitled.pdf", header=False)
        out["after"] = datetime.now(UTC)
    return out


def read_one(path: Path) -> Any:
    articles, problems = read_articles(path, max_article_mb=5)
    assert problems == [] and len(articles) == 1
    return articles[0]


def test_a_printed_article_reads_as_its_paragraphs_without_headers_or_page_numbers(
    printed: dict[str, Any]
) -> None:
    article = read_one(printed["article"])
    assert article.id == "harbour.pdf" and article.title == TITLE
    assert article.published_at == "2023-04-21"  # the dateline, not the file's creation date
    assert article.body.split("\n") == PARAGRAPHS
    assert HEADER not in article.body and not re.search(r"Page \d", article.body)
    from pdfminer.high_level import extract_pages

    assert len(list(extract_pages(printed["article"]))) >= 2, "one page: no running header"


def test_a_two_column_page_reads_down_the_left_column_then_the_right(
    printed: dict[str, Any]
) -> None:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextBox

    first = next(iter(extract_pages(printed["columns"])))
    right = [b for b in first if isinstance(b, LTTextBox) and b.x0 > first.width / 2]
    assert right, "the page was not printed in two columns"
    body = read_one(printed["columns"]).body
    # every paragraph whole, even the ones a column or page break cut, and in order
    assert body.split("\n") == COLUMNS


def test_hyphenated_line_ends_are_joined_and_a_byline_gives_author_and_date(
    printed: dict[str, Any]
) -> None:
    article = read_one(printed["hyphens"])
    assert "an environmental report on the well-known channel." in article.body
    assert article.author == "Kari Nordmann" and article.published_at == "2023-04-21"
    assert article.body == HYPHENS.replace("environ-<br>", "environ").replace("<br>", "")


def test_title_and_date_come_from_the_pdf_metadata_when_the_text_has_none(
    printed: dict[str, Any]
) -> None:
    article = read_one(printed["untitled"])
    assert article.title == "Council backs harbour plan"  # the page's <title>, kept by Chromium
    made = datetime.fromisoformat(article.published_at)  # the PDF's CreationDate
    assert printed["before"] <= made <= printed["after"]
    assert article.body.split("\n") == PARAGRAPHS


def scanned_pdf(path: Path) -> Path:
    """A page as a scanner makes it: an image of text, and no text layer."""
    from PIL import Image, ImageDraw

    page = Image.new("L", (1240, 1754), 255)
    ImageDraw.Draw(page).multiline_text((100, 100), "\n".join(PARAGRAPHS), fill=0)
    page.save(path, "PDF", resolution=150)
    return path


def test_a_scan_is_reported_in_one_line_and_nothing_else_is_lost(
    tmp_path: Path, printed: dict[str, Any], make_settings: Any, embedder: Any
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    scanned_pdf(folder / "scan.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 \x00 not really")
    (folder / "harbour.pdf").write_bytes(printed["article"].read_bytes())
    articles, problems = read_articles(folder, max_article_mb=5)
    assert [a.id for a in articles] == ["harbour.pdf"]
    messages = {p.path: p.message for p in problems}
    assert messages["scan.pdf"] == NO_TEXT == "no text layer; scanned PDFs are not read"
    assert messages["broken.pdf"].startswith("not a readable PDF")
    assert all("\n" not in m for m in messages.values())

    report = QAService(make_settings(), embedder=embedder).ingest(folder)
    assert report.added == 1 and IngestProblem("scan.pdf", NO_TEXT) in report.problems


def indexed_copies(tmp_path: Path, printed: dict[str, Any], make_settings: Any, embedder: Any,
                   **settings: Any) -> dict[str, QAService]:
    """One service over the HTML copy of the article and one over the PDF Chromium printed."""
    services = {}
    for kind in ("html", "pdf"):
        folder = tmp_path / kind
        folder.mkdir()
        if kind == "html":
            (folder / "harbour.html").write_text(article_html())
        else:
            (folder / "harbour.pdf").write_bytes(printed["article"].read_bytes())
        services[kind] = QAService(make_settings(index_dir=tmp_path / f"index-{kind}", **settings),
                                   embedder=embedder)
        services[kind].ingest(folder)
    return services


def test_a_pdf_and_the_web_page_it_was_printed_from_give_the_same_evidence(
    tmp_path: Path, printed: dict[str, Any], make_settings: Any, embedder: Any
) -> None:
    """The same question over a PDF copy and over the HTML copy of one article picks the same
    sentence as evidence (the text the answer's citation quotes)."""
    question = "How much will the Vestby harbour dredging cost, and when will it finish?"
    picked = {}
    for kind, service in indexed_copies(tmp_path, printed, make_settings, embedder).items():
        snippets = service.select_evidence(question, service.retrieve(question))
        holding = [" ".join(s.text.split()) for s in snippets if "48 million" in s.text]
        assert holding, f"{kind}: no snippet holds the fact: {[s.text for s in snippets]}"
        picked[kind] = holding[0]
    assert picked["pdf"] == picked["html"]
    assert FACT in picked["pdf"]


@pytest.mark.llm
def test_a_pdf_and_the_web_page_it_was_printed_from_answer_citing_the_same_sentence(
    tmp_path: Path, printed: dict[str, Any], make_settings: Any, embedder: Any,
    llm_base_url: str
) -> None:
    """Asked of the PDF copy and of the HTML copy, the answer cites the same sentence for the
    fact: the sentence its citations highlight (a snippet may bring a different neighbour
    along, as the PDF's layout moves a sentence's score a little)."""
    question = "How much will the Vestby harbour dredging cost?"
    cited = {}
    services = indexed_copies(tmp_path, printed, make_settings, embedder,
                              llm_base_url=llm_base_url)
    for kind, service in services.items():
        answer = service.ask(question)
        assert not answer.refused and "48 million" in answer.text, (kind, answer.text)
        assert all(c.quote in c.passage for c in answer.citations)
        cited[kind] = sorted(" ".join(c.passage[a:b].split())  # spans inside the passage
                             for c in answer.citations for a, b in c.highlights)
    holding = {kind: [s for s in sentences if "48 million" in s]
               for kind, sentences in cited.items()}  # the model may write a second sentence
    assert holding["pdf"] == holding["html"]
    assert any(FACT in sentence for sentence in holding["pdf"])
