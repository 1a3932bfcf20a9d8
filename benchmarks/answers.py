"""End-to-end answer accuracy and citation precision with the configured LLM, both evidence
paths (snippets and whole passages) on the same questions, scored strictly.

    python benchmarks/answers.py --corpus ../shared/eval/multihop-rag/corpus.json \
        --queries ../shared/eval/multihop-rag/queries-dev.json --index /tmp/mh-index --limit 60

Runs ``qa.faces.eval.run_answers`` (what ``qa eval answers --evidence both`` runs) and writes
``benchmarks/results/answers.json``. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ingest import cpu  # this folder's ingest benchmark

from qa.config import Settings
from qa.faces.eval import format_answers, load_queries, run_answers
from qa.service import QAService

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--evidence", choices=["snippets", "passages", "both"], default="both",
                        help="what the model reads; both: each question both ways, in turns")
    parser.add_argument("--out", type=Path, default=RESULTS / "answers.json")
    args = parser.parse_args()
    settings = Settings.load(index_dir=args.index, progress=False)
    service = QAService(settings)
    try:
        modes = ("snippets", "passages") if args.evidence == "both" else (args.evidence,)
        report = run_answers(service, args.corpus, load_queries(args.queries, limit=args.limit),
                             modes=modes, log=lambda m: print(m, file=sys.stderr))
    finally:
        service.close()
    for mode, rep in report.get("modes", {modes[0]: report}).items():
        print(f"== evidence: {mode}\n{format_answers(rep)}")
    local = "the packaged Qwen2.5-Coder-1.5B (Q4_K_M)"
    llm = settings.llm_model if settings.llm_base_url else local
    record = {"report": report, "queries_file": args.queries.name, "limit": args.limit,
              "llm": llm, "evidence_budget": settings.evidence_budget,
              "date": time.strftime("%Y-%m-%d"), "cpu": cpu()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
