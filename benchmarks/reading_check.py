"""How well the reading check (``qa.answering.reading``) tells right answers from wrong ones.

The labelled set is every answered row of near-miss runs (``benchmarks/near_miss.py --rows``):
an answer is right when it is strictly right for its MultiHop-RAG question (Tang & Yang 2024,
ODC-BY 1.0), wrong otherwise (an answer to a null question, or any wrong one; with the
evidence left out, an answer that is right anyway counts as right). Each is read again by the
check over the quotes it cited; the figures are the area under the ROC curve of its score
(the probability that a random right answer scores above a random wrong one, ties counting
half) and, at the threshold, the share of right and of wrong answers it confirms.

    python benchmarks/reading_check.py --rows /tmp/near-miss-rows-1-200.json \
        --corpus ../shared/eval/multihop-rag/corpus.json --threshold 0.5

Rows from older runs that lack the cited excerpts get them back from the corpus (the article
whose body holds the quote). Only the local LLM runs; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from qa.answering.answer import Prompts
from qa.answering.reading import ReadingCheck
from qa.config import Settings
from qa.faces.metrics import answer_correct
from qa.llm.client import make_llm


def auc(positives: list[float], negatives: list[float]) -> float:
    """Mann-Whitney estimate of the ROC AUC, ties counting half (0.5 when a side is empty)."""
    if not positives or not negatives:
        return 0.5
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def labelled(rows: list[dict[str, Any]], corpus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answered rows with their label (right or not) and excerpts."""
    out = []
    for r in rows:
        if r["refused"] or not r["quotes"]:
            continue
        right = r["type"] != "null_query" and answer_correct(
            r["short"], r["gold"], refused=False, null_query=False)
        excerpts = r.get("excerpts") or [_excerpt(q, corpus) for q in r["quotes"]]
        out.append({**r, "label": right, "excerpts": excerpts})
    return out


def _rows(path: Path) -> list[dict[str, Any]]:
    """A ``--rows`` file, or the ``.partial.jsonl`` an interrupted run leaves."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def _excerpt(quote: str, corpus: list[dict[str, Any]]) -> str:
    for a in corpus:
        if quote in a["body"]:
            return f'From "{a["title"]}" ({a["source"]}, {a["published_at"][:10]}): {quote}'
    return quote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=Path, nargs="+", required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=None, help="scored rows (keep out of git)")
    args = parser.parse_args()
    corpus = json.loads(args.corpus.read_text())
    rows = [r for path in args.rows for r in _rows(path)]
    items = labelled(rows, corpus)
    llm, server = make_llm(Settings.load(progress=False))
    prompts = Prompts.load()
    reader = ReadingCheck(llm, prompts.system.render(), prompts.reading)
    try:
        for n, item in enumerate(items, start=1):
            reading = reader.read(item["question"], item["text"], item["excerpts"])
            item.update(reply=reading.reply, score=reading.score, check_seconds=reading.seconds)
            print(f"[{n}/{len(items)}] {'right' if item['label'] else 'WRONG'} "
                  f"{item['condition']} score {reading.score:.2f} reply {reading.reply!r} "
                  f"({reading.seconds:.2f}s)", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
    right = [i["score"] for i in items if i["label"]]
    wrong = [i["score"] for i in items if not i["label"]]
    t = args.threshold
    print(f"{len(items)} answered rows: {len(right)} right, {len(wrong)} wrong")
    print(f"AUC {auc(right, wrong):.3f}")
    print(f"at threshold {t}: confirms {sum(s >= t for s in right)}/{len(right)} right and "
          f"{sum(s >= t for s in wrong)}/{len(wrong)} wrong answers")
    for kind in sorted({i["type"] for i in items}):
        r = [i["score"] for i in items if i["label"] and i["type"] == kind]
        w = [i["score"] for i in items if not i["label"] and i["type"] == kind]
        print(f"  {kind:<18} AUC {auc(r, w):.3f}: confirms {sum(s >= t for s in r)}/{len(r)} "
              f"right, {sum(s >= t for s in w)}/{len(w)} wrong")
    print(f"median check {statistics.median(i['check_seconds'] for i in items):.2f} s")
    if args.out:
        args.out.write_text(json.dumps(items, indent=1) + "\n")


if __name__ == "__main__":
    main()
