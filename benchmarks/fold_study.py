"""Wire-copy study: which edited copies of a story does the fold rule index once, and which
different articles does it keep apart?

Stories of 60 to 800 words are cut (at sentence ends) from MultiHop-RAG's corpus (Tang & Yang
2024, ODC-BY 1.0); each is copied the way outlets re-run wire copy, and the original and its copy
are folded by ``qa.sources.articles.fold_duplicates``:

- 1 to 5 word edits ("on Wednesday" -> "this week": each edit replaces, inserts or drops one
  or two words at a random place),
- a sentence added (from another article) or one cut from the middle,
- the outlet's boilerplate added (a dateline before, a credit line after),
- the issue's case: two edits and a sentence added.

Printed: the fold rate per story length and kind of copy, then how many of the corpus's 609
distinct articles fold (target 0) and how many pairs of different articles on one event (the
evidence articles of one MultiHop-RAG question) fold (target 0), and the fold's CPU time over
the corpus. Deterministic (seeded); no model, any machine.

    python benchmarks/fold_study.py --corpus ../shared/eval/multihop-rag/corpus.json \\
        --queries ../shared/eval/multihop-rag/queries-dev.json \\
        --out benchmarks/results/fold-study.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.models import Article
from qa.sources.articles import fold_duplicates
from qa.sources.formats import read_articles
from qa.text.sentences import split_sentences

LENGTHS = (60, 100, 150, 200, 300, 500, 800)
STORIES_PER_LENGTH = 40
_WORDS = re.compile(r"\S+")
SWAPS = ("this week", "around", "about", "on Wednesday", "said", "told reporters", "more than",
         "nearly", "officials", "the company", "according to", "late on Tuesday")
DATELINE = "LONDON (Wire Agency) - "
CREDIT = (" Reporting by Staff Writers; Editing by the Desk. Copyright 2023 Wire Agency. "
          "All rights reserved.")


def story(body: str, length: int) -> str | None:
    """The body's first whole sentences holding at least ``length`` words (None if too short)."""
    out, words = [], 0
    for a, b in split_sentences(body):
        out.append(body[a:b].strip())
        words += len(_WORDS.findall(body[a:b]))
        if words >= length:
            return " ".join(out)
    return None


def edit(text: str, edits: int, rng: random.Random) -> str:
    """``edits`` word edits at random places: a one- or two-word replacement, an insertion or
    a dropped word."""
    words = text.split(" ")
    for _ in range(edits):
        i = rng.randrange(len(words))
        kind = rng.choice(("replace", "replace", "insert", "drop"))
        if kind == "replace":
            words[i : i + rng.choice((1, 2))] = rng.choice(SWAPS).split()
        elif kind == "insert":
            words[i:i] = rng.choice(SWAPS).split()
        elif len(words) > 1:
            del words[i]
    return " ".join(words)


def cut_sentence(text: str, rng: random.Random) -> str | None:
    spans = split_sentences(text)
    if len(spans) < 3:
        return None
    a, b = spans[rng.randrange(1, len(spans) - 1)]
    return (text[:a] + text[b:]).replace("  ", " ")


def kinds(extra: Callable[[], str]) -> dict[str, Callable[[str, random.Random], str | None]]:
    """Each kind of copy: (text, rng) -> the copy, or None when the story cannot take it."""
    out: dict[str, Callable[[str, random.Random], str | None]] = {
        f"{n} edit{'s' if n > 1 else ''}": (lambda t, r, n=n: edit(t, n, r)) for n in range(1, 6)}
    out["sentence added"] = lambda t, r: t + " " + extra()
    out["sentence cut"] = cut_sentence
    out["boilerplate added"] = lambda t, r: DATELINE + t + CREDIT
    out["2 edits + sentence"] = lambda t, r: edit(t, 2, r) + " " + extra()
    return out


def folds(a: str, b: str) -> bool:
    arts = [Article(id="wire.txt", title="Wire", body=a, path="wire.txt", source="Wire"),
            Article(id="copy.txt", title="Copy", body=b, path="copy.txt", source="Daily")]
    return fold_duplicates(arts)[1] == 1


def section(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The study as a Markdown section for ``docs/benchmarks.md``: the fold rate per story
    length and kind of copy, before and after the fold rule changed, and what stayed apart."""
    if not after:
        return []
    lengths = after["lengths"]
    lines = ["## Wire copies folded", "",
             f"`benchmarks/fold_study.py`: {after['stories_per_length']['60']} stories per length "
             "cut from MultiHop-RAG's articles at sentence ends, each copied the way outlets "
             "re-run wire copy and folded with its original. Share folded (1.00: every copy "
             "indexed once)" + (", before (90% of the shorter text's word 5-shingles) / after "
             "(85% of its words aligned in order):" if before else ":"), "",
             "| kind of copy | " + " | ".join(f"{n} words" for n in lengths) + " |",
             "|---|" + "---:|" * len(lengths)]
    for kind, row in after["fold_rate"].items():
        old = (before or {}).get("fold_rate", {}).get(kind, {})
        cells = [(f"{old[str(n)]:.2f} / " if str(n) in old else "") + f"{row[str(n)]:.2f}"
                 for n in lengths]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", f"Kept apart: {after['corpus_folded']} of the corpus's "
              f"{after['corpus_articles']} distinct articles folded, and "
              f"{after['same_event_folded']} of {after['same_event_pairs']} pairs of different "
              "articles on one event (the "
              f"evidence articles of one question). Fold CPU over the corpus: "
              f"{after['fold_cpu_seconds']:.2f} s"
              + (f" (before {before['fold_cpu_seconds']:.2f} s)." if before else "."), ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="MultiHop-RAG corpus.json")
    parser.add_argument("--queries", type=Path, required=True,
                        help="MultiHop-RAG queries (their evidence lists name same-event pairs)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--seed", type=int, default=20231127)
    args = parser.parse_args()

    articles, problems = read_articles(args.corpus, max_article_mb=10)
    if problems:
        raise SystemExit(f"corpus has {len(problems)} unreadable records: {problems[0]}")
    rng = random.Random(args.seed)
    # sentences an outlet might add: openings of other articles, 8 to 30 words
    sentences = [s for a in articles[::7] for x, y in split_sentences(a.body)[:3]
                 if 8 <= len((s := a.body[x:y].strip()).split()) <= 30]

    table: dict[str, dict[str, float]] = {}
    print(f"{'kind of copy':<20}" + "".join(f"{n:>7}w" for n in LENGTHS))
    rates: dict[int, dict[str, list[bool]]] = {n: {} for n in LENGTHS}
    for n in LENGTHS:
        stories = [s for a in articles if (s := story(a.body, n))
                   and len(_WORDS.findall(s)) <= n * 1.3]
        rng.shuffle(stories)
        for text in stories[:STORIES_PER_LENGTH]:
            for kind, make in kinds(lambda: rng.choice(sentences)).items():
                copy = make(text, rng)
                if copy is not None:
                    rates[n].setdefault(kind, []).append(folds(text, copy))
    for kind in kinds(lambda: ""):
        row = {str(n): round(sum(v) / len(v), 3) for n in LENGTHS if (v := rates[n].get(kind))}
        table[kind] = row
        print(f"{kind:<20}" + "".join(f"{row.get(str(n), float('nan')):>8.2f}" for n in LENGTHS))
    counts = {str(n): len(rates[n].get("1 edit", [])) for n in LENGTHS}
    print("stories per length:", counts)

    start = time.process_time()
    _kept, folded = fold_duplicates(articles)
    cpu = time.process_time() - start
    by_url = {a.url: a for a in articles}
    queries = json.loads(args.queries.read_text())
    same_event = {tuple(sorted((x, y))) for q in queries
                  for x, y in itertools.combinations(
                      dict.fromkeys(e["url"] for e in q.get("evidence_list", [])), 2)
                  if x in by_url and y in by_url}
    event_folds = sum(fold_duplicates([by_url[x], by_url[y]])[1] for x, y in same_event)
    print(f"distinct corpus articles folded: {folded} of {len(articles)} "
          f"(fold CPU {cpu:.2f} s)")
    print(f"pairs of different articles on one event folded: {event_folds} of {len(same_event)}")
    if args.out:
        out: dict[str, Any] = {
            "lengths": list(LENGTHS), "stories_per_length": counts, "fold_rate": table,
            "corpus_articles": len(articles), "corpus_folded": folded,
            "fold_cpu_seconds": round(cpu, 2), "same_event_pairs": len(same_event),
            "same_event_folded": event_folds, "seed": args.seed}
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
