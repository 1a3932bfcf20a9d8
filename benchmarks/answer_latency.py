"""Answer latency with the configured LLM: time to first token, total time, tokens/s.

Prints one row per question and a summary, for questions about the seed article and for the
first N questions of MultiHop-RAG's dev set (over an index of its corpus, built if missing).

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

from qa.config import Settings
from qa.models import Answer
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


def measure(service: QAService, question: str) -> dict[str, float | bool | int]:
    """Stream one answer; each streamed delta from the server is one generated token."""
    started = time.perf_counter()
    first = None
    tokens = 0
    final: Answer | None = None
    for item in service.stream(question):
        if isinstance(item, Answer):
            final = item
        else:
            tokens += 1
            if first is None:
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    assert final is not None
    gen_time = total - first if first is not None else 0.0
    if final.second_look:  # the second look arrives whole, not token by token
        first, tokens = total, 0
    return {
        "second_look": final.second_look,
        "ttft": first if first is not None else float("nan"),
        "total": total,
        "tokens": tokens,
        "tok_per_s": tokens / gen_time if gen_time > 0 else float("nan"),
        "refused": final.refused,
        "citations": len(final.citations),
    }


def summary(rows: list[dict[str, float | bool | int]]) -> dict[str, object]:
    """Medians and ranges over the streamed answers, counts over all of them."""
    streamed = [r for r in rows if r["tokens"]]
    out: dict[str, object] = {
        "questions": len(rows),
        "streamed": len(streamed),
        "second_look": sum(bool(r["second_look"]) for r in rows),
        "refused": sum(bool(r["refused"]) for r in rows),
        "rows": rows,
    }
    for key in ("ttft", "total", "tok_per_s"):
        values = [float(r[key]) for r in streamed]
        if values:
            out[key] = {"median": statistics.median(values), "min": min(values),
                        "max": max(values)}
    looks = [float(r["total"]) for r in rows if r["second_look"]]
    if looks:
        out["second_look_total_median"] = statistics.median(looks)
    return out


def report(name: str, rows: list[dict[str, float | bool | int]]) -> None:
    answered = [r for r in rows if r["tokens"]]
    looks = [float(r["total"]) for r in rows if r["second_look"]]
    print(f"\n== {name}: {len(rows)} questions, {len(answered)} streamed by the LLM")
    if looks:
        print(f"second look (the model declined, then answered when asked again): {len(looks)}, "
              f"total median {statistics.median(looks):.2f}s")
    if not answered:
        return
    for key in ("ttft", "total", "tok_per_s"):
        values = [float(r[key]) for r in answered]
        print(f"{key:>10}: median {statistics.median(values):7.2f}  "
              f"min {min(values):7.2f}  max {max(values):7.2f}")
    refused = sum(bool(r["refused"]) for r in rows)
    print(f"   refused: {refused}/{len(rows)} (refusals without an LLM call take no tokens)")


def run(service: QAService, name: str, questions: list[str]) -> dict[str, object]:
    rows = []
    for q in questions:
        row = measure(service, q)
        rows.append(row)
        print(f"ttft {row['ttft']:6.2f}s  total {row['total']:6.2f}s  "
              f"{row['tokens']:4d} tok  {row['tok_per_s']:5.1f} tok/s  "
              f"cites {row['citations']}{' 2nd' if row['second_look'] else ''}  {q[:70]}",
              flush=True)
    report(name, rows)
    return summary(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20, help="MultiHop questions (default 20)")
    parser.add_argument("--multihop-index", type=Path, default=Path("indexes/multihop"),
                        help="index of the MultiHop corpus (built when missing)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    base = Settings.load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "seed"
        folder.mkdir()
        shutil.copy(SEED, folder / SEED.name)
        seed = QAService(base.model_copy(update={"index_dir": Path(tmp) / "index"}))
        seed.ingest(folder)
        seed.ask("Warm-up: who is the NATO Secretary General?")  # starts the server, loads
        results = {"seed": run(seed, "seed article", SEED_QUESTIONS)}

        multihop = QAService(base.model_copy(update={"index_dir": args.multihop_index}),
                             llm=seed.llm)
        if multihop.stats().chunks == 0:
            print(f"\nindexing {MULTIHOP / 'corpus.json'} into {args.multihop_index} …")
            print(multihop.ingest(MULTIHOP / "corpus.json").summary())
        queries = json.loads((MULTIHOP / "queries-dev.json").read_text(encoding="utf-8"))
        results["multihop"] = run(
            multihop, "MultiHop-RAG dev", [q["query"] for q in queries[: args.limit]]
        )
        seed.close()
    if args.out:
        results["llm"] = base.llm_base_url or "the packaged Qwen2.5-Coder-1.5B Q4_K_M, local"
        results["limit"] = args.limit
        args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
