"""MultiHop-RAG (Tang & Yang, 2024; ODC-BY 1.0) questions and how answers to them are scored,
pure functions only; ``qa.faces.eval`` runs the harnesses.

Retrieval is scored exactly as the paper's ``retrieval_evaluate.py`` does it: null queries left
out, spaces and newlines stripped from passages and gold facts, a passage relevant when some
gold fact is a substring of it. Two figures the paper lacks are added for multi-hop questions:
FactRecall@10 and AllFacts@10. Answers are scored strictly (see ``answer_correct``), and their
citations by whether the quoted text holds a gold fact whole (``gold_citations``).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.models import Answer

NULL_TYPE = "null_query"
ATTRIBUTION = (
    "MultiHop-RAG (Tang & Yang, COLM 2024), licensed ODC-BY 1.0; "
    "https://github.com/yixuantt/MultiHop-RAG"
)


# --- data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One benchmark question with its gold answer and gold evidence facts."""

    text: str
    answer: str
    question_type: str
    facts: tuple[str, ...]
    sources: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()  # the evidence articles' URLs (the near-miss benchmark's exclusion)


def load_queries(path: Path, *, limit: int | None = None) -> list[Query]:
    """Queries from a MultiHop-RAG JSON file; ``limit`` keeps the first N records (nulls too)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read queries from {path}: {exc}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of queries")
    queries = []
    for rec in data[:limit] if limit else data:
        evidence = rec.get("evidence_list") or []
        queries.append(Query(
            text=rec["query"], answer=str(rec.get("answer", "")),
            question_type=rec.get("question_type", "unknown"),
            facts=tuple(e["fact"] for e in evidence),
            sources=tuple(e.get("source", "") for e in evidence),
            urls=tuple(dict.fromkeys(e.get("url", "") for e in evidence if e.get("url"))),
        ))
    return queries


# --- retrieval metrics (pure) ---------------------------------------------------------------


def squash(text: str) -> str:
    """The paper's normalisation: every space and newline removed."""
    return text.replace(" ", "").replace("\n", "")


@dataclass(frozen=True)
class QueryScores:
    """Per-query figures over one ranked passage list (the first 10 count)."""

    hits4: float
    hits10: float
    rr10: float
    ap10: float
    fact_recall10: float
    all_facts10: float


def score_query(passages: Sequence[str], facts: Sequence[str], *, k: int = 10) -> QueryScores:
    """Hits@4/@10, reciprocal rank, average precision and fact recall of one ranked list."""
    gold = [squash(f) for f in facts]
    found: list[str] = []  # distinct gold strings already found, as the paper's find_gold
    found_idx: set[int] = set()  # which gold items (by position) occur in the top k
    first = None
    ap = 0.0
    for rank, passage in enumerate((squash(p) for p in passages[:k]), start=1):
        hits = [i for i, g in enumerate(gold) if g in passage]
        if not hits:
            continue
        if first is None:
            first = rank
        found_idx.update(hits)
        new = 0
        for i in hits:
            if gold[i] not in found:
                new += 1
                found.append(gold[i])
        ap += new / rank
    recall = len(found_idx) / len(gold) if gold else 0.0
    return QueryScores(
        hits4=float(first is not None and first <= 4),
        hits10=float(first is not None),
        rr10=1.0 / first if first else 0.0,
        ap10=ap / min(len(gold), k) if gold else 0.0,
        fact_recall10=recall,
        all_facts10=float(bool(gold) and len(found_idx) == len(gold)),
    )


_KEYS = {"hits4": "hits@4", "hits10": "hits@10", "rr10": "mrr@10", "ap10": "map@10",
         "fact_recall10": "fact_recall@10", "all_facts10": "all_facts@10"}


def mean_scores(scores: Sequence[QueryScores]) -> dict[str, float]:
    """Averages under the report's key names (zeros for an empty list)."""
    n = len(scores)
    return {name: (sum(getattr(s, f) for s in scores) / n if n else 0.0)
            for f, name in _KEYS.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (``q`` in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def retrieval_report(rows: Iterable[tuple[str, QueryScores]],
                     latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Overall and per question type means, with latency p50/p95 (non-null queries only)."""
    rows = list(rows)
    by_type: dict[str, list[QueryScores]] = defaultdict(list)
    for qtype, s in rows:
        by_type[qtype].append(s)
    report: dict[str, Any] = {"queries": len(rows), **mean_scores([s for _t, s in rows])}
    report["per_type"] = {t: {"queries": len(v), **mean_scores(v)}
                          for t, v in sorted(by_type.items())}
    report["latency_ms"] = {"p50": percentile(latencies_ms, 50),
                            "p95": percentile(latencies_ms, 95)}
    return report


def evaluate_retrieval(queries: Sequence[Query], search: Callable[[str], Sequence[str]], *,
                       k: int = 10) -> dict[str, Any]:
    """Run ``search`` (question -> ranked passage texts) on every non-null query and score it."""
    rows, latencies = [], []
    for q in queries:
        if q.question_type == NULL_TYPE or not q.facts:
            continue
        started = time.perf_counter()
        passages = list(search(q.text))
        latencies.append((time.perf_counter() - started) * 1000)
        rows.append((q.question_type, score_query(passages, q.facts, k=k)))
    return retrieval_report(rows, latencies)


# --- answer scoring (pure) ----------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_FINAL = re.compile(r"final answer\s*[:\-]\s*(.+)", re.I)
# "Yes," / "No." / "No — …", not "No-deal Brexit …": a hyphen counts only with a space before it
_YES_NO = re.compile(r"(yes|no)(?:\s*[,.;:!—–]|\s+-)", re.I)
SHORT_ANSWER_HINT = (
    "After your answer, write one last line: 'Final answer:' followed by only the few words "
    "(a name, number or word) that answer the question, or Yes or No for a yes-or-no question."
)


def normalise_answer(text: str) -> str:
    """Lower case, punctuation and articles dropped, spaces collapsed."""
    text = re.sub(r"['’]s\b", "", text.lower())
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def short_answer(text: str) -> str:
    """The model's ``Final answer:`` line, else its first sentence, without citation markers;
    a first sentence that opens with "Yes," or "No," (then its reasons) is that word."""
    text = re.sub(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]", "", text)
    finals = _FINAL.findall(text)
    if finals:
        return finals[-1].strip()
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0].strip()
    opening = _YES_NO.match(first)
    return opening.group(1) if opening else first


def answer_correct(short: str, gold: str, *, refused: bool, null_query: bool) -> bool:
    """Strict: Yes/No must be that word; else equal to or containing the gold as whole words.

    A null query is right only when the system says the articles do not hold the answer.
    """
    if null_query:
        return refused
    if refused:
        return False
    got, want = normalise_answer(short), normalise_answer(gold)
    if not want:
        return False
    if want in ("yes", "no"):
        return got == want
    return got == want or f" {want} " in f" {got} "


@dataclass(frozen=True)
class AnswerRow:
    """One answered benchmark question: right or not, and how its citations fared."""

    question_type: str
    right: bool
    seconds: float
    refused: bool
    citations: int
    gold_citations: int  # citations whose quote contains a gold evidence fact
    prompt_tokens: int | None = None
    first_token_seconds: float | None = None
    evidence_seconds: float | None = None


def gold_citations(answer: Answer, facts: Sequence[str]) -> int:
    """How many of the answer's citations quote a gold evidence fact whole (spaces and
    newlines removed, as the paper compares passages with facts)."""
    wanted = [squash(f) for f in facts if f.strip()]
    return sum(any(f in squash(c.quote) for f in wanted) for c in answer.citations)


def answers_report(rows: Sequence[AnswerRow]) -> dict[str, Any]:
    """Accuracy overall and per type; citation precision (share of citations quoting a gold
    fact) and the share of answered questions with at least one such citation, over answered
    questions with gold facts; medians of prompt tokens and times."""
    by_type: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_type[row.question_type].append(row.right)
    n = len(rows)
    answered = [r for r in rows if not r.refused and r.question_type != NULL_TYPE]
    cites = sum(r.citations for r in answered)

    def median(values: Iterable[float | int | None]) -> float | None:
        got = [float(v) for v in values if v is not None]
        return statistics.median(got) if got else None

    return {
        "queries": n,
        "accuracy": sum(r.right for r in rows) / n if n else 0.0,
        "per_type": {t: {"queries": len(v), "accuracy": sum(v) / len(v)}
                     for t, v in sorted(by_type.items())},
        "seconds_per_answer": statistics.fmean(r.seconds for r in rows) if n else 0.0,
        "answered": len(answered),
        "citations": cites,
        "citation_precision": sum(r.gold_citations for r in answered) / cites if cites else 0.0,
        "answered_with_gold_citation": (sum(r.gold_citations > 0 for r in answered)
                                        / len(answered) if answered else 0.0),
        "median_prompt_tokens": median(r.prompt_tokens for r in rows),
        "median_first_token_s": median(r.first_token_seconds for r in rows),
        "median_evidence_s": median(r.evidence_seconds for r in rows),
    }
