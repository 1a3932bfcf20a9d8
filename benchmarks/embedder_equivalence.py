"""Is the int8 embedder as good as fp32? Cosines on corpus chunks, then retrieval with each.

    python benchmarks/embedder_equivalence.py --corpus ../shared/eval/multihop-rag/corpus.json \
        [--chunks 1000] [--torch] \
        [--queries ../shared/eval/multihop-rag/queries-dev.json [--limit N] [--index-root DIR]] \
        [--articles N]

1. The corpus is chunked as ``qa index`` chunks it; ``--chunks`` chunks spread evenly over it
   are embedded by the ``onnx`` (fp32) and ``onnx-int8`` backends (and by ``torch`` with
   ``--torch``, to show the fp32 export reproduces it). Printed: the cosine of each chunk's
   int8 vector to its fp32 vector (min, 1st percentile, median), and how many of each
   question's 10 nearest chunks by fp32 are also among its 10 nearest by int8.
2. With ``--queries``: ``qa eval retrieval`` (``run_retrieval``) once per backend, each over
   its own index (built or brought up to date under ``--index-root``, by default one per
   corpus and backend in the cache folder), side by side with the query embedding's p50.
   The verdict: int8 may be the default only if it is within 0.01 of fp32 on Hits@10, MRR@10
   and FactRecall@10 (issue 11); otherwise the default must be ``onnx``.

``--articles N`` (a smoke run, not a measurement) keeps N articles of the corpus: those that
hold the chosen questions' evidence first, then the others in corpus order.

Writes ``benchmarks/results/embedder-equivalence.json``. MultiHop-RAG: Tang & Yang, COLM 2024,
ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.embedding.embed import embedder_for, model_dir
from qa.faces.eval import format_retrieval, run_retrieval
from qa.faces.metrics import load_queries
from qa.sources.articles import load_articles
from qa.store import chunking

RESULTS = Path(__file__).resolve().parent / "results"
GATED = ("hits@10", "mrr@10", "fact_recall@10")
TOLERANCE = 0.01


def subset(corpus: Path, queries: Path | None, limit: int | None, n: int, folder: Path) -> Path:
    """A corpus of ``n`` articles: the chosen questions' evidence first, then corpus order."""
    records = json.loads(corpus.read_text(encoding="utf-8"))
    wanted: set[str] = set()
    if queries:
        chosen = json.loads(queries.read_text(encoding="utf-8"))[:limit]
        wanted = {e.get("url", "") for q in chosen for e in q.get("evidence_list") or []}
    keep = [r for r in records if r.get("url") in wanted]
    keep += [r for r in records if r.get("url") not in wanted][: max(0, n - len(keep))]
    path = folder / f"{corpus.stem}-first{n}.json"
    path.write_text(json.dumps(keep[:max(n, len(keep))]), encoding="utf-8")
    return path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def spread_chunks(corpus: Path, settings: Settings, n: int) -> list[str]:
    """``n`` chunk texts (as the embedder sees them) at even steps over the whole corpus."""
    articles, _ = load_articles(corpus, max_article_mb=settings.max_article_mb)
    tokenizer = chunking.load_tokenizer(model_dir(None, cache_dir=settings.cache_dir))
    chunks = chunking.chunk_articles(articles, tokenizer=tokenizer,
                                   max_tokens=settings.chunk_tokens,
                                   overlap=settings.chunk_overlap)
    picks = np.linspace(0, len(chunks) - 1, num=min(n, len(chunks))).round().astype(int)
    return [chunks[i].embed_text() for i in dict.fromkeys(picks.tolist())]


def embed(settings: Settings, backend: str, texts: list[str]) -> tuple[np.ndarray, float]:
    """Unit vectors of ``texts`` by ``backend`` and the seconds that took (load excluded)."""
    embedder = embedder_for(settings.model_copy(update={"embed_backend": backend}))
    embedder.get_text_embedding_batch(["warm up"] * 4)
    started = time.perf_counter()
    vectors = np.asarray(embedder.get_text_embedding_batch(texts), dtype=np.float32)
    seconds = time.perf_counter() - started
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), seconds


def cosine_summary(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Row-wise cosines of two unit-vector matrices: min, 1st percentile, median, mean."""
    cos = (a * b).sum(axis=1)
    return {"min": float(cos.min()), "p1": float(np.percentile(cos, 1)),
            "median": float(np.median(cos)), "mean": float(cos.mean())}


def top10_overlap(chunks_a: np.ndarray, chunks_b: np.ndarray, queries_a: np.ndarray,
                  queries_b: np.ndarray) -> float:
    """Mean share of each query's 10 nearest chunks under embedder a kept under embedder b."""
    near_a = np.argsort(-(queries_a @ chunks_a.T), axis=1)[:, :10]
    near_b = np.argsort(-(queries_b @ chunks_b.T), axis=1)[:, :10]
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(near_a, near_b,
                                                                      strict=True)]))


def index_dir(root: Path | None, settings: Settings, corpus: Path, backend: str) -> Path:
    key = hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:8]
    base = root or settings.cache_dir / "eval"
    return base / f"{corpus.stem}-{key}-{backend}"


def retrieval(settings: Settings, corpus: Path, queries: Path, limit: int | None,
              root: Path | None, backends: list[str]) -> dict[str, Any]:
    """``run_retrieval`` per backend, each over its own index."""
    from qa.service import QAService

    out = {}
    for backend in backends:
        folder = index_dir(root, settings, corpus, backend)
        service = QAService(settings.model_copy(update={"embed_backend": backend,
                                                        "index_dir": folder}))
        log(f"== retrieval with {backend} (index {folder})")
        out[backend] = run_retrieval(service, corpus, load_queries(queries, limit=limit),
                                     log=log)
        print(f"\n{backend}\n{format_retrieval(out[backend])}")
    return out


def verdict(reports: dict[str, Any]) -> dict[str, Any]:
    """int8 minus fp32 on the gated figures, and the default backend they allow."""
    deltas = {k: reports["onnx-int8"][k] - reports["onnx"][k] for k in GATED}
    ok = all(d >= -TOLERANCE for d in deltas.values())
    return {"deltas": deltas, "tolerance": TOLERANCE, "int8_within": ok,
            "default": "onnx-int8" if ok else "onnx"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--torch", action="store_true", help="also embed with torch")
    parser.add_argument("--queries", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N question records (null queries count)")
    parser.add_argument("--index-root", type=Path, default=None)
    parser.add_argument("--articles", type=int, default=None,
                        help="smoke run: only N articles (the questions' evidence first)")
    parser.add_argument("--out", type=Path, default=RESULTS / "embedder-equivalence.json")
    args = parser.parse_args()
    settings = Settings.load(progress=False)
    with tempfile.TemporaryDirectory(prefix="qa-equivalence-") as tmp:
        if args.articles:  # a throw-away corpus gets throw-away indexes unless told otherwise
            args.corpus = subset(args.corpus, args.queries, args.limit, args.articles, Path(tmp))
            args.index_root = args.index_root or Path(tmp) / "indexes"
        run(args, settings)


def run(args: argparse.Namespace, settings: Settings) -> None:
    """Everything ``main`` promises, on the parsed arguments."""
    texts = spread_chunks(args.corpus, settings, args.chunks)
    backends = ["onnx", "onnx-int8"] + (["torch"] if args.torch else [])
    vectors, seconds = {}, {}
    for backend in backends:
        vectors[backend], seconds[backend] = embed(settings, backend, texts)
        log(f"{backend}: {len(texts)} chunks in {seconds[backend]:.1f}s")
    report: dict[str, Any] = {
        "corpus": args.corpus.name, "chunks": len(texts),
        "date": time.strftime("%Y-%m-%d"),
        "cosine_int8_vs_fp32": cosine_summary(vectors["onnx-int8"], vectors["onnx"]),
        "embed_seconds": seconds,
    }
    if args.torch:
        report["cosine_fp32_vs_torch"] = cosine_summary(vectors["onnx"], vectors["torch"])
    if args.queries:
        questions = [q.text for q in load_queries(args.queries, limit=args.limit) if q.facts]
        q_vec = {b: embed(settings, b, questions)[0] for b in ("onnx", "onnx-int8")}
        report["top10_overlap_int8_vs_fp32"] = top10_overlap(
            vectors["onnx"], vectors["onnx-int8"], q_vec["onnx"], q_vec["onnx-int8"])

    c = report["cosine_int8_vs_fp32"]
    print(f"cosine int8 vs fp32 over {len(texts)} chunks: min {c['min']:.4f}, "
          f"p1 {c['p1']:.4f}, median {c['median']:.4f}, mean {c['mean']:.4f}")
    if args.torch:
        t = report["cosine_fp32_vs_torch"]
        print(f"cosine onnx fp32 vs torch: min {t['min']:.6f}, median {t['median']:.6f}")
    print("embedding seconds (one process, load excluded): "
          + ", ".join(f"{b} {s:.1f}s ({len(texts) / s:.1f} chunks/s)"
                      for b, s in seconds.items()))
    if args.queries:
        print(f"nearest-10 chunks by vector alone, int8 vs fp32: "
              f"{report['top10_overlap_int8_vs_fp32']:.1%} shared")
        reports = retrieval(settings, args.corpus, args.queries, args.limit, args.index_root,
                            ["onnx", "onnx-int8"])
        report["retrieval"] = reports
        report["verdict"] = verdict(reports)
        v = report["verdict"]
        print("\nint8 - fp32: " + ", ".join(f"{k} {d:+.4f}" for k, d in v["deltas"].items())
              + f" -> int8 {'is' if v['int8_within'] else 'is NOT'} within {TOLERANCE}; "
              f"default backend: {v['default']}")
        for backend, rep in reports.items():
            emb = rep["query_embedding_ms"]
            print(f"query embedding {backend}: p50 {emb['p50']:.1f} ms, p95 {emb['p95']:.1f} ms")
        if args.limit:
            print(f"(first {args.limit} question records only: not the official figures)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
