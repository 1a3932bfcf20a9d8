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

    python benchmarks/timeline.py --index /tmp/mh-index [--show 3]

The index is read, never written (build one with ``qa index`` of corpus.json).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from qa.config import Settings
from qa.models import Timeline
from qa.retrieval.retrieve import RetrievalOptions, Retriever
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
    deep = Retriever(service.retriever.index,
                     RetrievalOptions(top_k=TIMELINE_PASSAGES, candidates=TIMELINE_PASSAGES))
    return {p.chunk.article_id for p in deep.retrieve(topic, top_k=TIMELINE_PASSAGES)
            if (p.vector_score or 0.0) >= generous}


def run(service: QAService, topic: str) -> tuple[Timeline, float]:
    """The whole timeline and the seconds to it, as a caller iterating the snapshots sees."""
    started = time.perf_counter()
    *_, last = service.timeline(topic)
    return last, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index of corpus.json")
    parser.add_argument("--generous", type=float, default=0.35,
                        help="cosine a passage needs for its article to count as the topic's")
    parser.add_argument("--show", type=int, default=2, help="events to print per topic")
    args = parser.parse_args()
    service = QAService(Settings.load(index_dir=args.index, progress=False))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    run(service, TOPICS[0])
    print(f"cold start (first timeline, models and index loading): "
          f"{time.perf_counter() - started:.2f} s; load average {load:.2f} on "
          f"{os.cpu_count()} cores")
    print("topic | events | quotes | folded | multi-outlet events | topic articles | "
          "share contributing | read past floor | first event s | whole s")
    firsts, wholes, shares = [], [], []
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
        for event in timeline.events[: args.show]:
            print(f"    {event.date} {event.line[:110]} ({', '.join(event.outlets)})")
        firsts += [first] if first is not None else []
        wholes.append(whole)
        shares.append(share)
    print(f"median first event {statistics.median(firsts):.2f} s (max {max(firsts):.2f}); "
          f"median whole {statistics.median(wholes):.2f} s (max {max(wholes):.2f}); "
          f"mean share contributing {statistics.mean(shares):.2f}; load average now "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
