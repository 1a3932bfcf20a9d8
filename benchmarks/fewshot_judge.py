"""A few-shot judge: can the local model, shown worked examples, tell whether the quotes an answer
cites state that answer? (Issue 28's list of readers to try; the labelled set is the one
``benchmarks/reading_check.py`` reads.)

Each answered row of near-miss runs (``benchmarks/near_miss.py --rows``; MultiHop-RAG, Tang & Yang
2024, ODC-BY 1.0) is put to the model after five worked examples written for this script (another
year's winner, a right amount, a "No" its quote contradicts, a caption read as a purchase, a right
"Yes"): "Do the quotes state this answer to the question? Reply Yes or No." One token is read;
the local server gives no log-probabilities (llama-cpp-python without ``logits_all``), so the
score is 1 for Yes, 0 for No and 0.5 otherwise. Labels as in ``reading_check.py``: strictly right
or not.

    python benchmarks/fewshot_judge.py --rows /tmp/near-miss-rows-1-165.json \\
        --corpus ../shared/eval/multihop-rag/corpus.json

Only the local LLM runs; run it on an idle machine. Rows of several runs are read once each.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from reading_check import _rows, auc, labelled

from qa.config import Settings
from qa.llm.client import make_llm

SYSTEM = ("You check answers to questions about news articles against the quoted sentences "
          "they cite. You judge only by the quotes, never by memory.")
ASK = "Do the quotes state this answer to the question?"
EXAMPLES = [
    ("Who won the 2018 final?", ["(Daily Sport, 2022-06-01) Lyon won the 2022 final after "
                                 "extra time."],
     "Lyon won the 2018 final [1].", "No. The quote is about the 2022 final, not 2018."),
    ("How much did Acme earn in the first quarter?",
     ["(Market Wire, 2023-04-20) Acme earned $4.2 million in the first quarter, the company "
      "said."],
     "Acme earned $4.2 million in the first quarter [1].",
     "Yes. The quote gives the amount for the first quarter."),
    ("Does the Harbour Ledger article say the tram would cut car traffic, while the Island "
     "Courier article reports that traffic fell after bike lanes opened?",
     ["(Harbour Ledger, 2023-09-12) Mayor Ilse Varn said the tram would cut car traffic in "
      "the harbour district.",
      "(Island Courier, 2023-10-03) Car traffic in the harbour district fell by a tenth after "
      "new bike lanes opened."],
     "No, the Harbour Ledger article does not say the tram would cut car traffic [1].",
     "No. Quote 1 says the tram would cut car traffic, so the answer should be Yes."),
    ("Which company bought Northsound?",
     ["(Tech Daily, 2023-05-02) See photos from Acquire's launch event, where Northsound's "
      "founder spoke."],
     "Acquire bought Northsound [1].", "No. The quote does not say that anyone bought Northsound."),
    ("Does the City Post report that the bridge reopened, and does the Valley News say the "
     "bridge reopened on Monday?",
     ["(City Post, 2023-03-02) The bridge reopened to traffic after two months of repairs.",
      "(Valley News, 2023-03-03) Drivers crossed the bridge on Monday for the first time since "
      "January, when it reopened."],
     "Yes, both report that the bridge reopened [1][2].",
     "Yes. Both quotes say the bridge reopened."),
]
_FINAL = re.compile(r"\n?\s*final answer\s*[:\-].*$", re.I | re.S)  # the benchmark's hint line


def case(question: str, quotes: list[str], answer: str) -> str:
    """One case as the judge reads it."""
    numbered = "\n".join(f"[{i}] {q}" for i, q in enumerate(quotes, start=1))
    return f"Question: {question}\nQuotes:\n{numbered}\nAnswer: {answer}\n{ASK}"


def prompt(question: str, quotes: list[str], answer: str) -> str:
    """The worked examples, then the case to judge."""
    shots = "\n\n".join(f"Example {n}\n{case(q, qs, a)} {verdict}"
                        for n, (q, qs, a, verdict) in enumerate(EXAMPLES, start=1))
    return f"{shots}\n\nNow this one\n{case(question, quotes, answer)} Reply Yes or No."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=Path, nargs="+", required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    args = parser.parse_args()
    corpus = json.loads(args.corpus.read_text())
    rows, seen = [], set()
    for path in args.rows:
        for r in _rows(path):
            key = (r["question"], r["condition"], r["text"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    items = labelled(rows, corpus)
    llm, server = make_llm(Settings.load(progress=False))
    try:
        for n, item in enumerate(items, start=1):
            user = prompt(item["question"], item["excerpts"], _FINAL.sub("", item["text"]).strip())
            started = time.perf_counter()
            reply = llm.complete([{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": user}], max_tokens=1)
            word = reply.strip().lower()
            score = 1.0 if word.startswith("yes") else 0.0 if word.startswith("no") else 0.5
            item.update(score=score, seconds=time.perf_counter() - started)
            print(f"[{n}/{len(items)}] {'right' if item['label'] else 'WRONG'} "
                  f"{item['condition']} {reply!r}", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()

    def line(name: str, chosen: list[dict[str, Any]]) -> str:
        right = [i["score"] for i in chosen if i["label"]]
        wrong = [i["score"] for i in chosen if not i["label"]]
        return (f"{name}: {len(right)} right, {len(wrong)} wrong; AUC {auc(right, wrong):.3f}; "
                f"Yes to {sum(s == 1 for s in right)} right and {sum(s == 1 for s in wrong)} "
                f"wrong")

    print(line("all answered rows", items))
    for kind in sorted({i["type"] for i in items}):
        print("  " + line(kind, [i for i in items if i["type"] == kind]))
    for condition in ("present", "absent"):
        print("  " + line(condition, [i for i in items if i["condition"] == condition]))
    print(f"median {statistics.median(i['seconds'] for i in items):.2f} s per judgement")


if __name__ == "__main__":
    main()
