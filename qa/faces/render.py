"""HTML for the chat window, pure functions of plain data: answers with linked markers,
source cards with the cited sentences marked, the evidence shown while the model reads.

Everything shown is escaped here; ``qa.faces.ui`` only lays it out. What the model writes is
text, never markup (an article can steer the model): ``as_text`` makes it inert in the chat's
markdown, and the product's own markup (citation links, unsupported-sentence marks, notes) is
added around the escaped text. ``terminal_text`` does the same for the ``qa`` command.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import Any

from qa.answering.hop_coverage import hop_label
from qa.models import Evidence, Snippet

_MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")

# What would make markup of text in the chat's markdown (marked, GFM, in Gradio's Chatbot):
# raw HTML (& < >), links, images and link definitions ([ ] ( )), emphasis, code, strikethrough
# and tables (* _ ` ~ |), headings (#), e-mail autolinks (@), and backslash escapes, which could
# also undo the product's own markup right after the text. As numeric character references
# they read the same and form nothing: markdown never treats a reference as syntax.
_INERT = str.maketrans({**{c: f"&#{ord(c)};" for c in "[]()*_`~|#@\\"},
                        "&": "&amp;", "<": "&lt;", ">": "&gt;"})
# GFM autolinks the escaping above leaves: "www." and "scheme://" (ftp:// and the like).
_AUTOLINKS = re.compile(r"(?i)(?<=www)\.|:(?=//)")
# A list item, an ordered one or a thematic break or setext line, where a block starts.
_BLOCK_START = re.compile(r"[-+=]|\d{1,9}\.")
# Plain http(s) URLs, the one kind of link the model's text may carry (ASCII only: no
# look-alike letters or direction marks in what the reader is shown as the link's target).
_URL = re.compile(r"(?i)https?://[A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]+")
_URL_TAIL = ".,;:!?'*"  # sentence punctuation after a URL, not part of it
# C0 and C1 control characters but newline and tab: how a terminal is driven.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

CSS = """
.qa-title h1 {margin-bottom: 0}
.qa-title p {margin-top: 2px; color: var(--body-text-color-subdued)}
#qa-sources {max-height: 640px; overflow-y: auto; padding-right: 4px}
.qa-panel-head {font-weight: 600; margin: 2px 0 8px}
.qa-src {display: flex; gap: 8px; border: 1px solid var(--border-color-primary);
  border-radius: 8px; padding: 10px 12px; margin-bottom: 10px; text-align: left;
  background: var(--background-fill-secondary); scroll-margin-top: 8px; transition: box-shadow .3s}
.qa-body {flex: 1; min-width: 0}
.qa-src.qa-flash {box-shadow: 0 0 0 3px var(--color-accent)}
.qa-src-head {font-weight: 600; line-height: 1.35}
.qa-src-head a {color: inherit; margin: 0; padding: 0}
.qa-num {flex: none; color: var(--color-accent); font-weight: 700; line-height: 1.35}
.qa-meta {font-size: .85em; color: var(--body-text-color-subdued); margin: 2px 0 6px}
.qa-quote {font-size: .92em; line-height: 1.5; margin: 0 !important; padding: 0 0 0 10px !important;
  border-left: 3px solid var(--border-color-primary); white-space: pre-wrap}
.qa-quote mark, .qa-legend mark {background: #fde68a; color: #1f2937; padding: 0 2px;
  border-radius: 3px}
.qa-note {font-size: .9em; color: var(--body-text-color-subdued); margin: 6px 0}
.qa-warn {border-left: 3px solid #dc2626; padding: 6px 10px; margin-bottom: 10px;
  background: rgba(220, 38, 38, .06); font-size: .9em}
.qa-unsupported {text-decoration: underline wavy #dc2626; text-underline-offset: 3px}
.qa-hop {font-weight: 600; margin: 10px 0 4px}
.qa-hop-missing {color: #b45309; font-weight: 400}
.qa-lexical {text-decoration: underline dotted #d97706; text-underline-offset: 3px}
.qa-refusal {border-left: 3px solid #d97706; padding-left: 10px; font-style: italic}
.qa-status {color: var(--body-text-color-subdued); font-style: italic}
.qa-cite {text-decoration: none; font-weight: 600; color: var(--color-accent) !important}
details.qa-older > summary {cursor: pointer; color: var(--body-text-color-subdued); margin: 8px 0}
.qa-welcome {max-width: 720px; margin: 24px auto; padding: 24px 28px; border-radius: 12px;
  border: 1px dashed var(--border-color-primary); background: var(--background-fill-secondary)}
.qa-welcome code {font-size: .95em}
#qa-stats table {width: auto; border-collapse: collapse}
#qa-stats th, #qa-stats td {border: 1px solid var(--border-color-primary); padding: 6px 14px}
#qa-stats th {background: var(--background-fill-secondary); font-weight: 600}
"""

# Clicking [n] in an answer brings that source into view (and opens it if it is folded away).
HEAD = """<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest('a[href^="#src-"]');
  if (!link) return;
  const target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  event.preventDefault();
  event.stopPropagation();
  const folded = target.closest("details");
  if (folded) folded.open = true;
  target.scrollIntoView({behavior: "smooth", block: "nearest"});
  target.classList.add("qa-flash");
  setTimeout(() => target.classList.remove("qa-flash"), 1600);
}, true);
</script>"""


def files_gone_note(paths: Sequence[str], *, shown: Callable[[str], str] = str) -> str:
    """One plain line saying which retrieved articles were left out because their files were
    deleted since the index was built ("" for none), and how to bring the index up to date;
    ``shown`` renders the file names (an article's name is not the product's markup)."""
    if not paths:
        return ""
    names = ", ".join(map(shown, paths[:3])) + (f" and {len(paths) - 3} more"
                                                if len(paths) > 3 else "")
    return (f"Left out {len(paths)} article{'s' * (len(paths) != 1)} whose file"
            f"{'s were' if len(paths) != 1 else ' was'} deleted since the index was built "
            f"({names}); `qa index` brings the index up to date.")


def _inert(text: str) -> str:
    """``text`` as chat markdown that shows it as written and forms no markup, not even
    a link (``as_text`` links plain URLs)."""
    return _AUTOLINKS.sub(lambda m: f"&#{ord(m.group())};", text.translate(_INERT))


def _url(raw: str) -> str:
    """The URL at the start of ``raw`` without the punctuation that ends a sentence around
    it, nor a closing parenthesis it does not open ("(see http://a.example/x)")."""
    url = raw
    while url and (url[-1] in _URL_TAIL or url[-1] == ")" and url.count(")") > url.count("(")):
        url = url[:-1]
    return url if len(url) > len("https://") else ""


def as_text(text: str, *, block_start: bool = True) -> str:
    """Chat markdown (str -> str) showing ``text`` as written: no HTML, image, heading, list
    or emphasis forms, line breaks kept as ``<br>`` (so that no later line starts a block);
    plain http(s) URLs become links that show the URL they go to, opened in a new tab.
    ``block_start``: the text starts a markdown block (a list or a heading could start
    there), so leading spaces go and a leading "-", "+", "=" or "1." is escaped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if block_start:
        text = text.lstrip()
    out, pos = [], 0
    for m in _URL.finditer(text):
        url = _url(m.group())
        if not url:
            continue
        out += [_inert(text[pos:m.start()]),
                f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer '
                f'nofollow">{_inert(url)}</a>']
        pos = m.start() + len(url)
    out.append(_inert(text[pos:]))
    shown = "".join(out).replace("\n", "<br>")
    if block_start and (first := _BLOCK_START.match(shown)):
        last = first.group()[-1]
        shown = f"{shown[:first.end() - 1]}&#{ord(last)};{shown[first.end():]}"
    return shown


def _sentence_spans(text: str, sentences: Sequence[str]) -> list[tuple[int, int]]:
    """Where each sentence first occurs in ``text`` apart from the others, in text order."""
    spans: list[tuple[int, int]] = []
    for sentence in filter(None, sentences):
        at = text.find(sentence)
        while at >= 0 and any(at < b and a < at + len(sentence) for a, b in spans):
            at = text.find(sentence, at + 1)
        if at >= 0:
            spans.append((at, at + len(sentence)))
    return sorted(spans)


def _linked(text: str, cited: set[str], turn: int, *, block_start: bool) -> str:
    """``as_text`` of ``text`` with its markers of cited sources as links to their cards."""
    out, pos = [], 0
    for m in _MARKERS.finditer(text):
        out.append(as_text(text[pos:m.start()], block_start=block_start and pos == 0))
        numbers = re.split(r"\s*[,;]\s*", m.group(1))
        pos = m.end()
        if set(numbers) <= cited:
            out += [f'<a class="qa-cite" href="#src-{turn}-{n}">[{n}]</a>' for n in numbers]
            continue
        out.append(m.group())  # "[150] billion": answer text, not a citation
        if text.startswith(":", pos):  # "[150]: url" would define a link
            out.append("&#58;")
            pos += 1
    out.append(as_text(text[pos:], block_start=block_start and pos == 0))
    return "".join(out)


def render_answer(answer: dict[str, Any], turn: int) -> str:
    """Chat markdown for a finished answer: its text shown as text (``as_text``), [n] become
    links, unsupported sentences marked, a note when deleted files' articles were left out."""
    note = files_gone_note(answer.get("files_gone") or (),
                           shown=lambda name: as_text(name, block_start=False))
    note = f'\n\n<small class="qa-gone">{note}</small>' if note else ""
    if answer["refused"]:
        return (f'<div class="qa-refusal"><b>No answer.</b> {as_text(answer["text"])}'
                f"</div>{note}")
    text = answer["text"].lstrip()
    cited = {str(c["number"]) for c in answer["citations"]}
    parts, pos = [], 0
    for start, end in _sentence_spans(text, answer["unsupported"]):
        parts += [_linked(text[pos:start], cited, turn, block_start=pos == 0),
                  '<span class="qa-unsupported" title="Not supported by what it cites">'
                  f"{_linked(text[start:end], cited, turn, block_start=start == 0)}</span>⚠"]
        pos = end
    parts.append(_linked(text[pos:], cited, turn, block_start=pos == 0))
    shown = "".join(parts)
    verdict = verdict_note(answer)
    if answer.get("verdict") in ("lexical", "partial") and answer["citations"]:
        shown = f'<span class="qa-lexical" title="{html.escape(verdict)}">{shown}</span>'
    if answer["unsupported"]:
        shown += "\n\n<small>⚠ Underlined sentences are not supported by what they cite.</small>"
    if verdict:
        shown += f'\n\n<small class="qa-verdict">{as_text(verdict)}</small>'
    return shown + note


def terminal_text(text: str) -> str:
    """``text`` for a terminal: control characters other than newline and tab removed, so that
    no escape sequence in the model's (or an article's) words can move the cursor, retitle
    the window, write the clipboard or make a hidden link (OSC 8)."""
    return _CONTROLS.sub("", text)


def verdict_note(answer: dict[str, Any]) -> str:
    """One line on how far the answer was checked (``Answer.verdict``): confirmed by the
    reading check, or checked by its words only ("" for a refusal or an older answer)."""
    score = answer.get("support_score")
    agreed = f" (agreement {score:.2f})" if score is not None else ""
    if answer.get("verdict") == "partial":
        return ("◐ Partly founded: not among the articles read: "
                f"{'; '.join(answer.get('uncovered') or ())}. Read the sources before relying "
                "on it.")
    if answer.get("verdict") == "confirmed":
        return f"✓ Confirmed: read again from its sources alone, they give the same answer{agreed}."
    if answer.get("verdict") == "lexical" and answer["citations"]:
        why = ("read again from its sources alone, they did not give the same answer"
               if score is not None else "no reading check (QA_READING_CHECK)")
        return f"◐ Checked by its words only: {why}{agreed}. Read the sources before relying on it."
    return ""


def _highlighted(text: str, spans: Sequence[Sequence[int]]) -> str:
    merged: list[list[int]] = []
    for start, end in sorted((int(a), int(b)) for a, b in spans):
        if merged and not text[merged[-1][1]:start].strip():  # touching or only spaces apart
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [html.escape(text[pos:start]), f"<mark>{html.escape(text[start:end])}</mark>"]
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out).strip()


def _source_card(c: dict[str, Any], turn: int) -> str:
    """One numbered source: headline, outlet, day and file, then its passage with the cited
    sentences marked (the quote alone when no passage came along)."""
    title = html.escape(c["title"] or c["path"] or "Untitled")
    if c["url"].startswith(("http://", "https://")):
        title = f'<a href="{html.escape(c["url"])}" target="_blank" rel="noopener">{title}</a>'
    also = f"also ran in {', '.join(c['also_in'])}" if c.get("also_in") else ""
    meta = " · ".join(html.escape(x) for x in (c["source"], also, c["published_at"][:10],
                                                c["path"]) if x)
    text = c.get("passage") or c["quote"]
    return (f'<article class="qa-src" id="src-{turn}-{c["number"]}">'
            f'<span class="qa-num">[{c["number"]}]</span><div class="qa-body">'
            f'<div class="qa-src-head">{title}</div><div class="qa-meta">{meta}</div>'
            f'<blockquote class="qa-quote">{_highlighted(text, c["highlights"])}'
            "</blockquote></div></article>")


def snippet_card(snippet: Snippet) -> dict[str, Any]:
    """A snippet in the shape of a citation, for the evidence cards shown before the answer:
    its passage with the snippet (and a table's header row) marked."""
    c = snippet.passage
    spans = [(snippet.start - c.start, snippet.end - c.start)]
    if snippet.header_start >= c.start:
        spans.append((snippet.header_start - c.start,
                      snippet.header_start - c.start + len(snippet.header)))
    return {"number": snippet.number, "title": c.title, "source": c.source,
            "published_at": c.published_at, "url": c.url, "path": c.path,
            "quote": snippet.text, "passage": c.text, "highlights": spans,
            "also_in": c.also_in}


def reading_status(evidence: Evidence) -> str:
    """The status line shown while the model reads: "Reading 4 excerpts from 2 articles…"."""
    n = len(evidence.snippets)
    articles = len({s.passage.article_id for s in evidence.snippets})
    kind = "passage" if evidence.mode == "passages" else "excerpt"
    return (f"Reading {n} {kind}{'s' * (n != 1)} from {articles} "
            f"article{'s' * (articles != 1)}…")


def render_evidence(evidence: Evidence, turn: int) -> str:
    """The source panel while the model reads: the evidence cards under a status line, grouped
    under each article the question names by outlet (one not among those read says so), then
    the other excerpts; the answer's citations replace them when it is checked."""
    def cards(snippets: Sequence[Snippet]) -> str:
        return "".join(_source_card(snippet_card(s), turn) for s in snippets)

    if not evidence.hops:
        shown = cards(evidence.snippets)
    else:
        by_number = {s.number: s for s in evidence.snippets}
        parts: list[str] = []
        for hop in evidence.hops:
            missing = ("" if hop.read else
                       ' <span class="qa-hop-missing">· not among the articles read</span>')
            parts += [f'<div class="qa-hop">{html.escape(hop_label(hop.outlets, hop.clause))}'
                      f"{missing}</div>", cards([by_number[n] for n in hop.snippets])]
        grouped = {n for hop in evidence.hops for n in hop.snippets}
        rest = [s for s in evidence.snippets if s.number not in grouped]
        if rest:
            parts += ['<div class="qa-hop">Other excerpts</div>', cards(rest)]
        shown = "".join(parts)
    period = evidence.period.label if evidence.period else ""
    return (f'<div class="qa-panel-head">{html.escape(reading_status(evidence))} '
            f'<span class="qa-status">for “{html.escape(evidence.question)}”</span></div>'
            f"{period_note(period)}{shown}")


def period_note(label: str) -> str:
    """The period (and outlets, recency) the articles read were restricted to, above the
    cards: "Articles published from 25 March 2024 to 31 March 2024 (“last week”, …)"."""
    return f'<p class="qa-note qa-period">Articles {html.escape(label)}.</p>' if label else ""


def _turn_sources(answer: dict[str, Any], turn: int) -> str:
    period = period_note((answer.get("period") or {}).get("label", ""))
    if answer["refused"]:
        return (f"{period}<p class=\"qa-note\">No passage answers this question, so nothing "
                "is cited.</p>")
    parts = [period] if period else []
    if answer["unsupported"]:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in answer["unsupported"])
        parts.append(f'<div class="qa-warn">Not supported by any passage:<ul>{items}</ul></div>')
    parts += [_source_card(c, turn) for c in answer["citations"]]
    if not answer["citations"]:
        parts.append('<p class="qa-note">This answer cites no passage.</p>')
    return "".join(parts)


def render_sources(turns: Sequence[dict[str, Any]]) -> str:
    """The source panel: the latest answer's passages, earlier answers' folded below."""
    answered = [(i, t) for i, t in enumerate(turns, start=1) if t.get("answer")]
    if not answered:
        return ('<div class="qa-panel-head">Sources</div><p class="qa-note">The passages an '
                "answer cites appear here, with the cited words <mark>highlighted</mark>. "
                "Click a number like [1] in an answer to jump to its passage.</p>")
    (last_no, last), older = answered[-1], answered[:-1]
    parts = [f'<div class="qa-panel-head">Sources for “{html.escape(last["question"])}”</div>',
             _turn_sources(last["answer"], last_no)]
    for no, turn in reversed(older):
        parts.append(f'<details class="qa-older"><summary>Sources for “'
                     f'{html.escape(turn["question"])}”</summary>'
                     f"{_turn_sources(turn['answer'], no)}</details>")
    return "".join(parts)


def render_chat(turns: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Chatbot messages for the finished and pending turns (``{"role", "content"}`` dicts,
    content in chat markdown); questions and errors are shown as text too."""
    messages = []
    for no, turn in enumerate(turns, start=1):
        messages.append({"role": "user", "content": as_text(turn["question"])})
        if turn.get("answer"):
            messages.append({"role": "assistant", "content": render_answer(turn["answer"], no)})
        elif turn.get("error"):
            messages.append({"role": "assistant", "content": f"⚠ {as_text(turn['error'])}"})
    return messages
