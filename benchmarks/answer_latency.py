"""Answer latency, evidence path against passage path, on the same questions in one run.

For the seed article's questions and the first N of MultiHop-RAG's dev set (over an index of
its corpus, built if missing), each question is answered once per path, the two paths taking
turns so both meet the same server state. Prints, per path: median prompt tokens (the model's
own count), time to first evidence, time to first token and total time, with ranges. Run it on
an idle machine: any other CPU work slows the local model several-fold.

    .venv/bin/python benchmarks/answer_latency.py [--multihop-index DIR] [--limit 20] \
        [--out benchmarks/results/latency.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest import cpu  # this folder's ingest benchmark

from qa.config import Settings
from qa.models import Answer, Evidence
from qa.service import QAService

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED = SHARED / "seed" / "nato-ukraine-stoltenberg.txt"
MULTIHOP = SHARED / "eval" / "multihop-rag"
SEED_QUESTIONS = [
    "How much military aid have NATO allies delivered to Ukraine?",
    "Where did Stoltenberg speak to reporters on Friday?",
    "Who did Stoltenberg meet in Kyiv?",
    "Which city did Stoltenberg visit that saw Russian atrocities?",
    "What is the population of Brazil?",
]
PATHS = ("snippets", "passages")


def measure(service: QAService, question: str, mode: str) -> dict[str, Any]:
    """Stream one answer and time its events (seconds from the call)."""
    started = time.perf_counter()
    evidence_s = first_s = None
    final: Answer | None = None
    snippets = 0
    for item in service.stream(question, evidence=mode):
        now = time.perf_counter() - started
        if isinstance(item, Evidence):
            evidence_s, snippets = now, len(item.snippets)
        elif isinstance(item, Answer):
            final = item
        elif first_s is None:
            first_s = now
    total = time.perf_counter() - started
    assert final is not None
    return {"mode": mode, "question": question, "evidence_s": evidence_s,
            "first_text_s": first_s, "first_token_s": final.first_token_seconds,
            "total_s": total, "prompt_tokens": final.prompt_tokens,
            "completion_tokens": final.completion_tokens, "snippets": snippets,
            "citations": len(final.citations), "refused": final.refused,
            "second_look": final.second_look, "unsupported": len(final.unsupported),
            "text": final.text}


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and ranges over the answers that reached the model; counts over all."""
    asked = [r for r in rows if r["prompt_tokens"]]
    return {
        "questions": len(rows),
        "model_answers": len(asked),
        "refused": sum(r["refused"] for r in rows),
        "second_look": sum(r["second_look"] for r in rows),
        "prompt_tokens": _stats([r["prompt_tokens"] for r in asked]),
        "evidence_s": _stats([r["evidence_s"] for r in rows if r["evidence_s"] is not None]),
        "first_token_s": _stats([r["first_token_s"] for r in asked
                                 if r["first_token_s"] is not None]),
        "total_s": _stats([r["total_s"] for r in asked]),
        "rows": rows,
    }


def report(name: str, results: dict[str, dict[str, Any]]) -> None:
    print(f"\n== {name}")
    print(f"{'path':<9} {'n':>3} {'model':>5} {'prompt tok':>11} {'evidence s':>11} "
          f"{'1st token s':>12} {'total s':>9}")
    for mode, s in results.items():
        def med(key: str, digits: int = 1, s: dict[str, Any] = s) -> str:
            v = s[key]
            return "—" if v is None else f"{v['median']:.{digits}f}"
        print(f"{mode:<9} {s['questions']:>3} {s['model_answers']:>5} {med('prompt_tokens', 0):>11}"
              f" {med('evidence_s', 2):>11} {med('first_token_s'):>12} {med('total_s'):>9}")
    a, b = results.get("snippets"), results.get("passages")
    if a and b and a["first_token_s"] and b["first_token_s"]:
        print(f"first token, snippets / passages: "
              f"{a['first_token_s']['median'] / b['first_token_s']['median']:.2f}")


def run(service: QAService, name: str, questions: list[str]) -> dict[str, Any]:
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in PATHS}
    for n, q in enumerate(questions):
        order = PATHS if n % 2 == 0 else PATHS[::-1]  # neither path always goes first
        for mode in order:
            row = measure(service, q, mode)
            rows[mode].append(row)
            print(f"{mode:<9} evidence {row['evidence_s'] or 0:5.2f}s  first token "
                  f"{row['first_token_s'] or 0:6.2f}s  total {row['total_s']:6.2f}s  "
                  f"{row['prompt_tokens'] or 0:5d} prompt tok  cites {row['citations']}"
                  f"{' 2nd' if row['second_look'] else ''}{' refused' if row['refused'] else ''}"
                  f"  {q[:60]}", flush=True)
    results = {m: summary(r) for m, r in rows.items()}
    report(name, results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20, help="MultiHop questions (default 20)")
    parser.add_argument("--multihop-index", type=Path, default=Path("indexes/multihop"),
                        help="index of the MultiHop corpus (built when missing)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    base = Settings.load()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "seed"
        folder.mkdir()
        shutil.copy(SEED, folder / SEED.name)
        seed = QAService(base.model_copy(update={"index_dir": Path(tmp) / "index"}))
        seed.ingest(folder)
        seed.warm_up().join()
        seed.ask("Warm-up: who is the NATO Secretary General?")  # starts the server, loads
        results["seed"] = run(seed, "seed article", SEED_QUESTIONS)

        multihop = QAService(base.model_copy(update={"index_dir": args.multihop_index}),
                             llm=seed.llm)
        if multihop.stats().chunks == 0:
            print(f"\nindexing {MULTIHOP / 'corpus.json'} into {args.multihop_index} …")
            print(multihop.ingest(MULTIHOP / "corpus.json").summary())
        multihop.retriever.warm()
        queries = json.loads((MULTIHOP / "queries-dev.json").read_text(encoding="utf-8"))
        results["multihop"] = run(
            multihop, "MultiHop-RAG dev", [q["query"] for q in queries[: args.limit]]
        )
        seed.close()
    if args.out:
        results["llm"] = base.llm_base_url or "the packaged Qwen2.5-Coder-1.5B Q4_K_M, local"
        results["limit"] = args.limit
        results["date"] = time.strftime("%Y-%m-%d")
        results["cpu"] = cpu()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
