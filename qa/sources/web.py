"""Web pages and RSS/Atom feeds -> article files in a folder the index owns, and back.

``fetch_urls`` fetches each URL (``qa.sources.fetch`` guards and limits the requests): a page
becomes one article, a feed brings in each item's linked page with the item's title, date and link.
Each article is written, atomically, as a plain-text file (headline, ``Source:``, ``Date:``,
``URL:`` lines, then the text) under ``<index folder>-web/<host>/``, where a person can read it
and every build of that index reads it again: fetched articles survive rebuilds from any folder.
A hidden manifest keeps each URL's validators (ETag, Last-Modified) and text hash, so a second
run asks the server only for what may have changed and rewrites only what did.

``read_fetched`` reads the folder back: each article's id is its URL.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from qa.config import Settings
from qa.models import Article, IngestProblem
from qa.sources import ids
from qa.sources.fetch import Fetched, Fetcher, FetchProblem
from qa.sources.formats import decode_text, parse_html, read_articles

MANIFEST = ".sources.json"  # hidden, so reading the folder skips it
_HTML = {"text/html", "application/xhtml+xml"}
_FEEDS = {"application/rss+xml", "application/atom+xml", "application/rdf+xml"}
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:rdf)[\s>]", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.I)
_URL = re.compile(r"https?://\S+", re.I)


def web_dir(settings: Settings) -> Path:
    """The index's folder of fetched articles, beside it: ``indexes/default-web``."""
    return settings.index_dir.parent / f"{settings.index_dir.name}-web"


def is_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL rather than a path."""
    return bool(_URL.fullmatch(text.strip()))


@dataclass(frozen=True)
class FetchReport:
    """What one ``fetch_urls`` run did: article files written (new or changed), unchanged
    ones, and one problem line per URL that was not fetched (or, ``skipped`` false, that was
    fetched with a remark, such as a redirect)."""

    written: int = 0
    unchanged: int = 0
    problems: tuple[IngestProblem, ...] = ()


def fetch_urls(urls: Sequence[str], settings: Settings, *,
               fetcher: Fetcher | None = None) -> FetchReport:
    """Fetch pages and feeds into ``web_dir(settings)``; nothing that was there is lost.

    A progress bar counts requests (feeds add their items), shown as ``QA_PROGRESS`` says.
    Problems are reported, never raised: a dead link, a timeout, a refused address, a
    non-HTML response or an oversized page is one line under its URL.
    """
    folder = web_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    own = fetcher is None
    fetcher = fetcher or Fetcher(timeout=settings.fetch_timeout,
                                 max_mb=settings.fetch_max_mb,
                                 allow_private=settings.fetch_allow_private,
                                 user_agent="article-qa (news question answering)")
    bar = _progress(len(urls), settings.progress)
    run = _Run(folder, fetcher, _load_manifest(folder), bar)
    try:
        for url in dict.fromkeys(u.strip() for u in urls):
            run.source(url)
    finally:
        _write_atomic(folder / MANIFEST, json.dumps(run.manifest, indent=1, sort_keys=True))
        bar.close()
        if own:
            fetcher.close()
    return FetchReport(run.written, run.unchanged, tuple(run.problems))


def read_fetched(
    folder: Path, *, max_article_mb: float
) -> tuple[list[Article], list[IngestProblem]]:
    """The fetched articles in ``folder`` (none when it does not exist), ids their URLs (else
    as ``qa.sources.ids`` makes them) and paths ``<folder name>/<file>``."""
    if not folder.is_dir():
        return [], []
    articles, problems = ids.settle(*read_articles(folder, max_article_mb=max_article_mb),
                                    prefix=folder.name + "/")
    return [dataclasses.replace(a, id=a.url) if a.url else a for a in articles], problems


class _Run:
    """One ``fetch_urls`` call: the manifest being updated and what happened so far."""

    def __init__(self, folder: Path, fetcher: Fetcher, manifest: dict[str, Any], bar: Any
                 ) -> None:
        self.folder, self.fetcher, self.manifest, self.bar = folder, fetcher, manifest, bar
        self.pages: dict[str, Any] = manifest.setdefault("pages", {})
        self.feeds: dict[str, Any] = manifest.setdefault("feeds", {})
        self.written = self.unchanged = 0
        self.problems: list[IngestProblem] = []

    def problem(self, url: str, message: str, *, skipped: bool = True) -> None:
        self.problems.append(IngestProblem(url, message, skipped))

    def get(self, url: str, known: dict[str, Any] | None) -> Fetched | None:
        """One request, conditional when the file it made is still there; None on a problem."""
        valid = known and (known.get("feed") or (self.folder / known.get("file", "")).is_file())
        try:
            got = self.fetcher.get(url, etag=known.get("etag", "") if valid else "",
                                   last_modified=known.get("last_modified", "") if valid else "")
        except FetchProblem as exc:
            self.problem(url, str(exc))
            got = None
        self.bar.update(1)
        if got is not None and got.redirects:
            self.problem(url, f"redirected to {got.final_url}", skipped=False)
        return got

    def source(self, url: str) -> None:
        """A URL given by the user: a page or a feed, told apart by what the server sends."""
        feed = self.feeds.get(url)
        got = self.get(url, feed or self.pages.get(url))
        if got is None:
            return
        if got.status == 304:
            self.unchanged += len(feed["items"]) if feed else 1
        elif _is_feed(got):
            self.feed(got)
        elif _is_html(got):
            self.page(url, got)
        else:
            kind = got.content_type or "of no declared type"
            self.problem(url, f"is {kind}, not a web page (HTML) or a feed (RSS/Atom)")

    def feed(self, got: Fetched) -> None:
        import feedparser

        parsed = feedparser.parse(got.data, response_headers={
            "content-location": got.final_url, "content-type": got.content_type or "text/xml"})
        if not parsed.entries:
            why = parsed.get("bozo_exception")
            self.problem(got.url, f"not a readable feed: {why}" if why else "a feed with no items")
            return
        title = " ".join(str(parsed.feed.get("title", "")).split())
        self.feeds[got.url] = {"etag": got.etag, "last_modified": got.last_modified,
                               "title": title, "feed": True, "items": []}
        self.bar.total += len(parsed.entries)
        self.bar.refresh()
        for n, entry in enumerate(parsed.entries, 1):
            link = urljoin(got.final_url, str(entry.get("link", "")).strip())
            if not entry.get("link"):
                self.problem(f"{got.url}#{n}", "feed item without a link; left out")
                continue
            self.feeds[got.url]["items"].append(link)
            # dict.get: feedparser's own get maps a missing "updated" to "published", warning
            stamp = str(dict.get(entry, "updated") or dict.get(entry, "published") or "")
            known = self.pages.get(link)
            if known and stamp and known.get("stamp") == stamp \
                    and (self.folder / known["file"]).is_file():
                self.unchanged += 1  # the feed says the item is as it was: not asked for again
                self.bar.update(1)
                continue
            page = self.get(link, known)
            if page is None:
                continue
            if page.status == 304:
                self.unchanged += 1
                if known:
                    known["stamp"] = stamp
            elif _is_html(page):
                self.page(link, page, item=entry, feed_title=title, stamp=stamp)
            else:
                kind = page.content_type or "of no declared type"
                self.problem(link, f"is {kind}, not a web page (HTML); feed item left out")

    def page(self, url: str, got: Fetched, *, item: Any = None, feed_title: str = "",
             stamp: str = "") -> None:
        try:
            article = parse_html(_decode(got), url)
        except ValueError as exc:
            self.problem(url, str(exc))
            return
        if article is None or not article.body.strip():
            self.problem(url, "no article text found on the page")
            return
        item = item or {}
        host = urlsplit(got.final_url).hostname or ""
        fields = {"Source": article.source or feed_title or host,
                  "Date": _item_date(item) or article.published_at, "URL": url,
                  "Author": article.author}
        title = " ".join(str(item.get("title") or article.title).split()) or url
        text = "\n".join([title, *(f"{k}: {' '.join(v.split())}" for k, v in fields.items() if v),
                          "", article.body.strip(), ""])
        digest = hashlib.sha256(text.encode()).hexdigest()
        known = self.pages.get(url, {})
        file = known.get("file") or _file_name(url)
        if known.get("sha256") == digest and (self.folder / file).is_file():
            self.unchanged += 1
        else:
            _write_atomic(self.folder / file, text)
            self.written += 1
        self.pages[url] = {"file": file, "sha256": digest, "etag": got.etag,
                           "last_modified": got.last_modified, "final_url": got.final_url,
                           "stamp": stamp,
                           "fetched_at": datetime.now(UTC).isoformat(timespec="seconds")}


# --- helpers ---------------------------------------------------------------------------------


def _is_feed(got: Fetched) -> bool:
    head = got.data[:2048]
    if got.content_type in _FEEDS:
        return True
    return bool(_FEED_ROOT.search(head)) and b"<html" not in head.lower() and (
        "xml" in got.content_type or got.content_type in ("", "text/plain", "text/html"))


def _is_html(got: Fetched) -> bool:
    head = got.data[:1024].lstrip().lower()
    return got.content_type in _HTML or (
        got.content_type in ("", "text/plain") and head.startswith((b"<!doctype html", b"<html")))


def _decode(got: Fetched) -> str:
    """The page's text: the charset the server or a <meta> names, else as files are decoded."""
    meta = _META_CHARSET.search(got.data[:4096])
    for name in (got.charset, meta[1].decode("ascii", "replace") if meta else None):
        if name:
            try:
                return got.data.decode(name, errors="replace")
            except LookupError:
                continue
    return decode_text(got.data)


def _item_date(item: Any) -> str:
    """A feed item's date (published, else updated) as ISO 8601 in UTC, or ""."""
    parsed = dict.get(item, "published_parsed") or dict.get(item, "updated_parsed")
    if not parsed:
        return ""
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat(timespec="seconds")


def _file_name(url: str) -> str:
    """``host[_port]/slug-hash.txt``: readable, and unique per URL."""
    parts = urlsplit(url)
    host = (parts.hostname or "unknown") + (f"_{parts.port}" if parts.port else "")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{parts.path} {parts.query}").strip("-")[:80]
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"{host}/{slug or 'index'}-{digest}.txt"


def _progress(total: int, enabled: bool | None) -> Any:
    import sys

    from tqdm import tqdm

    disable = not sys.stderr.isatty() if enabled is None else not enabled
    return tqdm(total=total, unit="page", desc="fetching", disable=disable, dynamic_ncols=True)


def _load_manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: every URL is fetched afresh, nothing is lost
    return data if isinstance(data, dict) else {}


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old or the new text, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
