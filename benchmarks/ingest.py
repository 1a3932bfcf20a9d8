"""Ingest throughput: ours vs llama-index's default pipeline vs the embedder alone.

    python benchmarks/ingest.py --corpus ../shared/eval/multihop-rag/corpus.json [--articles 80]

Runs ``qa.eval.run_ingest`` (what ``qa eval ingest`` runs) and writes
``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from qa.config import Settings
from qa.eval import format_ingest, run_ingest

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--articles", type=int, default=None,
                        help="only the first N articles of a JSON corpus (the whole corpus "
                             "takes about 45 CPU-minutes of embedding)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    corpus, name = args.corpus, args.corpus.name
    with tempfile.TemporaryDirectory() as tmp:
        if args.articles:
            records = json.loads(args.corpus.read_text(encoding="utf-8"))[: args.articles]
            corpus = Path(tmp) / args.corpus.name
            corpus.write_text(json.dumps(records), encoding="utf-8")
            name = f"{args.corpus.name}, first {len(records)} articles"
        report = run_ingest(Settings.load(progress=False), corpus,
                            log=lambda m: print(m, file=sys.stderr))
    print(format_ingest(report))
    report["corpus"] = name
    report["date"] = time.strftime("%Y-%m-%d")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
