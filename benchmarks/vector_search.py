"""Exact or HNSW vector search, by scope size: which is cheaper, and what HNSW costs in quality.

    D=../shared/eval/multihop-rag
    python benchmarks/vector_search.py --index /tmp/scale-mh --queries $D/queries-dev.json

On a built index (``qa index``): for the whole index and each outlet's passages (the scopes a
hop searches), the top 100 by the question's embedding, found exactly (the scope's stored
vectors fetched from the store each time, or kept after the first fetch as the retriever keeps
them, one product) and by Chroma's HNSW index (since issue 24 an unrestricted search widened
by the scope's share, filtered afterwards: ``qa.store.vectors``), timed per question, with the
share of the exact top 100 that HNSW finds (a widened search may find fewer than 100). Then the
dev questions' retrieval figures with every scope searched by HNSW, with the default split
(``QA_EXACT_SEARCH_MAX``) and with every scope exact. Writes
``benchmarks/results/vector-search.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.faces.metrics import NULL_TYPE, evaluate_retrieval, load_queries, percentile
from qa.retrieval.retrieve import Retriever
from qa.store.index import ArticleIndex
from qa.store.vectors import EXACT_MAX, Scope, VectorSearch

RESULTS = Path(__file__).resolve().parent / "results" / "vector-search.json"
BUCKETS = (500, 1000, 2000, 4000, 8000, 10**9)


def scopes(args: argparse.Namespace, index: ArticleIndex) -> list[dict[str, Any]]:
    """Per scope: its size, exact and HNSW ms (p50) and HNSW's recall of the exact top 100."""
    retriever = Retriever(index)
    kw = retriever.keyword
    questions = [q.text for q in load_queries(args.queries)
                 if q.question_type != NULL_TYPE][: args.scope_questions]
    vectors = [retriever.embed_question(q) for q in questions]
    exact = VectorSearch(index, kw, exact_max=10**9, cache_max=0)  # vectors fetched each time
    cached = VectorSearch(index, kw, exact_max=10**9, cache_max=10**9)  # fetched once
    hnsw = VectorSearch(index, kw, exact_max=0)  # widened unrestricted search, then filtered
    chosen = [Scope(key=("all",))] + [retriever.scopes.outlets([name], [code])
                                      for code, name in enumerate(kw.sources, start=1)]
    exact.top(vectors[0], chosen[0], 100)  # loads the HNSW index and warms the store
    hnsw.top(vectors[0], chosen[0], 100)
    out = []
    for scope in chosen:
        times: dict[str, list[float]] = {"exact": [], "cached": [], "hnsw": []}
        cached.top(vectors[0], scope, 100)  # the one fetch of the scope's vectors
        recalls = []
        for vector in vectors:
            found = {}
            for name, search in (("exact", exact), ("cached", cached), ("hnsw", hnsw)):
                started = time.perf_counter()
                found[name] = set(search.top(vector, scope, 100)[0].tolist())
                times[name].append((time.perf_counter() - started) * 1000)
            recalls.append(len(found["hnsw"] & found["exact"]) / max(1, len(found["exact"])))
        name = scope.key[-1][0] if scope.sources else scope.key[-1]
        out.append({"scope": name, "size": retriever.scopes.size(scope),
                    "exact_ms": percentile(times["exact"], 50),
                    "cached_ms": percentile(times["cached"], 50),
                    "hnsw_ms": percentile(times["hnsw"], 50),
                    "hnsw_recall": float(np.mean(recalls))})
        print(f"{out[-1]['size']:>6} passages ({str(out[-1]['scope'])[:30]:<30}): exact "
              f"{out[-1]['exact_ms']:6.1f} ms, cached {out[-1]['cached_ms']:6.1f} ms, "
              f"hnsw {out[-1]['hnsw_ms']:6.1f} ms, hnsw recall "
              f"{out[-1]['hnsw_recall']:.3f}", flush=True)
    return out


def quality(args: argparse.Namespace, index: ArticleIndex) -> dict[str, Any]:
    queries = load_queries(args.queries, limit=args.limit)
    out = {}
    for name, exact_max in (("hnsw", 0), ("default", EXACT_MAX), ("exact", 10**9)):
        retriever = Retriever(ArticleIndex(index.settings, embedder=index.embedder),
                              exact_max=exact_max)
        retriever.warm()
        report = evaluate_retrieval(
            queries, lambda q, r=retriever: [p.chunk.text for p in r.retrieve(q, top_k=10)])
        out[name] = {k: v for k, v in report.items() if k != "per_type"}
        print(f"{name:>8}: " + ", ".join(f"{k} {report[k]:.4f}" for k in (
            "hits@10", "mrr@10", "fact_recall@10", "all_facts@10"))
            + f"; p50 {report['latency_ms']['p50']:.1f} ms, load {os.getloadavg()[0]:.2f}",
            flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True,
                        help="index folder (with --chroma-url: the keyword index's folder)")
    parser.add_argument("--chroma-url", default=None, help="search through a chroma run server")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="first N question records")
    parser.add_argument("--scope-questions", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    index = ArticleIndex(Settings.load(index_dir=args.index, chroma_url=args.chroma_url,
                                       progress=False))
    index.require_articles()
    result = {"index": str(args.index), "server": bool(args.chroma_url), "chunks": index.count(),
              "exact_max": EXACT_MAX, "load": os.getloadavg()[0], "scopes": scopes(args, index),
              "quality": {} if args.skip_quality else quality(args, index),
              "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
