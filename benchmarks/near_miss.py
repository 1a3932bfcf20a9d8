"""Near-miss answers: does the product refuse when the articles do not hold the answer?

Each MultiHop-RAG question (Tang & Yang 2024, ODC-BY 1.0) in the chosen record range is asked
twice through the product's answer path (``qa.faces.eval.ask_short``): once over the whole corpus
(*present*; null questions are asked this way only), and once with its gold evidence articles
left out of retrieval (*absent*): the passages of those articles are dropped from a deeper
retrieval (4 x top_k) and the best top_k others kept, so the model reads articles near the
subject that do not hold the answer. The exclusion exists only in this benchmark.

    python benchmarks/near_miss.py --corpus ../shared/eval/multihop-rag/corpus.json \
        --queries ../shared/eval/multihop-rag/queries-dev.json --index /tmp/mh-index \
        --records 1-200 --out benchmarks/results/near-miss-1-200.json

Printed: refused when absent (target >= 0.90), refused when present (target <= 0.15, answerable
questions), accuracy of what was answered, what the second look rescued (right answers it gave
where the first pass declined) and fabricated (answers it gave when absent, wrong ones when
present), the support verdicts, and the median time the checks take once the model has
written (citations, answer rules, reading check when on). The present rows of
all types are scored as ``qa eval answers`` scores them. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ingest import cpu  # this folder's ingest benchmark

from qa.answering.reading import excerpts
from qa.config import Settings
from qa.faces.eval import ask_short, format_answers
from qa.faces.metrics import (
    NULL_TYPE,
    AnswerRow,
    answer_correct,
    answers_report,
    gold_citations,
    load_queries,
    short_answer,
)
from qa.models import ScoredChunk
from qa.retrieval.retrieve import Retriever
from qa.service import QAService

RESULTS = Path(__file__).resolve().parent / "results"


class Excluding:
    """A retriever that leaves some articles out: a deeper retrieval (4 x top_k) with their
    passages dropped and the best top_k others kept. Everything else is the retriever's."""

    def __init__(self, inner: Retriever, excluded: frozenset[str], top_k: int) -> None:
        self.inner, self.excluded, self.top_k = inner, excluded, top_k

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def retrieve(self, question: str, *, top_k: int | None = None, **options: Any
                 ) -> list[ScoredChunk]:
        k = top_k or self.top_k
        found = self.inner.retrieve(question, top_k=4 * k, **options)
        return [p for p in found if p.chunk.url not in self.excluded][:k]


class NearMissService(QAService):
    """The product's service, with a set of article URLs left out of retrieval, however the
    answer path reaches the retriever."""

    excluded: frozenset[str] = frozenset()

    @property
    def retriever(self) -> Retriever:
        inner = QAService.retriever.fget(self)  # type: ignore[attr-defined]
        if not self.excluded:
            return inner
        return Excluding(inner, self.excluded, self.settings.top_k)  # type: ignore[return-value]


def record_range(text: str) -> tuple[int, int]:
    """'1-200' -> (0, 200): 1-based inclusive records as a slice."""
    first, _, last = text.partition("-")
    return int(first) - 1, int(last or first)


def ask(service: NearMissService, q: Any, condition: str) -> dict[str, Any]:
    """One question under one condition, as a JSON-ready row."""
    service.excluded = frozenset(q.urls) if condition == "absent" else frozenset()
    answer = ask_short(service, q.text)
    short = "" if answer.refused else short_answer(answer.text)
    null = q.question_type == NULL_TYPE or condition == "absent"
    return {
        "question": q.text, "type": q.question_type, "gold": q.answer, "condition": condition,
        "refused": answer.refused, "second_look": answer.second_look, "short": short,
        "right": answer_correct(short, q.answer, refused=answer.refused,
                                null_query=q.question_type == NULL_TYPE),
        "right_if_absent": null and answer.refused,
        "text": answer.text, "unsupported": list(answer.unsupported),
        "verdict": getattr(answer, "verdict", ""),
        "support_score": getattr(answer, "support_score", None),
        "check_seconds": getattr(answer, "check_seconds", None),
        "quotes": [c.quote for c in answer.citations], "excerpts": excerpts(answer),
        "gold_citations": gold_citations(answer, q.facts), "citations": len(answer.citations),
        "seconds": answer.seconds, "prompt_tokens": answer.prompt_tokens,
        "first_token_seconds": answer.first_token_seconds,
        "evidence_seconds": answer.evidence_seconds,
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The near-miss figures of rows from ``ask``."""
    present = [r for r in rows if r["condition"] == "present" and r["type"] != NULL_TYPE]
    absent = [r for r in rows if r["condition"] == "absent"]
    answered = [r for r in present if not r["refused"]]

    def share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    checks = [r["check_seconds"] for r in rows if r["check_seconds"] is not None]
    return {
        "questions": len(present),
        "refused_when_absent": share(sum(r["refused"] for r in absent), len(absent)),
        "refused_when_present": share(sum(r["refused"] for r in present), len(present)),
        # refused, or shown as not founded: a named article not among those read, or nothing
        # supported
        "not_certified_when_absent": share(sum(r["refused"] or r["verdict"] in (
            "partial", "unsupported") for r in absent), len(absent)),
        "not_certified_when_present": share(sum(r["refused"] or r["verdict"] in (
            "partial", "unsupported") for r in present), len(present)),
        "accuracy_answered_present": share(sum(r["right"] for r in answered), len(answered)),
        "answered_present": len(answered),
        "accuracy_present": share(sum(r["right"] for r in present), len(present)),
        "answered_absent_right_anyway": sum(
            not r["refused"] and answer_correct(r["short"], r["gold"], refused=False,
                                                null_query=False) for r in absent),
        "second_look": {
            "rescued_present": sum(r["second_look"] and r["right"] for r in present),
            "wrong_present": sum(r["second_look"] and not r["right"] for r in present),
            "fabricated_absent": sum(r["second_look"] for r in absent),
        },
        "verdicts": {c: dict(Counter(r["verdict"] for r in rows if r["condition"] == c
                                     and not r["refused"])) for c in ("present", "absent")},
        "median_check_seconds": statistics.median(checks) if checks else None,
        "median_seconds": statistics.median(r["seconds"] for r in rows) if rows else None,
    }


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"{s['questions']} answerable questions, each asked with and without its evidence",
        f"refused when absent  {s['refused_when_absent']:.3f} (target >= 0.90)",
        f"refused when present {s['refused_when_present']:.3f} (target <= 0.15)",
        f"refused or flagged (partial, unsupported) when absent "
        f"{s['not_certified_when_absent']:.3f}, when present "
        f"{s['not_certified_when_present']:.3f}",
        f"accuracy of what was answered (present) {s['accuracy_answered_present']:.3f} "
        f"({s['answered_present']} answered); accuracy present {s['accuracy_present']:.3f}",
        f"absent but answered right anyway (another article holds it): "
        f"{s['answered_absent_right_anyway']}",
        "second look: rescued {rescued_present} right answers, gave {wrong_present} wrong ones "
        "when present and {fabricated_absent} when absent".format(**s["second_look"]),
        f"verdicts of answers: {s['verdicts']}",
    ]
    if s["median_check_seconds"] is not None:
        lines.append(f"median time the checks take after the model: "
                     f"{s['median_check_seconds']:.3f} s")
    lines.append(f"median seconds per answer: {s['median_seconds']:.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--records", default="1-200", help="1-based inclusive, e.g. 201-400")
    parser.add_argument("--label", default="", help="what was run, for docs/benchmarks.md")
    parser.add_argument("--present-only", action="store_true",
                        help="ask each question over the whole corpus only (qa eval answers)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the figures (default: benchmarks/results/near-miss-RECORDS.json)")
    parser.add_argument("--rows", type=Path, default=None,
                        help="also every question's row (its answer and quotes): keep it out "
                        "of the repository, it quotes the data set; benchmarks/reading_check.py "
                        "reads it")
    args = parser.parse_args()
    first, last = record_range(args.records)
    queries = load_queries(args.queries, limit=last)[first:]
    settings = Settings.load(index_dir=args.index, progress=False)
    service = NearMissService(settings)
    rows: list[dict[str, Any]] = []
    try:
        print(f"index {settings.index_dir}: {service.ingest(args.corpus).summary()}",
              file=sys.stderr)
        for n, q in enumerate(queries, start=1):
            conditions = ("present",) if q.question_type == NULL_TYPE or args.present_only \
                else ("present", "absent")
            for condition in conditions:
                row = ask(service, q, condition)
                rows.append(row)
                if args.rows:  # as it goes, so an interrupted run keeps what it did
                    with args.rows.with_suffix(".partial.jsonl").open("a") as f:
                        f.write(json.dumps(row) + "\n")
                print(f"[{n}/{len(queries)} {condition}] {q.question_type}: gold {q.answer!r}, "
                      f"got {'(refused)' if row['refused'] else repr(row['short'])}"
                      f"{' (second look)' if row['second_look'] else ''} {row['verdict']} "
                      f"in {row['seconds']:.1f}s", file=sys.stderr)
    finally:
        service.close()
    near = summary(rows)
    present = [AnswerRow(r["type"], r["right"], r["seconds"], r["refused"], r["citations"],
                         r["gold_citations"], r["prompt_tokens"], r["first_token_seconds"],
                         r["evidence_seconds"]) for r in rows if r["condition"] == "present"]
    answers = answers_report(present)
    print(f"== near miss, records {args.records}\n{format_summary(near)}")
    print(f"== qa eval answers, records {args.records} (present)\n{format_answers(answers)}")
    out = args.out or RESULTS / f"near-miss-{args.records}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    llm = settings.llm_model if settings.llm_base_url else \
        "the packaged Qwen2.5-Coder-1.5B (Q4_K_M)"
    out.write_text(json.dumps({"near_miss": near, "answers": answers, "records": args.records,
                               "label": args.label, "present_only": args.present_only,
                               "queries_file": args.queries.name, "llm": llm,
                               "reading_check": settings.reading_check,
                               "date": time.strftime("%Y-%m-%d"), "cpu": cpu()}, indent=1)
                   + "\n")
    if args.rows:
        args.rows.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
