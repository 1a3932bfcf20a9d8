"""HTML for the chat window, pure functions of plain data: answers with linked markers,
source cards with the cited sentences marked, the evidence shown while the model reads.

Everything shown is escaped here; ``qa.faces.ui`` only lays it out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from qa.answering.hop_coverage import hop_label
from qa.models import Evidence, Snippet

_MARKERS = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")

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


def files_gone_note(paths: Sequence[str]) -> str:
    """One plain line saying which retrieved articles were left out because their files were
    deleted since the index was built ("" for none), and how to bring the index up to date."""
    if not paths:
        return ""
    names = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return (f"Left out {len(paths)} article{'s' * (len(paths) != 1)} whose file"
            f"{'s were' if len(paths) != 1 else ' was'} deleted since the index was built "
            f"({names}); `qa index` brings the index up to date.")


def render_answer(answer: dict[str, Any], turn: int) -> str:
    """Chat markdown for a finished answer: [n] become links, unsupported sentences marked,
    a note when deleted files' articles were left out."""
    note = files_gone_note(answer.get("files_gone") or ())
    note = f'\n\n<small class="qa-gone">{html.escape(note)}</small>' if note else ""
    if answer["refused"]:
        return (f'<div class="qa-refusal"><b>No answer.</b> {html.escape(answer["text"])}'
                f"</div>{note}")
    text = answer["text"]
    for sentence in answer["unsupported"]:
        text = text.replace(
            sentence, '<span class="qa-unsupported" title="Not supported by what it cites">'
            f"{sentence}</span>⚠", 1)

    cited = {str(c["number"]) for c in answer["citations"]}

    def link(m: re.Match[str]) -> str:
        numbers = re.split(r"\s*[,;]\s*", m.group(1))
        if not set(numbers) <= cited:  # "[150] billion": answer text, not a citation
            return m.group()
        return "".join(f'<a class="qa-cite" href="#src-{turn}-{n}">[{n}]</a>' for n in numbers)

    text = _MARKERS.sub(link, text)
    verdict = verdict_note(answer)
    if answer.get("verdict") in ("lexical", "partial") and answer["citations"]:
        text = f'<span class="qa-lexical" title="{html.escape(verdict)}">{text}</span>'
    if answer["unsupported"]:
        text += "\n\n<small>⚠ Underlined sentences are not supported by what they cite.</small>"
    if verdict:
        text += f'\n\n<small class="qa-verdict">{html.escape(verdict)}</small>'
    return text + note


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
    return (f'<div class="qa-panel-head">{html.escape(reading_status(evidence))} '
            f'<span class="qa-status">for “{html.escape(evidence.question)}”</span></div>'
            f"{shown}")


def _turn_sources(answer: dict[str, Any], turn: int) -> str:
    if answer["refused"]:
        return '<p class="qa-note">No passage answers this question, so nothing is cited.</p>'
    parts = []
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
    """Chatbot messages for the finished and pending turns."""
    messages = []
    for no, turn in enumerate(turns, start=1):
        messages.append({"role": "user", "content": turn["question"]})
        if turn.get("answer"):
            messages.append({"role": "assistant", "content": render_answer(turn["answer"], no)})
        elif turn.get("error"):
            messages.append({"role": "assistant", "content": f"⚠ {html.escape(turn['error'])}"})
    return messages
