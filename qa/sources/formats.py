"""Files and records -> ``Article``: which files are read, how they are decoded and parsed.

Every failure is an ``IngestProblem`` of one line naming the file (or ``file#record``), never a
crash; ``qa.sources.articles.load_articles`` adds near-duplicate folding on top.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable
from pathlib import Path

from qa.errors import IngestError
from qa.models import Article, IngestProblem
from qa.sources.records import parse_date, parse_records, too_big

SUFFIXES = frozenset({".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".pdf"})

_MB = 1024 * 1024
_Loaded = tuple[list[Article], list[IngestProblem]]
_FIELDS = {"source": "source", "date": "published_at", "published": "published_at",
           "url": "url", "link": "url", "author": "author", "by": "author"}
_HEADER = re.compile(r"\s*[*_]*(source|date|published|url|link|author|by)[*_]*\s*:[*_]*\s*(.*?)\s*",
                     re.I)
_TRAILER = re.compile(r"\s*(?:source\s*:\s*)?(?:read\s+(?:the\s+)?full\s+(?:article|story)"
                      r"|read\s+more|continue\s+reading)\W*", re.I)
# Longest headline made from a file's text (the first sentence of a one-line file): room for
# a long news headline, while a run-on first sentence of a scraped page is cut.
HEADLINE_CHARS = 150
# A first line longer than this is no headline but the text itself (a page saved as one line,
# then a footer): headlines with a subtitle stay under it, and one over it is not lost as text.
_HEADLINE_LINE_MAX = 200
# Where a headline's first sentence ends: . ! ? or … (closing quotes after it) before a space
# and no lower-case letter, unless it is a title's, month's or initial's full stop ("Mr. Lee",
# "Jan. 5", "U.S. Army"). A small copy of qa.text.sentences' rule: sources may not import text.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*(?=\s+(\S))")
_ABBREVIATIONS = frozenset({
    "Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Gen", "Gov", "Sen", "Rep", "Lt", "Col", "Sgt", "Capt",
    "Jr", "Sr", "Inc", "Ltd", "Co", "Corp", "No", "Nos", "Fig", "Vol", "vs", "etc", "approx",
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"})

# --- loading ---------------------------------------------------------------------------------


def read_articles(path: Path, *, max_article_mb: float, max_pdf_mb: float = 50.0) -> _Loaded:
    """Read a folder (recursively) or one file; a bad file or record is a problem, not a crash.

    Articles come in file order (sorted relative paths). For .json/.jsonl the size limit applies
    to each record, since one file holds many articles; for .pdf to the text read from it (the
    file itself may be up to ``max_pdf_mb``, as images make PDFs large). Raises ``IngestError``
    when ``path`` does not exist or is a single file of an unsupported type.
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(_walk(path), key=lambda f: f[1])
    elif path.suffix.lower() in SUFFIXES:
        files = [(path, path.name)]
    else:
        raise IngestError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
                          f"use one of {', '.join(sorted(SUFFIXES))}")
    articles: list[Article] = []
    problems: list[IngestProblem] = []
    for file, rel in files:
        got, bad = _load_file(file, rel, limit_mb=max_article_mb, pdf_mb=max_pdf_mb)
        articles += got
        problems += bad
    return articles, problems


def _walk(root: Path) -> Iterable[tuple[Path, str]]:
    """Supported files under root with their posix paths relative to it; hidden ones skipped."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            file = Path(folder) / name
            if not name.startswith(".") and file.suffix.lower() in SUFFIXES:
                yield file, file.relative_to(root).as_posix()


def _load_file(file: Path, rel: str, *, limit_mb: float, pdf_mb: float = 50.0) -> _Loaded:
    """Decode one file and parse it by suffix; every failure is one short problem line."""
    suffix = file.suffix.lower()
    try:
        size = file.stat().st_size
        if suffix == ".pdf" and size > pdf_mb * _MB:
            return [], [IngestProblem(rel, f"{size / _MB:.3g} MB is over the QA_MAX_PDF_MB limit "
                                           f"of {pdf_mb:g} MB")]
        if size > limit_mb * _MB and suffix not in (".json", ".jsonl", ".pdf"):
            return [], [IngestProblem(rel, too_big(size, limit_mb))]
        data = file.read_bytes()
    except OSError as exc:
        return [], [IngestProblem(rel, f"cannot read file: {exc.strerror or exc}")]
    if suffix == ".pdf":
        return _load_pdf(data, rel, limit_mb=limit_mb)
    try:
        text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    except ValueError as exc:
        return [], [IngestProblem(rel, str(exc))]
    if not text.strip():
        return [], [IngestProblem(rel, "empty file")]
    if suffix in (".json", ".jsonl"):
        return parse_records(text, rel, jsonl=suffix == ".jsonl", limit_mb=limit_mb)
    try:
        article = parse_html(text, rel) if suffix in (".html", ".htm") else _parse_text(text, rel)
    except ValueError as exc:
        return [], [IngestProblem(rel, str(exc))]
    if article is None or not article.body:
        return [], [IngestProblem(rel, "empty article (no body text)")]
    return [article], []


def _load_pdf(data: bytes, rel: str, *, limit_mb: float) -> _Loaded:
    from qa.sources.pdf import read_pdf  # pdfminer loads only when a folder has PDFs

    try:
        article = read_pdf(data, rel)
    except ValueError as exc:
        return [], [IngestProblem(rel, str(exc))]
    size = len(article.body.encode())
    if size > limit_mb * _MB:
        return [], [IngestProblem(rel, f"its text: {too_big(size, limit_mb)}")]
    if not article.body:
        return [], [IngestProblem(rel, "empty article (no body text)")]
    return [article], []


# --- decoding --------------------------------------------------------------------------------

# A byte order mark settles the encoding; UTF-32 LE first, since its mark starts with UTF-16 LE's.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE"), (codecs.BOM_UTF32_BE, "utf-32-be",
         "UTF-32 BE"), (codecs.BOM_UTF8, "utf-8", "UTF-8"), (codecs.BOM_UTF16_LE, "utf-16-le",
         "UTF-16 LE"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"))
# Files that are often renamed or saved into an articles folder by mistake, named in the message.
_MAGIC = ((b"%PDF-", "a PDF document"), (b"\x89PNG\r\n\x1a\n", "a PNG image"),
          (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"PK\x03\x04", "a ZIP archive (or .docx/.xlsx/.epub)"), (b"\x1f\x8b", "gzip data"),
          (b"\xd0\xcf\x11\xe0", "an old Office document (.doc/.xls)"), (b"{\\rtf", "RTF"))


def decode_text(data: bytes) -> str:
    """The text of a file's bytes, whatever its encoding; raises ``ValueError`` saying why not.

    A BOM (UTF-8/16/32) is obeyed; otherwise strict UTF-8, then charset-normalizer's guess
    among legacy encodings (cp1252 wins ties, as in Western news exports), then UTF-8 with
    stray single bytes read as cp1252 (a file pasted together from two sources). Known binary
    formats and text in no encoding are refused with that reason.
    """
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                if codec == "utf-8":
                    return _utf8_with_strays(data[len(bom) :])
                raise ValueError(f"not valid {name} after its byte order mark "
                                 f"(at byte {exc.start + len(bom)}): {exc.reason}") from None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise ValueError(f"is {what}, not text")
    if b"\x00" not in data:  # NUL is valid UTF-8, but only binary files and UTF-16/32 hold it
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    import charset_normalizer  # only for files that are not plain UTF-8

    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    cp1252 = next((m for m in matches if m.encoding == "cp1252"), None)
    if best is not None and cp1252 is not None and cp1252.chaos <= best.chaos:
        best = cp1252  # its ties with cp1250 and cp1257 turn Spanish "España" into "Espańa"
    if best is not None and (b"\x00" not in data or best.encoding.startswith(("utf_16", "utf_32"))):
        return str(best)
    if b"\x00" not in data and _has_utf8(data):
        return _utf8_with_strays(data)
    if b"\x00" in data or charset_normalizer.is_binary(data):
        raise ValueError("looks like a binary file, not text")
    raise ValueError("is in no text encoding that could be recognised; re-save it as UTF-8")


def _has_utf8(data: bytes) -> bool:
    """Whether the bytes hold at least one valid multi-byte UTF-8 character."""
    return any(ord(c) > 127 and not 0xDC80 <= ord(c) <= 0xDCFF
               for c in data.decode("utf-8", errors="surrogateescape"))


def _utf8_with_strays(data: bytes) -> str:
    """UTF-8, with each byte that is not part of a valid UTF-8 character read as cp1252."""
    text = data.decode("utf-8", errors="surrogateescape")
    return re.sub("[\udc80-\udcff]+", lambda m: bytes(ord(c) - 0xDC00 for c in m[0]).decode(
        "cp1252", errors="replace"), text)


def _parse_text(text: str, rel: str) -> Article:
    """Headline, then optional ``Key: value`` header lines, then the body minus scrape trailers.

    When that leaves no body (the file is one line of text, maybe among blank, header or
    trailer lines), or the first line is too long for a headline (``_HEADLINE_LINE_MAX``), that
    line is the body's start (or all of it) and the headline its first sentence, cut to
    ``HEADLINE_CHARS`` (see ``headline``): a page saved without line breaks is an article and
    none of its text is only in the headline. A markdown ``#`` heading of one short sentence
    alone is a headline only: body ``""`` (the caller's "empty article" problem). ``text`` must
    hold a non-blank line (else ``StopIteration``).
    """
    lines = text.split("\n")
    i = next(n for n, line in enumerate(lines) if line.strip())
    title = lines[i].strip()
    heading = rel.lower().endswith(".md") and title.startswith("#")
    title = title.lstrip("#").strip() if rel.lower().endswith(".md") else title
    fields: dict[str, str] = {}
    i += 1
    while i < len(lines):
        match = _HEADER.fullmatch(lines[i])
        if lines[i].strip() and (not match or _TRAILER.fullmatch(lines[i])):
            break
        if match:
            fields.setdefault(_FIELDS[match[1].lower()], match[2])
        i += 1
    end = len(lines)
    while end > i and (not lines[end - 1].strip() or _TRAILER.fullmatch(lines[end - 1])):
        end -= 1
    body = "\n".join(lines[i:end]).strip()
    if len(title) > _HEADLINE_LINE_MAX or not body and not (heading and headline(title) == title):
        # The first line is text, not a headline: it opens the body; the headline is made of it.
        title, body = headline(title), "\n\n".join(part for part in (title, body) if part)
    return Article(id=rel, title=title, body=body, path=rel,
                   source=fields.get("source", ""), author=fields.get("author", ""),
                   published_at=parse_date(fields.get("published_at", "")),
                   url=fields.get("url", ""))


def headline(text: str, limit: int = HEADLINE_CHARS) -> str:
    """The first sentence of ``text`` (see ``_SENTENCE_END``), or, when longer than ``limit``
    characters, its start cut at the last space within them (hard-cut when there is none)
    with dangling punctuation dropped. ``""`` for blank text; raises nothing."""
    first = text.strip()
    for end in _SENTENCE_END.finditer(first):
        if end.start() >= limit:
            break  # a sentence longer than a headline: cut below (and a long text not scanned)
        word = ([""] + first[max(0, end.start() - 30) : end.start()].split())[-1]
        word = word.lstrip("\"'\u201c\u2018([")
        if end[1].islower() or end[0] == "." and (
                word in _ABBREVIATIONS or re.fullmatch(r"[A-Za-z](?:\.[A-Za-z])*", word)):
            continue
        first = first[: end.end()]
        break
    if len(first) <= limit:
        return first
    words = re.match(r"(.*\S)\s", first[: limit + 1], re.S)  # ends at a word's end, <= limit
    cut = words[1] if words else first[:limit]
    return cut.rstrip(" ,;:-\u2013\u2014([\"'\u201c\u2018") or cut


def parse_html(text: str, rel: str) -> Article | None:
    """Main text and metadata by trafilatura, which knows boilerplate better than regexes do.

    ``None`` when trafilatura finds no main text; raises ``ValueError`` on markup it cannot
    parse. ``rel`` is the article's id and path (a fetched page's caller sets its URL)."""
    import trafilatura  # heavy; only needed when a folder has HTML

    try:
        doc = trafilatura.bare_extraction(text, with_metadata=True, favor_recall=True)
    except Exception as exc:  # lxml and trafilatura raise many kinds on broken markup
        raise ValueError(f"cannot extract text from HTML: {exc}") from None
    if doc is None:
        return None
    meta = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    return Article(id=rel, title=_str(meta.get("title")) or Path(rel).stem,
                   body=_str(meta.get("text")), path=rel, source=_str(meta.get("sitename")),
                   author=_str(meta.get("author")), published_at=parse_date(_str(meta.get("date"))),
                   url=_str(meta.get("url")))


def _str(value: object) -> str:
    """Metadata values (from trafilatura) as clean text; null and containers become ``""``."""
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()
