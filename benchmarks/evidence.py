"""Evidence selection without the LLM: how much gold evidence the model would read, and how
many tokens it costs, for picked snippets against whole passages.

For each question of queries-dev.json (null queries left out): retrieve, then select evidence
both ways, and report per mode the share of gold facts held whole by one snippet (spaces and
newlines removed, as the paper matches facts) and by the evidence as a whole, the share of
questions with all their facts, the share of questions answered by a name or a phrase (not
yes or no) whose gold answer the model reads (headings and full names included, any case),
tokens of evidence (embedder word-pieces), snippets per question and selection time (the
service's own ``select_evidence`` call: the read of the articles' opening chunks and the
one-core query-time embedding included).
``--budget`` and friends try other selection settings; the first budget is also run without
full names (``qa.text.names``) for comparison. The row "default" is what the service picks
itself: ``QA_EVIDENCE_BUDGET``, or ``QA_JOINED_EVIDENCE_BUDGET`` for a question that joins
articles.

    python benchmarks/evidence.py --index /tmp/mh-index --limit 200 [--budget 320 ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from qa.answering.answer import Prompts, evidence_block
from qa.answering.evidence import SelectionOptions
from qa.config import Settings
from qa.faces.metrics import NULL_TYPE, load_queries
from qa.service import QAService

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
QUERIES = SHARED / "eval" / "multihop-rag" / "queries-dev.json"


def squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="index of corpus.json")
    parser.add_argument("--limit", type=int, default=200, help="first N question records")
    parser.add_argument("--budget", type=int, nargs="*", default=[320])
    parser.add_argument("--min-share", type=float, default=SelectionOptions.min_share)
    parser.add_argument("--embedding-weight", type=float,
                        default=SelectionOptions.embedding_weight)
    parser.add_argument("--no-embed", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()

    service = QAService(Settings.load(index_dir=args.index, progress=False))
    service.retriever.warm()
    tokenizer = service._index.tokenizer

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    queries = [q for q in load_queries(QUERIES, limit=args.limit)
               if q.question_type != NULL_TYPE]
    prompts = Prompts.load()
    settings = service.settings
    default = (f"default ({settings.evidence_budget}, joined "
               f"{settings.joined_evidence_budget})")
    modes = [("passages", None, True), (default, 0, True)] + [
        (f"snippets@{b}", b, True) for b in args.budget] + [
        (f"snippets@{args.budget[0]}, no full names", args.budget[0], False)]
    rows: dict[str, list[dict[str, float]]] = {m: [] for m, _b, _n in modes}
    for q in queries:
        passages = service.retrieve(q.text)
        facts = [squash(f) for f in q.facts]
        named = q.answer.lower() not in ("yes", "no")
        for mode, budget, names in modes:
            started = time.perf_counter()
            snippets = service.select_evidence(
                q.text, passages, mode="passages" if budget is None else "snippets",
                options=None if not budget else SelectionOptions(
                    budget=budget, passages=service.settings.evidence_passages,
                    min_share=args.min_share, embedding_weight=args.embedding_weight,
                    embed=not args.no_embed, full_names=names))
            seconds = time.perf_counter() - started
            texts = [squash(s.prompt_text) for s in snippets]
            whole = "".join(texts)
            one = sum(any(f in t for t in texts) for f in facts)
            rows[mode].append({
                "facts": len(facts), "in_one": one, "in_all": sum(f in whole for f in facts),
                "tokens": sum(count(s.prompt_text) for s in snippets),
                "snippets": len(snippets), "seconds": seconds, "named": named,
                "answer_held": named and q.answer.lower() in evidence_block(
                    snippets, prompts).lower(),
            })
    report = {}
    for mode, got in rows.items():
        facts = sum(r["facts"] for r in got)
        report[mode] = {
            "questions": len(got),
            "fact_recall_one_snippet": sum(r["in_one"] for r in got) / facts,
            "fact_recall": sum(r["in_all"] for r in got) / facts,
            "all_facts": sum(r["in_all"] == r["facts"] for r in got) / len(got),
            # a question whose evidence holds no gold fact cannot be answered with a citation
            # that quotes one: a ceiling on "answered with a gold citation"
            "any_fact": sum(r["in_one"] > 0 for r in got) / len(got),
            "named_questions": sum(r["named"] for r in got),
            "answer_held": sum(r["answer_held"] for r in got) / max(1, sum(r["named"]
                                                                      for r in got)),
            "median_tokens": statistics.median(r["tokens"] for r in got),
            "median_snippets": statistics.median(r["snippets"] for r in got),
            "selection_p50_ms": 1000 * statistics.median(r["seconds"] for r in got),
        }
        r = report[mode]
        print(f"{mode:<16} facts held by one snippet {r['fact_recall_one_snippet']:.3f}, "
              f"by all {r['fact_recall']:.3f}, all facts {r['all_facts']:.3f}, a fact in one "
              f"snippet {r['any_fact']:.3f}, answer held "
              f"{r['answer_held']:.3f} of {r['named_questions']}; median "
              f"{r['median_tokens']:.0f} tokens in {r['median_snippets']:.0f} snippets; "
              f"selection p50 {r['selection_p50_ms']:.0f} ms")
    if args.out:
        args.out.write_text(json.dumps({"limit": args.limit, "report": report}, indent=1))


if __name__ == "__main__":
    main()
