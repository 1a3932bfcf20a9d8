"""JSON and JSONL records -> ``Article``, in the field names and value shapes news exports use.

A field is found by any of its usual names, case and punctuation aside ("publishedAt",
"published_at", "webPublicationDate"), at the record's top level or inside one wrapping object
(the Guardian's "fields", Elasticsearch's "_source"). Text may be a string, a list of paragraphs
or names, or an object holding it ({"name": ...}, {"main": ...}); a date may be text, epoch
seconds or milliseconds, or MongoDB's {"$date": ...}. A body may be any JSON value holding text
({"lead": ..., "paragraphs": [...]}, {"blocks": [{"text": ...}]}): its strings are read in
document order, passing over ids, links, dates, numbers and labels (``_strings``); a record
with no body field is read so from its keys that are no field's. A body holding no text skips
the record; a title, outlet, author, date or url of another shape is left out; either way the
record's problem line says what the value was and what was expected.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from qa.models import Article, IngestProblem
from qa.sources.ids import record_id

_MB = 1024 * 1024
_Loaded = tuple[list[Article], list[IngestProblem]]

# Names per field, normalised (lower case, letters and digits only), most specific first.
_NAMES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "webtitle"),
    "body": ("body", "text", "content", "articlebody", "bodytext", "article", "fulltext",
             "maintext", "story", "description", "summary", "abstract", "leadparagraph"),
    "source": ("source", "sourcename", "publisher", "sitename", "outlet", "publication",
               "newspaper", "provider"),
    "author": ("author", "authors", "byline", "creator", "by", "writer", "writers"),
    "published_at": ("publishedat", "published", "publishdate", "publicationdate",
                     "datepublished", "pubdate", "date", "webpublicationdate", "datetime",
                     "createdat", "created", "timestamp"),
    "url": ("url", "link", "weburl", "canonicalurl", "permalink", "href", "uri", "sourceurl"),
}
_CONTAINERS = frozenset({"fields", "source", "attributes", "metadata", "meta", "article",
                         "data", "document", "doc"})  # objects whose fields are the record's
_TEXT_KEYS = ("text", "content", "value", "main", "name", "title", "body", "original", "full",
              "displayname", "plaintext")  # where an object keeps its text ({"name": "AP"})
# Keys whose values are plainly not article text, by the whole key or its last word
# ("articleId", "image_url", "created_at", "@type"): ids, links, dates, and the labels a block
# of a rich-text export carries for its kind, style or language.
_NOT_TEXT = frozenset({
    "id", "ids", "oid", "uuid", "guid", "key", "slug", "hash", "checksum", "etag", "url", "urls",
    "uri", "href", "src", "srcset", "link", "links", "permalink", "email", "date", "dates", "time",
    "timestamp", "datetime", "at", "created", "updated", "modified", "published", "type", "kind",
    "format", "style", "class", "classname", "lang", "language", "locale", "mime", "mimetype",
    "encoding", "status", "version", "align", "alignment", "mutability", "level", "depth",
    "marks", "markdefs", "width", "height", "color", "icon"})
# Keys not read for the text of a record with no body field: the fields' own, and labels,
# attachments and metadata, which would make a headline-only record's tags or captions a story.
_NOT_STORY = frozenset({
    "tags", "tag", "keywords", "keyword", "categories", "category", "section", "sectionname",
    "topics", "topic", "subjects", "subject", "labels", "label", "genre", "image", "images",
    "media", "thumbnail", "photo", "photos", "video", "videos", "comments", "related", "meta",
    "metadata", "attributes"}) | {name for names in _NAMES.values() for name in names}
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")  # "articleId" -> article, Id
# Strings that are plainly not text: links, e-mail addresses, uuids, ISO dates, and single
# tokens that are codes ("paragraph", "image/jpeg", "BOLD") or too long for a word (hashes).
_NOT_PROSE = re.compile(
    r"(?i:[a-z][a-z0-9+.-]*://|www\.|mailto:|data:)\S*|[^\s@]+@[^\s@]+\.\w+"
    r"|(?i:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})"
    r"|\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|[a-z0-9_\-.:/#@+]+|[A-Z0-9_]+|\S{41,}")
_DATE_KEYS = ("date", "value", "datetime", "iso", "timestamp", "numberlong", "seconds")
_LISTS = ("articles", "items", "results", "data", "records", "entries", "documents", "docs",
          "hits", "posts", "stories", "news", "response")  # where a file keeps its records
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%Y/%m/%d",
                 "%B %d, %Y %I:%M %p", "%b %d, %Y %I:%M %p", "%B %d, %Y %H:%M", "%b %d, %Y %H:%M")


class _Shape(ValueError):
    """A value of a shape the field cannot take; the message says which and what was expected."""


def parse_records(text: str, rel: str, *, jsonl: bool, limit_mb: float) -> _Loaded:
    """Articles from a .json file (a list of records, one record, or an object holding the list
    under "articles", "items", "results", ...) or a .jsonl file (one record a line).

    A bad record is an ``IngestProblem`` at ``rel#n`` (n counts from 1; lines for .jsonl) with
    ``file`` ``rel``; a record indexed without one of its fields is a problem with
    ``skipped=False``. Ids are ``qa.sources.ids.record_id(rel, url or title)``, ``~2``,
    ``~3``... added to a repeat (and to a record whose own key is a repeat's).
    """
    records: list[tuple[int, Any]] = []
    if jsonl:
        for n, line in enumerate(text.split("\n"), start=1):
            try:
                records += [(n, json.loads(line))] if line.strip() else []
            except json.JSONDecodeError as exc:
                records.append((n, exc))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            return [], [IngestProblem(rel, f"not valid JSON ({where}): {exc.msg}")]
        found = _record_list(data)
        if found is None:
            return [], [IngestProblem(rel, 'expected a list of articles, or an object holding '
                                           'one under "articles" (or "items", "results"...)')]
        records = list(enumerate(found, start=1))
    problems: list[IngestProblem] = []
    articles: list[Article] = []
    seen: dict[str, int] = {}
    taken: set[str] = set()
    for n, rec in records:
        where = f"{rel}#{n}"  # shown only: the file travels in ``file``, never split back out
        if isinstance(rec, json.JSONDecodeError):
            problems.append(IngestProblem(where, f"not valid JSON: {rec.msg}", file=rel))
            continue
        if not isinstance(rec, dict):
            problems.append(IngestProblem(where, "record is not a JSON object", file=rel))
            continue
        fields, notes, body_error = _fields(rec)
        body = fields["body"]
        size = len(body.encode())
        reason = (body_error if body_error
                  else "record has no title and no body" if not fields["title"] and not body
                  else "empty article (no body text)" if not body
                  else too_big(size, limit_mb) if size > limit_mb * _MB else "")
        if reason:
            problems.append(IngestProblem(where, reason, file=rel))
            continue
        if notes:
            problems.append(IngestProblem(where, "; ".join(notes), skipped=False, file=rel))
        title = fields["title"] or body.split("\n", 1)[0][:100].strip()
        key = record_id(rel, fields["url"] or title)
        # A repeat is key~2, key~3...; one more step when a record's own key already is that
        # (titles "T", "T", "T~2"), as two articles with one id would make the build fail.
        seen[key] = seen.get(key, 0) + 1
        aid = key if seen[key] == 1 else f"{key}~{seen[key]}"
        while aid in taken:
            seen[key] += 1
            aid = f"{key}~{seen[key]}"
        taken.add(aid)
        articles.append(Article(
            id=aid, title=title, body=body, path=rel,
            source=fields["source"], author=fields["author"],
            published_at=fields["published_at"], url=fields["url"]))
    return articles, problems


def _record_list(data: Any, depth: int = 0) -> list[Any] | None:
    """The list of records in a parsed .json file, or None when it holds none."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    keys = {_norm(k): v for k, v in data.items()}
    if any(name in keys for name in (*_NAMES["title"], *_NAMES["body"])):
        return [data]  # one article
    for name in _LISTS:
        value = keys.get(name)
        if isinstance(value, list) or (isinstance(value, dict) and depth < 1):
            found = _record_list(value, depth + 1)
            if found is not None:
                return found
    return None


def _fields(rec: dict[str, Any]) -> tuple[dict[str, str], list[str], str]:
    """Each Article field's text from a record, a note per metadata value of the wrong shape,
    and why the body cannot be read ("" when it can). The body is the first body field's that
    holds text, else the text of the record's keys that are no field's nor a label's
    (``_NOT_STORY``); the reason is the first body field's ``_Shape`` when neither has any."""
    flat: dict[str, tuple[str, Any]] = {}
    for key, value in rec.items():  # a wrapper's fields, then the top level's over them
        if _wrapper(key, value):
            for k, v in value.items():
                flat.setdefault(_norm(k), (k, v))
    for key, value in rec.items():
        if not _wrapper(key, value):
            flat[_norm(key)] = (key, value)
    out: dict[str, str] = {}
    notes: list[str] = []
    body_error = ""
    for field, names in _NAMES.items():
        out[field] = ""
        for key, value in (flat[n] for n in names if n in flat and flat[n][1] is not None):
            try:
                out[field] = (_date(value, key) if field == "published_at"
                              else _body(value, key) if field == "body"
                              else _text(value, key, ", "))
            except _Shape as exc:
                if field != "body":
                    notes.append(f"{exc}; left out")
                    break
                body_error = body_error or str(exc)
                continue  # another body field may hold the text ("summary" beside "body")
            if out[field]:
                break
    if not out["body"]:  # the text under a name no list knows ("paragraphs", "selftext")
        rest = [{k: v} for key, value in rec.items()
                for k, v in (value.items() if _wrapper(key, value) else [(key, value)])
                if _norm(k) not in _NOT_STORY]
        out["body"] = "\n\n".join(_strings(rest, seen={_plain(out["title"])}))
    return out, notes, "" if out["body"] else body_error


def _wrapper(key: str, value: Any) -> bool:
    """Whether an object holds the article's own fields (``{"_source": {"title": ...}}``),
    rather than being one field's value (``{"source": {"name": "AP"}}``)."""
    return (_norm(key) in _CONTAINERS and isinstance(value, dict)
            and any(_norm(k) in (*_NAMES["title"], *_NAMES["body"]) for k in value))


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(key).lower())


def _kind(value: Any) -> str:
    """How a JSON value reads in a message: "text", "a number", "a list", ..."""
    return ("text" if isinstance(value, str) else "true or false" if isinstance(value, bool)
            else "a number" if isinstance(value, int | float) else "a list"
            if isinstance(value, list) else "an object" if isinstance(value, dict) else "null")


def _value(value: Any) -> str:
    """A scalar or list for a message: ``true``, ``a number (42)``, ``a list``."""
    if isinstance(value, bool):
        return json.dumps(value)
    return f"{_kind(value)} ({json.dumps(value)[:40]})" if isinstance(value, int | float) \
        else _kind(value)


def _body(value: Any, key: str) -> str:
    """A body field's text: a string as it is; else the text strings inside the value (see
    ``_strings``) in document order, one paragraph each, joined by a blank line. When it holds
    none, what ``_text`` reads of it ("" or a code-like string) or its ``_Shape`` saying what
    the value was ("body is a list of numbers, expected text")."""
    if isinstance(value, str):
        return value.strip()
    parts = _strings(value, seen=set())
    return "\n\n".join(parts) if parts else _text(value, key, "\n\n")


def _strings(value: Any, *, seen: set[str]) -> list[str]:
    """The strings inside a JSON value that are text, in document order, each stripped.

    Passed over: values under keys plainly not text (``_NOT_TEXT``: ids, urls, dates, a
    block's type or style), strings plainly not text (``_NOT_PROSE``) or with no letter,
    numbers, true/false, null, and a string whose text (tags aside) is in ``seen`` (the
    title; the plain copy of an HTML paragraph), which gains each string taken. HTML inside a
    string is kept as it is, as a string body's is. Raises nothing.
    """
    found: list[str] = []
    stack = [value]  # a stack, not recursion: JSON may nest deeper than Python recurses
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += reversed([v for k, v in item.items() if not _not_text_key(k)])
        elif isinstance(item, list):
            stack += reversed(item)
        elif isinstance(item, str):
            plain = _plain(item)
            if plain not in seen and re.search(r"[^\W\d_]", plain) \
                    and not _NOT_PROSE.fullmatch(plain):
                seen.add(plain)
                found.append(item.strip())
    return found


def _not_text_key(key: str) -> bool:
    """Whether a key plainly names no text: ``_NOT_TEXT`` as a whole or as its last word."""
    words = _WORDS.findall(str(key))
    return _norm(key) in _NOT_TEXT or bool(words) and words[-1].lower() in _NOT_TEXT


def _plain(text: str) -> str:
    """A string's words without HTML tags, single-spaced, to compare copies of one text."""
    return " ".join(re.sub(r"<[^>]*>", " ", text).split())


def _text(value: Any, key: str, sep: str) -> str:
    """A field's text; lists are joined with ``sep``. Raises ``_Shape`` for other values."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        inner = {_norm(k): v for k, v in value.items()}
        for name in _TEXT_KEYS:
            if isinstance(inner.get(name), str | list | dict):
                return _text(inner[name], key, sep)
        keys = ", ".join(list(map(str, value))[:4])
        raise _Shape(f"{key} is an object with no text in it (keys: {keys}), expected text")
    if isinstance(value, list):
        kinds = {_kind(v) for v in value if v is not None}
        if kinds - {"text", "an object"}:
            plural = {"a number": "numbers", "true or false": "true/false values",
                      "a list": "lists", "text": "text", "an object": "objects"}
            what = " and ".join(sorted(plural[k] for k in kinds))
            raise _Shape(f"{key} is a list of {what}, expected text")
        parts = []
        for item in value:
            try:
                parts.append(_text(item, key, sep) if item is not None else "")
            except _Shape:
                continue  # an image or embed among the paragraphs
        if value and not any(parts) and "an object" in kinds:
            raise _Shape(f"{key} is a list of objects with no text in them, expected text")
        return sep.join(p for p in parts if p)
    raise _Shape(f"{key} is {_value(value)}, expected text")


def _date(value: Any, key: str) -> str:
    """A date field as ISO 8601 (see ``parse_date``); numbers are Unix epoch seconds, or
    milliseconds/microseconds when too large for seconds. Raises ``_Shape`` otherwise."""
    if isinstance(value, str):
        digits = value.strip()
        return _epoch(float(digits), key) if re.fullmatch(r"\d{9,19}", digits) else \
            parse_date(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(value, key)
    if isinstance(value, dict):
        inner = {_norm(k): v for k, v in value.items()}
        for name in _DATE_KEYS:
            if inner.get(name) is not None:
                return _date(inner[name], key)
        keys = ", ".join(list(map(str, value))[:4])
        raise _Shape(f"{key} is an object with no date in it (keys: {keys}), expected a date")
    raise _Shape(f"{key} is {_value(value)}, expected a date")


def _epoch(number: float, key: str) -> str:
    seconds = float(number)
    for _unit in ("ms", "us", "ns"):  # 1e11 s is the year 5138; as ms it is 1973
        if abs(seconds) < 1e11:
            break
        seconds /= 1000
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Shape(f"{key} is {number}, not a date as epoch seconds or ms") from None
    if not 1900 <= moment.year <= 2200:
        raise _Shape(f"{key} is {number}, not a date as epoch seconds or ms")
    return moment.isoformat(timespec="seconds")


def too_big(size: float, limit_mb: float) -> str:
    """The problem line of an article over ``QA_MAX_ARTICLE_MB``."""
    return f"{size / _MB:.3g} MB is over the QA_MAX_ARTICLE_MB limit of {limit_mb:g} MB"


def parse_date(raw: str) -> str:
    """ISO 8601 (a bare date when no time was given) so dates sort and filter; else ``raw``."""
    raw = raw.strip()
    if not raw:
        return ""
    try:
        dt = datetime.fromisoformat(raw)
        timed = re.search(r"\d[T ]\d", raw)
        return dt.isoformat(timespec="seconds") if timed else dt.date().isoformat()
    except ValueError:
        pass
    clean = re.sub(r"\bSept\b", "Sep", re.sub(r"(?<=[A-Za-z])\.", "", raw))
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(clean, fmt)
        except ValueError:
            continue
        return dt.isoformat() if "%M" in fmt else dt.date().isoformat()
    try:
        return parsedate_to_datetime(raw).isoformat(timespec="seconds")  # RFC 2822, as in feeds
    except (TypeError, ValueError, IndexError):
        return raw
