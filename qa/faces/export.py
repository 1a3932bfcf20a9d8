"""Answers to take away: one answer or a whole chat as Markdown or JSON, every source listed
with its title, outlet, date, URL and the quoted sentences.

A timeline (``Timeline.to_dict()``) is exported alike: its events by day, each line with the
numbers of the quotes it rests on and every outlet that reported it, then its sources.
A chat is the chat window's turns: ``{"question": str, "answer": Answer.to_dict()}`` or
``{"question": str, "error": str}``; ``qa ask --markdown`` exports one answer the same way.
What the model wrote and what the articles say are untrusted text (an article can steer the
model), so in Markdown both are escaped to read as written and form no link, image or HTML
in whatever viewer opens the file; the only links are the sources' own http(s) URLs.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.faces.render import verdict_note

# Characters CommonMark may read as markup anywhere in a line (inline forms, raw HTML, entity
# references), escaped with a backslash, which CommonMark defines for every ASCII punctuation.
_INLINE = re.compile(r"([\\`*_{}\[\]()<>#+!|~&:])")
# GFM viewers link a bare "www.host" too; an escaped dot stops them.
_WWW = re.compile(r"(?i)\bwww\.")
# What starts a block at the start of a line: a list item, a quote, a heading, a thematic
# break or setext underline, a numbered item; escaped there.
_BLOCK = re.compile(r"^(\s*)([-+=>]|\d{1,9}(?=[.)]))", re.M)
# Control characters but newline and tab: a terminal or viewer could act on them.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
FORMATS = ("markdown", "json")


def escape(text: str) -> str:
    """``text`` as Markdown that reads as written: inline markup characters backslash-escaped,
    a block-starting character at a line start escaped, each line break kept as a hard break
    (two spaces before it), so the text's lines stay its lines; control characters dropped."""
    text = _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    escaped = _INLINE.sub(r"\\\1", text)
    escaped = _WWW.sub(lambda m: m.group()[:-1] + "\\.", escaped)
    escaped = _BLOCK.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)
    return "  \n".join(line.strip() for line in escaped.split("\n"))


def _link(url: str) -> str:
    """A source's URL as an autolink when it is one whole plain http(s) URL, else as text (a
    file path, or anything else)."""
    if _URL.fullmatch(url):
        return f"<{url}>"
    return escape(url)


def _quote(text: str) -> str:
    """An article's quoted sentences as a Markdown block quote, one line."""
    return "> " + escape(" ".join(text.split()))


def answer_markdown(turn: dict[str, Any], *, level: int = 2, number: int | None = None) -> str:
    """One question and its answer (or refusal, or error) as Markdown: the question as a
    heading of ``level``, the answer's text, its check verdict, then ``Sources:`` as a
    numbered list (the answer's [n] is item n) of title, outlet, date and URL, each with its
    quote beneath."""
    question = " ".join(str(turn.get("question", "")).split())
    numbered = f"{number}. " if number is not None else ""  # in a heading, not a list
    lines = ["#" * level + " " + numbered + escape(question), ""]
    answer = turn.get("answer")
    if not answer:
        error = turn.get("error") or "No answer."
        lines.append(f"**Error:** {escape(str(error))}")
        return "\n".join(lines) + "\n"
    if answer.get("refused"):
        lines.append(f"**No answer.** {escape(answer['text'])}")
        return "\n".join(lines) + "\n"
    lines.append(escape(answer["text"]))
    for sentence in answer.get("unsupported") or ():
        lines += ["", f"*Not supported by its sources:* {escape(sentence)}"]
    if note := verdict_note(answer):
        lines += ["", f"*{escape(note)}*"]
    if gone := answer.get("files_gone"):
        lines += ["", escape(f"Left out, their files deleted since the index was built: "
                             f"{', '.join(gone)}.")]
    if label := (answer.get("period") or {}).get("label"):
        lines += ["", f"*Articles {escape(label)}.*"]
    citations = answer.get("citations") or ()
    if citations:
        lines += ["", "Sources:", ""]
    for c in citations:
        head, quote = _source_item(c["number"], c, c.get("quote") or "")
        lines.append(head)
        if c.get("header"):
            lines.append(f"   {escape(c['header'])}")
        lines.append(quote)
    return "\n".join(lines) + "\n"


def _source_item(number: int, c: dict[str, Any], quote: str) -> list[str]:
    """One numbered source: title, outlet and date (and other outlets), URL, then the quote."""
    meta = [escape(x) for x in (c.get("source"), (c.get("published_at") or "")[:10]) if x]
    if c.get("also_in"):
        meta.append("also ran in " + escape(", ".join(c["also_in"])))
    where = _link(c.get("url") or "") if c.get("url") else escape(c.get("path") or "")
    head = f"**{escape(c.get('title') or c.get('path') or 'Untitled')}**"
    return [f"{number}. " + " — ".join(filter(None, [head, ", ".join(meta), where])),
            f"   {_quote(quote)}"]


def timeline_markdown(timeline: dict[str, Any], *, exported_at: datetime | None = None) -> str:
    """A timeline (``Timeline.to_dict()``) as Markdown: a title with the topic, a line on what
    was read (period, outlets, articles, time of export), a ``## YYYY-MM-DD`` heading per
    day ("Undated" last), each event of the day a list item ``line [n][m]`` followed by
    ``— Outlet; also reported by A, B``, then ``Sources:`` as a numbered list (item n is the
    event's [n]): title, outlet, date, URL, and the quoted sentences."""
    when = (exported_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    events = timeline.get("events") or ()
    scope = [f"since {timeline['since']}" if timeline.get("since") else "",
             f"until {timeline['until']}" if timeline.get("until") else "",
             "outlets " + ", ".join(timeline["outlets"]) if timeline.get("outlets") else ""]
    read = sum(n for _d, n in timeline.get("articles_per_day") or ())
    stopped = "; stopped before the end" if timeline.get("stopped") else ""
    lines = [f"# Timeline: {escape(' '.join(str(timeline.get('topic', '')).split()))}", "",
             escape(f"{len(events)} events from {read} articles"
                    + "".join(f", {s}" for s in scope if s) + f"{stopped}; exported {when}."),
             ""]
    day = None
    for event in events:
        if event.get("date", "") != day:
            day = event.get("date", "")
            lines += [f"## {day or 'Undated'}", ""]
        marks = "".join(f"\\[{q['number']}\\]" for q in event.get("quotes") or ())
        outlets = list(event.get("outlets") or ())
        who = escape(outlets[0]) if outlets else ""
        if outlets[1:]:
            who += "; also reported by " + escape(", ".join(outlets[1:]))
        lines.append(f"- {escape(event.get('line', ''))} {marks} — {who}")
    lines.append("")
    quotes = [q for e in events for q in e.get("quotes") or ()]
    if quotes:
        lines += ["Sources:", ""]
    for q in quotes:
        lines += _source_item(q["number"], q, q.get("text") or "")
    return "\n".join(lines) + "\n"


def chat_markdown(turns: Sequence[dict[str, Any]], *, exported_at: datetime | None = None
                  ) -> str:
    """A chat's turns as one Markdown document: a title with the time of export (UTC), then
    each turn as ``answer_markdown`` numbered from 1."""
    when = (exported_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# Article Q&A: {len(turns)} question{'s' * (len(turns) != 1)}, exported {when}\n"]
    parts += [answer_markdown(t, number=n) for n, t in enumerate(turns, start=1)]
    return "\n".join(parts)


def chat_json(turns: Sequence[dict[str, Any]], *, exported_at: datetime | None = None) -> str:
    """A chat's turns as a JSON document: ``{"exported_at": ISO 8601 UTC, "turns": [{"question",
    "answer" (``Answer.to_dict()``) or "error"}]}``."""
    when = (exported_at or datetime.now(UTC)).isoformat(timespec="seconds")
    return json.dumps({"exported_at": when, "turns": list(turns)}, ensure_ascii=False, indent=1)


def timeline_json(timeline: dict[str, Any], *, exported_at: datetime | None = None) -> str:
    """A timeline as a JSON document: ``{"exported_at": ISO 8601 UTC, "timeline":
    Timeline.to_dict()}``."""
    when = (exported_at or datetime.now(UTC)).isoformat(timespec="seconds")
    return json.dumps({"exported_at": when, "timeline": timeline}, ensure_ascii=False, indent=1)


def write_timeline(timeline: dict[str, Any], kind: str, folder: Path | None = None) -> Path:
    """Write a timeline as ``kind`` to a new file of its own, as ``write_chat`` does
    (``qa-timeline-…``); raises ``ValueError`` for another kind, ``OSError`` when the folder
    cannot be written."""
    if kind not in FORMATS:
        raise ValueError(f"unknown export format {kind!r}; use one of {', '.join(FORMATS)}")
    now = datetime.now(UTC)
    text = timeline_markdown(timeline, exported_at=now) if kind == "markdown" else \
        timeline_json(timeline, exported_at=now)
    return _write(text, kind, "timeline", now, folder)


def _write(text: str, kind: str, what: str, now: datetime, folder: Path | None) -> Path:
    folder = folder or Path(tempfile.gettempdir()) / "qa-exports"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=folder, delete=False,
            prefix=f"qa-{what}-{now:%Y%m%d-%H%M%S}-",
            suffix=".md" if kind == "markdown" else ".json") as out:
        out.write(text)
    return Path(out.name)


def write_chat(turns: Sequence[dict[str, Any]], kind: str, folder: Path | None = None) -> Path:
    """Write the chat as ``kind`` (``markdown`` or ``json``) to a new file of its own in
    ``folder`` (default: ``qa-exports`` in the system's temporary folder) and return its path,
    named by the time of export and a random part (``qa-chat-20261205-215012-x1y2z3.md``), so
    two people saving at once never share a file. Raises ``ValueError`` for another kind,
    ``OSError`` when the folder cannot be written."""
    if kind not in FORMATS:
        raise ValueError(f"unknown export format {kind!r}; use one of {', '.join(FORMATS)}")
    now = datetime.now(UTC)
    text = chat_markdown(turns, exported_at=now) if kind == "markdown" else \
        chat_json(turns, exported_at=now)
    return _write(text, kind, "chat", now, folder)


__all__ = ["FORMATS", "answer_markdown", "chat_json", "chat_markdown", "escape",
           "timeline_json", "timeline_markdown", "write_chat", "write_timeline"]
