"""Where one retrieval's time goes (issue 24): per stage, at each index size, before and after.

    D=../shared/eval/multihop-rag
    python benchmarks/breakdown.py --index /tmp/qa-scale/index-30x --queries $D/queries-dev.json \\
        --size 30 --label after [--chroma-url http://127.0.0.1:8000]

A fresh ``QAService`` on a built index (``benchmarks/scale.py``'s) retrieves ``--questions`` dev
questions one at a time (after one warm-up question, as a running app has answered some) while
each stage's methods are wrapped by a timer. Each stage's time is exclusive: a method's time
less that of the timed methods it calls (fusion is ``_ranked`` less the top-k searches inside
it; "other" is ``retrieve`` less every stage). The methods are the retriever's own, found by
name, so the same script times the starting commit's code (``PYTHONPATH`` a worktree of it) and
the current one; a stage one of them lacks shows as absent.

Prints mean ms per question per stage, with calls per question, and merges the figures by
(label, size, mode) into ``benchmarks/results/breakdown.json`` for ``make_table.py``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "breakdown.json"

# (module, class or "", attribute, stage): the stages in the order a retrieval runs them
TIMED = [
    ("qa.retrieval.retrieve", "Retriever", "plan", "question plan"),
    ("qa.retrieval.retrieve", "Retriever", "embed_question", "embedding"),
    ("qa.store.keyword", "KeywordIndex", "scores", "BM25 scoring"),
    ("qa.retrieval.retrieve", "Retriever", "_hop_scope", "scopes (masks, filters)"),
    ("qa.store.vectors", "Scope", "within", "scopes (masks, filters)"),
    ("qa.retrieval.retrieve", "Retriever", "_top", "top-k per scope (BM25)"),
    ("qa.store.vectors", "VectorSearch", "top", "vector search"),
    ("qa.retrieval.retrieve", "Retriever", "_ranked", "fusion"),
    ("qa.retrieval.retrieve", "", "assemble", "assembly"),
    ("qa.retrieval.retrieve", "Retriever", "_passages", "final fetch"),
    ("qa.store.index", "ArticleIndex", "passages", "store get"),
    ("qa.retrieval.retrieve", "Retriever", "retrieve", "other"),
]


class Timer:
    """Exclusive seconds and calls per stage; a stack subtracts nested timed calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[float] = []  # time of timed children of each open call
        self._labels: list[str] = []  # the open calls' stages
        self.search_label: Callable[[Any, tuple[Any, ...]], str] | None = None

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = stage
            if stage == "vector search" and self.search_label is not None:
                label = self.search_label(args[0], args[1:])
            elif stage == "top-k per scope (BM25)" and getattr(args[1], "vector", None) \
                    is not None:
                label = "vector search (bookkeeping)"
            elif stage == "store get":  # a small scope's vectors, or the final passages
                parent = self._labels[-1] if self._labels else ""
                label = f"{parent}: vectors fetched" if parent.startswith("vector search") \
                    else "final fetch"
            self._stack.append(0.0)
            self._labels.append(label)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - started
                children = self._stack.pop()
                self._labels.pop()
                self.seconds[label] += took - children
                self.calls[label] += 1
                if self._stack:
                    self._stack[-1] += took
        return timed


def scope_kind(search: Any, rest: tuple[Any, ...]) -> str:
    """A vector search's label: the scope's kind and whether it is searched exactly."""
    scope = rest[1]
    key = scope.key
    kind = "whole index" if key == ("all",) else "outlets" if key and key[0] == "outlets" \
        and "&" not in key else "day" if key and key[0] == "all" else "outlets' day"
    size = search.scopes.size(scope) if hasattr(search, "scopes") else \
        scope.size(search.keyword.rows)
    how = "exact" if 0 < size <= search.exact_max else "HNSW"
    return f"vector search: {kind}, {how}"


def install(timer: Timer) -> None:
    import importlib

    for module_name, cls, attr, stage in TIMED:
        module = importlib.import_module(module_name)
        owner = getattr(module, cls) if cls else module
        if hasattr(owner, attr):
            setattr(owner, attr, timer.wrap(stage, getattr(owner, attr)))
    timer.search_label = scope_kind


# --- the tables in docs/benchmarks.md (benchmarks/make_table.py) ---------------------------


def before_after(before: dict | None, after: dict | None) -> list[str]:
    """Issue 24: ``scale.py --probe-only`` on the same indexes, the starting commit's code
    (``--code``) against this one's, with the p50 slope of each."""
    if not before or not after:
        return []
    from scale import fit

    lines = ["### Retrieval latency before and after (issue 24)", "",
             "The same indexes probed by `benchmarks/scale.py --probe-only`, once with the code "
             "before the change (a worktree of it, `--code`) and once with this code, one after "
             "the other on the idle machine; p50 / p95 ms per question (100 dev questions at "
             "10× and 30×, all 914 at 1×), start to first retrieval and app memory at first "
             "retrieval.", "",
             "| size | chunks | p50 / p95 ms embedded, before → after | p50 / p95 ms server, "
             "before → after | first retrieval s embedded / server, before → after | app RSS "
             "MB server, before → after | load before / after |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    by_size = {e["size"]: e for e in before["sizes"]}
    pairs = [(by_size[e["size"]], e) for e in after["sizes"] if e["size"] in by_size]
    for b, a in pairs:
        lines.append(
            f"| {a['size']}× | {a['chunks']:,} | {b['embedded']['p50_ms']:.0f} / "
            f"{b['embedded']['p95_ms']:.0f} → {a['embedded']['p50_ms']:.0f} / "
            f"{a['embedded']['p95_ms']:.0f} | {b['server']['p50_ms']:.0f} / "
            f"{b['server']['p95_ms']:.0f} → {a['server']['p50_ms']:.0f} / "
            f"{a['server']['p95_ms']:.0f} | {b['embedded']['first_retrieval_s']:.1f} / "
            f"{b['server']['first_retrieval_s']:.1f} → {a['embedded']['first_retrieval_s']:.1f}"
            f" / {a['server']['first_retrieval_s']:.1f} | {b['server']['first_rss_mb']:.0f} → "
            f"{a['server']['first_rss_mb']:.0f} | {b['embedded']['load']:.2f} / "
            f"{a['embedded']['load']:.2f} |")
    xs = [float(a["chunks"]) for _b, a in pairs]
    lines += ["", "| slope per 100k chunks (least squares) | before | after |",
              "|---|---:|---:|"]
    for mode in ("embedded", "server"):
        for key in ("p50_ms", "p95_ms"):
            got = [fit(xs, [float(e[mode][key]) for e in side])[1] * 1e5
                   for side in ([b for b, _a in pairs], [a for _b, a in pairs])]
            lines.append(f"| retrieval {key[:3]}, {mode} | {got[0]:+.1f} ms | {got[1]:+.1f} ms |")
    lines.append("")
    return lines


def section(rep: dict | None) -> list[str]:
    """Issue 24: ``benchmarks/breakdown.py``, mean ms per question per stage, before/after."""
    if not rep:
        return []
    runs = {(r["label"], r["size"]): r for r in rep["runs"] if r["mode"] == "embedded"}
    sizes = sorted({s for _l, s in runs})
    labels = [lab for lab in ("before", "after") if any(lab == k[0] for k in runs)]
    cols = [(lab, size) for size in sizes for lab in labels if (lab, size) in runs]
    stages = sorted({st for r in runs.values() for st in r["stages"]},
                    key=lambda st: -max(runs[c]["stages"].get(st, {"ms": 0})["ms"]
                                        for c in cols))
    lines = ["### Where one retrieval's time goes (issue 24)", "",
             "`benchmarks/breakdown.py`: a fresh process on each index of the table above "
             "(embedded Chroma) retrieves 100 dev questions after one warm-up, with each "
             "stage's methods wrapped by a timer; mean ms per question, exclusive (a stage less "
             "the timed stages it calls; calls per question in brackets). Vector searches are "
             "split by scope (the whole index, a hop's outlets, a day of them) and by how they "
             "are searched; 'vectors fetched' is the store's get of a small scope's stored "
             "vectors the first time it is searched (kept afterwards).", "",
             "| stage | " + " | ".join(f"{size}× {lab}" for lab, size in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for st in stages:
        cells = []
        for c in cols:
            got = runs[c]["stages"].get(st)
            cells.append("—" if got is None else f"{got['ms']:.1f} ({got['calls']:.1f})")
        lines.append(f"| {st} | " + " | ".join(cells) + " |")
    for key, name in (("mean_ms", "total, mean"), ("p50_ms", "total, p50"),
                      ("p95_ms", "total, p95")):
        lines.append(f"| **{name}** | " + " | ".join(f"**{runs[c][key]:.1f}**" for c in cols)
                     + " |")
    lines.append("| load before the run | " + " | ".join(
        f"{runs[c]['load_before']:.2f}" for c in cols) + " |")
    lines.append("")
    return lines


def quality(reports: dict[str, dict]) -> list[str]:
    """Issue 24: dev retrieval before and after on the 1x and 30x indexes
    (``results/quality-Nx.json``)."""
    if not reports:
        return []
    keys = [("hits@4", "Hits@4"), ("hits@10", "Hits@10"), ("mrr@10", "MRR@10"),
            ("map@10", "MAP@10"), ("fact_recall@10", "FactRecall@10"),
            ("all_facts@10", "AllFacts@10")]
    lines = ["### Dev retrieval before and after (issue 24)", "",
             "All 914 non-null dev questions, top 10, on the 1× index (`qa eval retrieval`) and "
             "on the 30× index (the same scoring; the gold passages are among 109,120), with the "
             "code before the change and this code. Latency here was measured on a busy machine "
             "(load 3–5) and is only indicative; the idle figures are the tables above.", "",
             "| index | code | " + " | ".join(m for _k, m in keys) + " | p50 ms |",
             "|---|---|" + "---:|" * (len(keys) + 1)]
    for size, rep in sorted(reports.items()):
        for code in ("before", "after"):
            r = rep[code]
            lines.append(f"| {size} | {code} | " + " | ".join(f"{r[k]:.4f}" for k, _m in keys)
                         + f" | {r['latency_ms']['p50']:.0f} |")
        lines.append(f"| {size} | after − before | " + " | ".join(
            f"{rep['after'][k] - rep['before'][k]:+.4f}" for k, _m in keys) + " | |")
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--size", type=int, required=True, help="corpus multiple, for the table")
    parser.add_argument("--label", required=True, help="before or after")
    parser.add_argument("--chroma-url")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from qa.config import Settings
    from qa.faces.metrics import NULL_TYPE, load_queries, percentile
    from qa.service import QAService

    settings = Settings.load(index_dir=args.index, chroma_url=args.chroma_url, progress=False)
    service = QAService(settings)
    texts = [q.text for q in load_queries(args.queries) if q.question_type != NULL_TYPE
             and q.facts]
    service.retrieve(texts[0])  # opens everything; not timed
    timer = Timer()
    install(timer)
    totals = []
    load = os.getloadavg()[0]
    for text in texts[1 : 1 + args.questions]:
        started = time.perf_counter()
        service.retrieve(text)
        totals.append((time.perf_counter() - started) * 1000)
    n = len(totals)
    stages = {k: {"ms": 1000 * v / n, "calls": timer.calls[k] / n}
              for k, v in timer.seconds.items()}
    rows = service._retriever.keyword.rows if service._retriever else 0  # noqa: SLF001
    entry = {"label": args.label, "size": args.size, "mode": "server" if args.chroma_url else
             "embedded", "chunks": rows, "questions": n, "mean_ms": sum(totals) / n,
             "p50_ms": percentile(totals, 50), "p95_ms": percentile(totals, 95),
             "stages": stages, "load_before": load, "load_after": os.getloadavg()[0],
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{args.label} {args.size}x ({rows:,} passages, {entry['mode']}): mean "
          f"{entry['mean_ms']:.1f} ms, p50 {entry['p50_ms']:.1f}, p95 {entry['p95_ms']:.1f}; "
          f"load {load:.2f} -> {entry['load_after']:.2f}")
    for stage, s in sorted(stages.items(), key=lambda kv: -kv[1]["ms"]):
        print(f"  {stage:45s} {s['ms']:8.2f} ms  {s['calls']:6.2f} calls")
    record = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    record["runs"] = [r for r in record["runs"] if (r["label"], r["size"], r["mode"]) !=
                      (entry["label"], entry["size"], entry["mode"])] + [entry]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
