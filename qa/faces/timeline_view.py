"""The chat window's Timeline tab, as pure functions of a ``Timeline.to_dict()``: the chart's
data (a pandas DataFrame for Gradio's ``ScatterPlot``), the progress line, and the event list
as HTML, each event opening onto its quoted sentences.

Articles' words are text, never markup: every title, line and quote goes through
``qa.faces.render.as_text`` as the chat's text does (no HTML, image or hidden link; plain
http(s) URLs shown as what they are). ``qa.faces.ui`` lays these out.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from qa.faces.render import as_text

DAY_MARK = "articles on the topic that day"
EVENT_MARK = "event"
CHART_COLUMNS = ["day", "articles", "kind", "event", "outlets", "quote"]
QUOTE_CHARS = 240  # of an event's first quote, in the tooltip its mark opens

CSS = """
#qa-timeline-list {max-height: 720px; overflow-y: auto}
.qa-event {border-left: 3px solid var(--color-accent); padding: 4px 10px; margin: 0 0 10px}
.qa-event summary {cursor: pointer; line-height: 1.45}
.qa-event .qa-day {font-weight: 700; margin-right: 8px; font-variant-numeric: tabular-nums}
.qa-event .qa-outlets {font-size: .85em; color: var(--body-text-color-subdued)}
.qa-event blockquote {font-size: .92em; margin: 6px 0 6px 4px !important;
  padding-left: 10px !important; border-left: 2px solid var(--border-color-primary)}
"""


def chart_frame(timeline: dict[str, Any] | None) -> pd.DataFrame:
    """One row per day (the on-topic articles published that day) and one per event (at its
    day, just above that day's count, several events of a day stacked), columns
    ``CHART_COLUMNS`` (and first an empty row of each series): ``day`` a datetime,
    ``articles`` a float, ``kind`` the series (``DAY_MARK`` or ``EVENT_MARK``), ``event``
    its line cut to 90 characters, ``outlets``, and ``quote``: its first quoted sentences,
    numbered like the list's, cut to ``QUOTE_CHARS`` (what pointing at the mark shows)."""
    # One empty row per series: Gradio fixes the chart's colour domain from its first value,
    # so even the empty chart must name both series (Vega draws no mark for a missing value).
    rows: list[dict[str, Any]] = [{"day": None, "articles": float("nan"), "kind": kind,
                                   "event": "", "outlets": "", "quote": ""}
                                  for kind in (DAY_MARK, EVENT_MARK)]
    counts = dict((d, n) for d, n in (timeline or {}).get("articles_per_day") or ())
    for day, n in sorted(counts.items()):
        rows.append({"day": day, "articles": float(n), "kind": DAY_MARK, "event": "",
                     "outlets": "", "quote": ""})
    stacked: dict[str, int] = {}
    for event in (timeline or {}).get("events") or ():
        day = event.get("date") or ""
        if not day:
            continue  # an undated event has no place on the axis; the list shows it
        stacked[day] = stacked.get(day, 0) + 1
        line = " ".join(str(event.get("line", "")).split())
        first = (event.get("quotes") or [{}])[0]
        quote = " ".join(str(first.get("text", "")).split())
        quote = (f"[{first.get('number', '')}] " if quote else "") + quote[:QUOTE_CHARS] + (
            "…" if len(quote) > QUOTE_CHARS else "")
        rows.append({"day": day, "articles": counts.get(day, 0) + 0.35 * stacked[day],
                     "kind": EVENT_MARK, "event": line[:90] + ("…" if len(line) > 90 else ""),
                     "outlets": ", ".join(event.get("outlets") or ()), "quote": quote})
    frame = pd.DataFrame(rows, columns=CHART_COLUMNS)
    frame["day"] = pd.to_datetime(frame["day"])
    frame["articles"] = frame["articles"].astype(float)
    return frame


def progress_line(timeline: dict[str, Any] | None) -> str:
    """What the tab says while it works and after: articles read, events found, seconds."""
    if not timeline:
        return ""
    events = len(timeline.get("events") or ())
    read, total = timeline.get("articles_read", 0), timeline.get("articles_total", 0)
    state = ("Stopped" if timeline.get("stopped") else "Done" if timeline.get("complete")
             else "Reading")
    if timeline.get("complete") and not total:
        return "No articles on this topic were found in the index."
    return (f"{state}: read {read} of {total} articles · {events} event{'s' * (events != 1)} · "
            f"{timeline.get('seconds', 0.0):.1f} s")


def events_html(timeline: dict[str, Any] | None) -> str:
    """The event list: each event a ``<details class="qa-event">`` whose summary is its day,
    its line and its outlets ("also reported by"), opening onto its quotes (number, title,
    outlet, date, link)."""
    if not timeline:
        return '<div class="qa-note">Give a topic to follow, such as a trial or a takeover.</div>'
    out = []
    for event in timeline.get("events") or ():
        day = event.get("date") or ""
        outlets = list(event.get("outlets") or ())
        who = as_text(outlets[0], block_start=False) if outlets else ""
        if outlets[1:]:
            who += " · also reported by " + as_text(", ".join(outlets[1:]), block_start=False)
        marks = "".join(f"[{q['number']}]" for q in event.get("quotes") or ())
        quotes = "".join(_quote(q) for q in event.get("quotes") or ())
        out.append(
            f'<details class="qa-event" data-day="{html.escape(day)}"><summary>'
            f'<span class="qa-day">'
            f'{html.escape(day or "undated")}</span>'
            f'{as_text(str(event.get("line", "")), block_start=False)} {marks}'
            f'<div class="qa-outlets">{who}</div></summary>{quotes}</details>')
    return "".join(out) or '<div class="qa-note">No events yet.</div>'


def _quote(q: dict[str, Any]) -> str:
    """One quote: its number, headline (linked to a plain http(s) URL), outlet and day, then
    the quoted sentences."""
    title = as_text(q.get("title") or q.get("path") or "Untitled", block_start=False)
    url = str(q.get("url") or "")
    if url.startswith(("http://", "https://")):
        title = (f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
                 f"{title}</a>")
    meta = " · ".join(as_text(x, block_start=False)
                      for x in (q.get("source") or "", (q.get("published_at") or "")[:10]) if x)
    return (f'<div class="qa-meta">[{q["number"]}] {title} · {meta}</div>'
            f'<blockquote>{as_text(" ".join(str(q.get("text", "")).split()), block_start=False)}'
            "</blockquote>")


__all__ = ["CHART_COLUMNS", "CSS", "DAY_MARK", "EVENT_MARK", "chart_frame", "events_html",
           "progress_line"]
