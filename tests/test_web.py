"""Web pages and feeds, fetched from a real HTTP server on loopback (allowed by the tests' own
setting), into a real index; and the rule that keeps requests off private addresses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pages import OTHER, PARAGRAPHS, TITLE, Route, Site, article_html

from qa.errors import IngestError
from qa.faces.cli import main
from qa.service import QAService
from qa.sources.fetch import address_problem
from qa.sources.web import MANIFEST, web_dir
from qa.store.index import ArticleIndex

RSS_TITLE = "Vestby to dredge its harbour channel"  # the feed's title for the harbour story


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, relative link, RFC 822 date) items."""
    entries = "".join(f"<item><title>{t}</title><link>{link}</link><pubDate>{d}</pubDate>"
                      f"<guid isPermaLink='false'>{link}</guid></item>" for t, link, d in items)
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Vestby "
            f"Tidende</title><link>/</link><description>Local news</description>{entries}"
            "</channel></rss>").encode()


def atom(items: list[tuple[str, str, str]]) -> bytes:
    """An Atom feed of (title, relative href, ISO date) entries."""
    entries = "".join(f"<entry><title>{t}</title><link href='{h}'/><id>urn:{h}</id>"
                      f"<updated>{d}</updated></entry>" for t, h, d in items)
    return ("<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            f"<title>Northfield News</title><id>urn:nn</id><updated>2023-04-22T10:00:00Z"
            f"</updated>{entries}</feed>").encode()


RSS_ITEMS = [(RSS_TITLE, "/articles/harbour.html", "Fri, 21 Apr 2023 09:00:00 GMT"),
             (OTHER["bridge"][0], "../articles/bridge.html", "Thu, 20 Apr 2023 18:30:00 GMT")]


@pytest.fixture
def site() -> Iterator[Site]:
    with Site() as s:
        s.page("/articles/harbour.html", article_html(site="The Vestby Tidende"))
        for name, (title, para) in OTHER.items():
            s.page(f"/articles/{name}.html", article_html(title=title, dateline="",
                                                          paragraphs=[para, PARAGRAPHS[-1]]))
        s.routes["/feeds/rss.xml"] = Route(rss(RSS_ITEMS), "application/rss+xml")
        s.routes["/feeds/atom.xml"] = Route(atom([
            (OTHER["school"][0], "../articles/school.html", "2023-04-22T10:00:00Z")]),
            "application/atom+xml")
        yield s


@pytest.fixture
def fetching(make_settings: Any, embedder: Any) -> Any:
    """A QAService allowed to fetch from the loopback server; keyword settings override."""

    def make(**overrides: Any) -> QAService:
        overrides.setdefault("fetch_allow_private", True)
        return QAService(make_settings(**overrides), embedder=embedder)

    return make


def test_a_page_becomes_an_article_file_beside_the_index_with_its_url_as_id(
    site: Site, fetching: Any
) -> None:
    service = fetching()
    url = f"{site.base}/articles/harbour.html"
    report = service.ingest(urls=[url])
    assert (report.fetched, report.added, report.problems) == (1, 1, ())
    folder = web_dir(service.settings)
    assert folder == service.settings.index_dir.parent / "index-web"
    [file] = folder.rglob("*.txt")
    head = file.read_text().split("\n")
    assert head[:5] == [TITLE, "Source: The Vestby Tidende", "Date: 2023-04-21", f"URL: {url}",
                        ""]
    assert (folder / MANIFEST).is_file()
    assert set(ArticleIndex(service.settings).article_state()) == {url}
    [top, *_] = service.retrieve("How much will the Vestby dredging cost?")
    assert top.chunk.article_id == url and top.chunk.url == url


def test_rss_and_atom_feeds_bring_in_the_articles_their_relative_links_name(
    site: Site, fetching: Any
) -> None:
    service = fetching()
    report = service.ingest(urls=[f"{site.base}/feeds/rss.xml", f"{site.base}/feeds/atom.xml"])
    assert (report.fetched, report.added, report.problems) == (3, 3, ())
    assert sorted(p for p in site.paths() if p.startswith("/articles/")) == [
        "/articles/bridge.html", "/articles/harbour.html", "/articles/school.html"]
    chunks = {c.article_id: c for c in ArticleIndex(service.settings).chunks()}
    harbour = chunks[f"{site.base}/articles/harbour.html"]
    # the feed item's title and date; the outlet the page names
    assert (harbour.title, harbour.published_at) == (RSS_TITLE, "2023-04-21T09:00:00+00:00")
    assert harbour.source == "The Vestby Tidende"
    school = chunks[f"{site.base}/articles/school.html"]
    assert (school.title, school.source) == (OTHER["school"][0], "Northfield News")


def test_a_second_run_fetches_only_what_is_new_or_changed(site: Site, fetching: Any) -> None:
    service = fetching()
    feed, page = f"{site.base}/feeds/rss.xml", f"{site.base}/articles/school.html"
    service.ingest(urls=[feed, page])
    site.log.clear()
    again = service.ingest(urls=[feed, page])
    assert site.paths() == ["/feeds/rss.xml", "/articles/school.html"]  # both answered 304
    assert all(etag for _p, _host, etag in site.log), "asked without the ETag"
    assert (again.fetched, again.fetch_unchanged, again.unchanged, again.chunks_embedded) == (
        0, 3, 3, 0)

    site.page("/articles/bridge.html", article_html(title=OTHER["bridge"][0], dateline="",
                                                    paragraphs=[OTHER["bridge"][1] + " Updated."]))
    site.page("/articles/ferry.html", article_html(title=OTHER["ferry"][0], dateline="",
                                                   paragraphs=[OTHER["ferry"][1]]))
    items = [RSS_ITEMS[0], (RSS_ITEMS[1][0], RSS_ITEMS[1][1], "Sat, 22 Apr 2023 08:00:00 GMT"),
             (OTHER["ferry"][0], "/articles/ferry.html", "Sat, 22 Apr 2023 09:00:00 GMT")]
    site.routes["/feeds/rss.xml"] = Route(rss(items), "application/rss+xml")
    site.log.clear()
    third = service.ingest(urls=[feed, page])
    # the harbour item's date is as it was: its page is not asked for again
    assert site.paths() == ["/feeds/rss.xml", "/articles/bridge.html", "/articles/ferry.html",
                            "/articles/school.html"]
    assert (third.fetched, third.fetch_unchanged, third.added, third.updated) == (2, 2, 1, 1)


def test_each_problem_is_one_line_and_the_rest_is_indexed(site: Site, fetching: Any) -> None:
    site.routes["/old"] = Route(b"", status=301, headers={"Location": "/articles/harbour.html"})
    site.routes["/to-any"] = Route(b"", status=302, headers={
        "Location": f"http://0.0.0.0:{site.port}/articles/harbour.html"})
    site.routes["/slow.html"] = Route(article_html().encode(), delay=4.0)
    site.routes["/report.bin"] = Route(bytes(range(256)) * 4, "application/octet-stream")
    site.routes["/big.html"] = Route(article_html(paragraphs=PARAGRAPHS * 120).encode())
    service = fetching(fetch_timeout=1.5, fetch_max_mb=0.05)
    urls = [f"{site.base}{p}" for p in ("/old", "/missing", "/slow.html", "/report.bin",
                                        "/big.html", "/to-any")]
    report = service.ingest(urls=urls)
    said = {p.path.removeprefix(site.base): (p.message, p.skipped) for p in report.problems}
    assert said.pop("/old") == (f"redirected to {site.base}/articles/harbour.html", False)
    assert said.pop("/missing") == ("dead link: HTTP 404 Not Found", True)
    assert said.pop("/slow.html") == ("timed out after 1.5s (QA_FETCH_TIMEOUT)", True)
    assert said.pop("/report.bin") == (
        "is application/octet-stream, not a web page (HTML) or a feed (RSS/Atom)", True)
    message, _ = said.pop("/big.html")
    assert message.endswith("MB is over the QA_FETCH_MAX_MB limit of 0.05 MB; not downloaded")
    assert said.pop("/to-any") == (
        f"refused a redirect to http://0.0.0.0:{site.port}/articles/harbour.html: "
        "0.0.0.0 is an unspecified address", True)
    assert said == {}
    assert (report.added, report.fetched) == (1, 1)  # the page /old led to
    assert not [h for _p, h, _e in site.log if h.startswith("0.0.0.0")]
    assert sorted(site.paths()).count("/slow.html") == 1, "a timeout is not retried"


@pytest.mark.parametrize(("ip", "allowed", "kind"), [
    ("127.0.0.1", False, "a loopback address"),
    ("::1", False, "a loopback address"),
    ("::ffff:127.0.0.1", False, "a loopback address"),
    ("10.20.30.40", False, "a private address"),
    ("172.16.0.1", False, "a private address"),
    ("192.168.1.1", False, "a private address"),
    ("169.254.169.254", False, "a link-local address"),
    ("fe80::1", False, "a link-local address"),
    ("fd00::1", False, "a private address"),
    ("100.64.0.1", False, "not a public address"),
    ("93.184.215.14", False, ""),
    ("2606:4700::1111", False, ""),
    ("127.0.0.1", True, ""),
    ("10.0.0.1", True, ""),
    ("0.0.0.0", True, "an unspecified address"),
    ("::", True, "an unspecified address"),
    ("224.0.0.1", True, "a multicast address"),
])
def test_which_addresses_may_be_fetched(ip: str, allowed: bool, kind: str) -> None:
    assert address_problem(ip, allow_private=allowed) == kind


def test_loopback_is_refused_without_the_setting_and_no_request_is_sent(
    site: Site, make_settings: Any, tmp_path: Path
) -> None:
    service = QAService(make_settings())
    url = f"{site.base}/articles/harbour.html"
    with pytest.raises(IngestError) as caught:
        service.ingest(urls=[url, f"http://localhost:{site.port}/articles/harbour.html"])
    message = str(caught.value)
    assert message.startswith("nothing to index: give a folder, a file or a web page or feed")
    assert f"{url}: refused 127.0.0.1 is a loopback address; set QA_FETCH_ALLOW_PRIVATE=1" \
        in message
    assert "refused localhost (" in message
    assert site.log == []
    assert not service.settings.index_dir.exists(), "no index was created for nothing"

    result = CliRunner().invoke(main, ["index", url, "--index", str(tmp_path / "cli")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "refused 127.0.0.1 is a loopback address" in result.output and site.log == []


def test_qa_index_takes_a_folder_and_urls_and_fetched_articles_survive_rebuilds(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fetching: Any
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "bridge.txt").write_text(f"{OTHER['bridge'][0]}\n{OTHER['bridge'][1]}\n")
    monkeypatch.setenv("QA_FETCH_ALLOW_PRIVATE", "1")
    index = tmp_path / "index"
    url = f"{site.base}/articles/harbour.html"
    result = CliRunner().invoke(main, ["index", str(folder), url, "--index", str(index),
                                       "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("fetched 1 new or changed web articles, 0 unchanged; "
                                    "added 2, updated 0, removed 0")
    two = CliRunner().invoke(main, ["index", str(folder), str(tmp_path), "--index", str(index)])
    assert two.exit_code == 2 and "give one folder or file to mirror, not 2" in two.output

    service = fetching(index_dir=index)
    other = tmp_path / "other"
    other.mkdir()
    (other / "school.txt").write_text(f"{OTHER['school'][0]}\n{OTHER['school'][1]}\n")
    report = service.ingest(other)  # another folder: its articles replace the first's
    assert (report.added, report.removed, report.unchanged) == (1, 1, 1)
    assert set(ArticleIndex(service.settings).article_state()) == {"school.txt", url}
    site.log.clear()
    report = service.ingest(urls=[url])  # only a URL: the folder is mirrored as it was
    assert (report.fetch_unchanged, report.unchanged, report.removed) == (1, 2, 0)
    for file in web_dir(service.settings).rglob("*.txt"):
        file.unlink()  # a fetched article's file deleted: it leaves the index
    report = service.ingest(other)
    assert (report.removed, report.unchanged) == (1, 1)
    (other / "school.txt").unlink()
    other.rmdir()  # the folder gone, a URL alone: what came from the folder stays
    report = service.ingest(urls=[url])
    assert (report.added, report.removed, report.kept) == (1, 0, 1)
    assert f"{other.resolve()}: is gone; the articles indexed from it are kept as they were" in {
        str(p) for p in report.problems}


def test_the_index_tab_fetches_a_url_only_when_allowed_and_takes_pdf_uploads(
    site: Site, tmp_path: Path, make_settings: Any, embedder: Any
) -> None:
    from conftest import free_port
    from gradio_client import Client, handle_file
    from pages import pdf_printer

    from qa.faces.server import launch
    from qa.faces.ui import build_app

    root = tmp_path / "root"
    (root / "articles").mkdir(parents=True)
    (root / "articles" / "bridge.txt").write_text(f"{OTHER['bridge'][0]}\n{OTHER['bridge'][1]}\n")
    with pdf_printer() as print_pdf:
        pdf = print_pdf(article_html(title=OTHER["ferry"][0], dateline="",
                                     paragraphs=[OTHER["ferry"][1], PARAGRAPHS[-1]]),
                        tmp_path / "ferry.pdf")
    url = f"{site.base}/articles/harbour.html"
    for allowed in (False, True):
        settings = make_settings(index_dir=tmp_path / f"index-{allowed}", articles_root=root,
                                 ui_host="127.0.0.1", ui_port=free_port(), ui_fetch=allowed,
                                 fetch_allow_private=True)
        service = QAService(settings, embedder=embedder)
        service.ingest(root / "articles")
        app = build_app(service, settings)
        client = Client(launch(app, settings), verbose=False)
        try:
            status, stats, *_ = client.predict(url, api_name="/add_url")
            if not allowed:
                assert "is off" in status and "QA_UI_FETCH=1" in status and site.log == []
                continue
            assert status.startswith(f"Fetched `{url}`: fetched 1 new or changed web articles")
            assert "added 1," in status and "| **2** |" in stats
            status, *_ = client.predict("articles/", api_name="/add_url")
            assert "enter a web page or feed URL" in status
            status, stats, *_ = client.predict([handle_file(str(pdf))], api_name="/add_files")
            assert "Added 1 file:" in status and "added 1," in status and "| **3** |" in stats
        finally:
            app.close()
            service.close()
    assert site.paths() == ["/articles/harbour.html"]
