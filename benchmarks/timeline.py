"""Timelines on MultiHop-RAG's corpus (609 news articles, Sep-Dec 2023): for ten stories of
several articles each, what ``QAService.timeline`` finds and how fast.

Per topic it prints: events; quotes; duplicates folded (quotes beyond the first of each
event: the same event from another article); events reported by two or more outlets; the
topic's articles (by retrieval with a generous cut: articles among the 400 passages retrieved
for the topic with a passage at cosine >= ``--generous`` to it) and the share of them that
contribute a quote to the timeline; articles the timeline read past its floor; seconds to the
first snapshot holding an event (what the chat window shows first) and to the whole timeline.
The first topic is run once before timing (the embedder and the index load), and the 1-minute
load average is printed before and after, so a busy machine is seen as busy.

    python benchmarks/timeline.py --index /tmp/mh-index [--show 3] \
        [--out benchmarks/results/timeline.json]

``--out`` writes the figures as JSON; ``benchmarks/make_table.py`` renders them (``section``).

The index is read, never written (build one with ``qa index`` of corpus.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

from qa.config import Settings
from qa.models import Timeline
from qa.retrieval.retrieve import RetrievalOptions
from qa.service import TIMELINE_PASSAGES, QAService

TOPICS = [
    "Sam Bankman-Fried fraud trial",
    "Sam Altman fired and rehired by OpenAI",
    "Epic Games antitrust lawsuit against Google",
    "Israel Hamas war in Gaza",
    "Taylor Swift and Travis Kelce",
    "Shohei Ohtani free agency",
    "World Series Texas Rangers Arizona Diamondbacks",
    "Rugby World Cup",
    "Lionel Messi Inter Miami",
    "Elon Musk X advertisers",
]


def topic_articles(service: QAService, topic: str, generous: float) -> set[str]:
    """Articles with a passage at cosine >= ``generous`` among the topic's deep retrieval."""
    deep = service.retriever.with_options(
        RetrievalOptions(top_k=TIMELINE_PASSAGES, candidates=TIMELINE_PASSAGES))
    return {p.chunk.article_id for p in deep.retrieve(topic, top_k=TIMELINE_PASSAGES)
            if (p.vector_score or 0.0) >= generous}


def run(service: QAService, topic: str) -> tuple[Timeline, float]:
    """The whole timeline and the seconds to it, as a caller iterating the snapshots sees."""
    started = time.perf_counter()
    *_, last = service.timeline(topic)
    return last, time.perf_counter() - started


def section(rep: dict[str, Any] | None) -> list[str]:
    """The figures of ``--out`` as a Markdown section for ``docs/benchmarks.md``."""
    if not rep:
        return []
    lines = ["## Timelines", "",
             "`benchmarks/timeline.py --index INDEX` (the 609-article index; `qa timeline` on "
             "ten stories named in the script). Per topic: events; quotes; duplicates folded "
             "(quotes beyond each event's first); events with two or more outlets; the topic's "
             f"articles by retrieval with a generous cut (an article with a passage at cosine >= "
             f"{rep['generous']} among the {rep['passages']} retrieved) and the share of them "
             "that gives the timeline a quote; on-topic articles read (past the floor); seconds "
             "to the first snapshot holding an event and to the whole timeline, once warm. "
             f"Measured {rep['date']} on {rep['cores']} cores, load average "
             f"{rep['load_before']:.2f} before and {rep['load_after']:.2f} after; cold start "
             f"(embedder and index loading, first topic) {rep['cold_seconds']:.1f} s.", "",
             "| topic | events | quotes | folded | multi-outlet | topic articles | "
             "share giving a quote | read | first event s | whole s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in rep["topics"]:
        first = "-" if t["first_event_s"] is None else f"{t['first_event_s']:.2f}"
        lines.append(f"| {t['topic']} | {t['events']} | {t['quotes']} | {t['folded']} | "
                     f"{t['multi_outlet']} | {t['topic_articles']} | {t['share']:.2f} | "
                     f"{t['read']} | {first} | {t['whole_s']:.2f} |")
    s = rep["summary"]
    lines += ["", f"First event: median {s['first_median_s']:.2f} s, max {s['first_max_s']:.2f} s "
              f"(target 3 s); whole timeline: median {s['whole_median_s']:.2f} s, max "
              f"{s['whole_max_s']:.2f} s (target 30 s for a ten-article story); mean share of "
              f"the topic's articles giving a quote {s['share_mean']:.2f}.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index of corpus.json")
    parser.add_argument("--generous", type=float, default=0.35,
                        help="cosine a passage needs for its article to count as the topic's")
    parser.add_argument("--show", type=int, default=2, help="events to print per topic")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    service = QAService(Settings.load(index_dir=args.index, progress=False))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    run(service, TOPICS[0])
    cold = time.perf_counter() - started
    print(f"cold start (first timeline, models and index loading): "
          f"{time.perf_counter() - started:.2f} s; load average {load:.2f} on "
          f"{os.cpu_count()} cores")
    print("topic | events | quotes | folded | multi-outlet events | topic articles | "
          "share contributing | read past floor | first event s | whole s")
    firsts, wholes, shares = [], [], []
    rows: list[dict[str, Any]] = []
    for topic in TOPICS:
        timeline, whole = run(service, topic)
        wanted = topic_articles(service, topic, args.generous)
        quoted = {q.article_id for e in timeline.events for q in e.quotes}
        quotes = sum(len(e.quotes) for e in timeline.events)
        multi = sum(len(e.outlets) > 1 for e in timeline.events)
        share = len(quoted & wanted) / len(wanted) if wanted else 0.0
        read = sum(n for _d, n in timeline.articles_per_day)
        first = timeline.first_event_seconds
        print(f"{topic} | {len(timeline.events)} | {quotes} | {quotes - len(timeline.events)} | "
              f"{multi} | {len(wanted)} | {share:.2f} | {read} | "
              f"{'-' if first is None else f'{first:.2f}'} | {whole:.2f}")
        rows.append({"topic": topic, "events": len(timeline.events), "quotes": quotes,
                     "folded": quotes - len(timeline.events), "multi_outlet": multi,
                     "topic_articles": len(wanted), "share": round(share, 3), "read": read,
                     "first_event_s": None if first is None else round(first, 3),
                     "whole_s": round(whole, 3)})
        for event in timeline.events[: args.show]:
            print(f"    {event.date} {event.line[:110]} ({', '.join(event.outlets)})")
        firsts += [first] if first is not None else []
        wholes.append(whole)
        shares.append(share)
    print(f"median first event {statistics.median(firsts):.2f} s (max {max(firsts):.2f}); "
          f"median whole {statistics.median(wholes):.2f} s (max {max(wholes):.2f}); "
          f"mean share contributing {statistics.mean(shares):.2f}; load average now "
          f"{os.getloadavg()[0]:.2f}")
    if args.out:
        rep = {"date": date.today().isoformat(), "cores": os.cpu_count(),
               "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
               "cold_seconds": round(cold, 2), "generous": args.generous,
               "passages": TIMELINE_PASSAGES, "topics": rows,
               "summary": {"first_median_s": round(statistics.median(firsts), 3),
                           "first_max_s": round(max(firsts), 3),
                           "whole_median_s": round(statistics.median(wholes), 3),
                           "whole_max_s": round(max(wholes), 3),
                           "share_mean": round(statistics.mean(shares), 3)}}
        args.out.write_text(json.dumps(rep, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
