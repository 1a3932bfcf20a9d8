"""Retrieval on MultiHop-RAG: the paper's baseline and each step of ours, one JSON per row.

    python benchmarks/retrieval.py --corpus ../shared/eval/multihop-rag/corpus.json \
        --queries ../shared/eval/multihop-rag/queries-dev.json --index /tmp/mh-index

Rows (``--rows``, default all), written to ``benchmarks/results/retrieval-<row>.json``:

- ``baseline``: the paper's setup, llama-index ``SentenceSplitter(chunk_size=256)`` (default
  overlap) over the raw corpus as the paper's script loads it, chunks embedded as llama-index
  embeds them (metadata included) with all-MiniLM-L6-v2 on torch (whatever
  ``QA_EMBED_BACKEND`` says), top 10 by exact cosine similarity;
  embeddings are cached under ``--cache`` in resumable parts (its 34,587 chunks take about
  40 CPU-minutes on 2 cores).
- ``vector``, ``bm25``, ``hybrid``, ``diverse``, ``outlets``, ``dates``, ``clauses``,
  ``final``: our index (sentence chunks of at most 256 word-pieces with a headline line) and
  the steps of ``qa.retrieval.retrieve``, each adding one thing to the row before it. ``final`` runs
  first and alone has its latency measured; the other rows reuse its query scores.

MultiHop-RAG: Tang & Yang, COLM 2024, ODC-BY 1.0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.embedding.embed import embedder_for
from qa.faces.eval import evaluate_retrieval, format_retrieval, load_queries
from qa.retrieval.retrieve import RetrievalOptions, Retriever
from qa.store.build import build_index
from qa.store.index import ArticleIndex

RESULTS = Path(__file__).resolve().parent / "results"
PLAIN = RetrievalOptions(per_article=10, outlets=False, dates=False, hops_first=False,
                         clauses=False, claims=False)
STEPS: dict[str, tuple[str, RetrievalOptions]] = {
    "vector": ("embedding similarity only (all-MiniLM-L6-v2)", replace(PLAIN, keyword=False)),
    "bm25": ("BM25 only (bm25s, English stemmer and stop words)", replace(PLAIN, vector=False)),
    "hybrid": ("BM25 + embedding, weighted reciprocal rank fusion (embedding weight 0.3)",
               PLAIN),
    "diverse": ("+ at most 5 passages per article", replace(PLAIN, per_article=5)),
    "outlets": ("+ one hop per named outlet, ranked among its passages, its best article first",
                replace(PLAIN, per_article=5, outlets=True, hops_first=True)),
    "dates": ("+ named days and times rank that day's articles of the hop first",
              replace(PLAIN, per_article=5, outlets=True, hops_first=True, dates=True)),
    "clauses": ("+ each mention also ranked by the words that follow it",
                replace(PLAIN, per_article=5, outlets=True, hops_first=True, dates=True,
                        clauses=True)),
    "final": ("+ each comma-separated claim gets its best passage (the default)",
              RetrievalOptions()),
}
_VECTORS: dict[str, np.ndarray] = {}
_KEYWORDS: dict[str, np.ndarray] = {}


class _Memo(Retriever):
    """Remembers each text's embedding and BM25 scores, so the ablation rows after the first
    cost no embedding (their latency is then not measured)."""

    def embed_question(self, text):  # type: ignore[no-untyped-def]
        if text not in _VECTORS:
            _VECTORS[text] = super().embed_question(text)
        return _VECTORS[text]

    def keyword_scores(self, question):  # type: ignore[no-untyped-def]
        if question not in _KEYWORDS:
            _KEYWORDS[question] = super().keyword_scores(question)
        return _KEYWORDS[question]


def _embed_resumable(texts: list[str], embedder: object, folder: Path,
                     part: int = 1024) -> np.ndarray:
    """Embed in parts saved as they finish, so a stopped run resumes where it was."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for n, start in enumerate(range(0, len(texts), part)):
        file = folder / f"part-{n:04d}.npy"
        if not file.is_file():
            print(f"embedding baseline chunks {start}-{start + part} of {len(texts)} "
                  f"into {folder}", file=sys.stderr, flush=True)
            vectors = embedder.get_text_embedding_batch(texts[start : start + part])
            np.save(file.with_suffix(".tmp.npy"), np.asarray(vectors, dtype=np.float32))
            file.with_suffix(".tmp.npy").rename(file)
        parts.append(np.load(file))
    return np.concatenate(parts)


def baseline_search(corpus: Path, embedder: object, cache: Path) -> Callable[[str], list[str]]:
    """The paper's reference retriever, built with llama-index as its script does."""
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    records = json.loads(corpus.read_text(encoding="utf-8"))
    docs = [Document(text=r["body"], metadata={
        "title": r["title"], "published_at": r["published_at"], "source": r["source"]})
        for r in records]
    nodes = SentenceSplitter(chunk_size=256).get_nodes_from_documents(docs)
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    label = embedder.info.label()  # type: ignore[attr-defined]
    key = hashlib.sha256("\x00".join([label, *texts]).encode()).hexdigest()[:16]
    vectors = _embed_resumable(texts, embedder, cache / f"baseline-{key}")
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    passages = [n.get_content() for n in nodes]

    def search(question: str) -> list[str]:
        # exact cosine top 10, the same ranking as llama-index's in-memory vector store
        # (which rebuilds a 34k x 384 array per query); torch keeps OpenBLAS threads idle
        import torch

        query = torch.tensor(embedder.get_query_embedding(question), dtype=torch.float32)
        sims = torch.from_numpy(vectors) @ torch.nn.functional.normalize(query, dim=0)
        return [passages[int(i)] for i in torch.topk(sims, 10).indices]

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--index", type=Path, default=None,
                        help="index folder to build or reuse (default: QA_INDEX_DIR)")
    parser.add_argument("--rows", default="all", help="comma-separated rows, or 'all'")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/qa-bench-cache"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    rows = ["final", *STEPS, "baseline"] if args.rows == "all" else args.rows.split(",")
    rows = list(dict.fromkeys(rows))
    settings = Settings.load(index_dir=args.index, progress=False)
    queries = load_queries(args.queries, limit=args.limit)
    index = ArticleIndex(settings)
    report = build_index(args.corpus, settings, index=index)
    print(f"index {settings.index_dir}: {report.summary()}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row == "baseline":
            label = ("paper's setup: SentenceSplitter(chunk_size=256), top 10 by similarity "
                     "(all-MiniLM-L6-v2, torch fp32 as llama-index runs it)")
            torch_settings = settings.model_copy(update={"embed_backend": "torch"})
            search = baseline_search(args.corpus, embedder_for(torch_settings), args.cache)
            options = None
            timed = True
        else:
            label, options = STEPS[row]
            retriever = _Memo(ArticleIndex(settings, embedder=index.embedder), options)
            retriever.warm()
            timed = not _VECTORS and not _KEYWORDS
            search = lambda q, r=retriever: [p.chunk.text for p in r.retrieve(q, top_k=10)]  # noqa: E731
        started = time.perf_counter()
        result = evaluate_retrieval(queries, search)
        if not timed:
            result["latency_ms"] = {"p50": None, "p95": None}
        print(f"\n== {row}: {label} ({time.perf_counter() - started:.0f}s)")
        print(format_retrieval(result) if timed else format_retrieval(
            {**result, "latency_ms": {"p50": float("nan"), "p95": float("nan")}}))
        record = {"row": row, "label": label, "queries_file": args.queries.name,
                  "limit": args.limit, "options": asdict(options) if options else None,
                  "date": time.strftime("%Y-%m-%d"), "report": result}
        (args.out / f"retrieval-{row}.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
