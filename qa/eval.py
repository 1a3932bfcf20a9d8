"""Benchmarks on MultiHop-RAG (Tang & Yang, 2024; ODC-BY 1.0): ``qa eval retrieval|answers|ingest``.

Retrieval is scored exactly as the paper's ``retrieval_evaluate.py`` does it: null queries left
out, spaces and newlines stripped from passages and gold facts, a passage relevant when some
gold fact is a substring of it. Two figures the paper lacks are added for multi-hop questions:
FactRecall@10 and AllFacts@10. Answers are scored strictly (see ``answer_correct``).
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from qa.config import Settings
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
    """The model's ``Final answer:`` line, else its first sentence, without citation markers."""
    text = re.sub(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]", "", text)
    finals = _FINAL.findall(text)
    if finals:
        return finals[-1].strip()
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    return first.strip()


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


# --- harnesses --------------------------------------------------------------------------------


def eval_settings(settings: Settings, corpus: Path) -> Settings:
    """Benchmark indexes live apart from the user's: QA_INDEX_DIR or --index, else the cache."""
    if "index_dir" in settings.model_fields_set:
        return settings
    import hashlib

    key = hashlib.sha256(str(Path(corpus).resolve()).encode()).hexdigest()[:8]
    return settings.model_copy(
        update={"index_dir": settings.cache_dir / "eval" / f"{Path(corpus).stem}-{key}"})


def run_retrieval(service: Any, corpus: Path, queries: Sequence[Query], *, top_k: int = 10,
                  log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Build or update ``service``'s index of ``corpus`` (embedding only what changed), then
    score its retrieval; ``service`` is a ``QAService``."""
    log(f"index {service.settings.index_dir}: {service.ingest(corpus).summary()}")
    service.retriever.warm()
    report = evaluate_retrieval(
        queries, lambda q: [p.chunk.text for p in service.retrieve(q, top_k=top_k)], k=top_k)
    report["top_k"] = top_k
    return report


def ask_short(service: Any, question: str, *, evidence: str | None = None) -> Answer:
    """The product's answer path with one extra instruction: end on a short final answer."""
    return service.ask(question, instructions=SHORT_ANSWER_HINT, evidence=evidence)


def run_answers(service: Any, corpus: Path, queries: Sequence[Query], *,
                modes: Sequence[str] = ("snippets",),
                log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Answer every query end to end with ``service``'s LLM in each evidence mode (taking
    turns per question, so both meet the same server state) and score them strictly; one
    report per mode."""
    log(f"index {service.settings.index_dir}: {service.ingest(corpus).summary()}")
    rows: dict[str, list[AnswerRow]] = {m: [] for m in modes}
    for n, q in enumerate(queries, start=1):
        for mode in modes:
            answer = ask_short(service, q.text, evidence=mode)
            short = "" if answer.refused else short_answer(answer.text)
            right = answer_correct(short, q.answer, refused=answer.refused,
                                   null_query=q.question_type == NULL_TYPE)
            gold = gold_citations(answer, q.facts)
            rows[mode].append(AnswerRow(q.question_type, right, answer.seconds, answer.refused,
                                        len(answer.citations), gold, answer.prompt_tokens,
                                        answer.first_token_seconds, answer.evidence_seconds))
            log(f"[{n}/{len(queries)} {mode}] {'ok ' if right else 'BAD'} {q.question_type}: "
                f"gold {q.answer!r}, got {'(refused)' if answer.refused else repr(short)} "
                f"in {answer.seconds:.1f}s; {gold}/{len(answer.citations)} citations quote a "
                f"gold fact; {answer.prompt_tokens} prompt tokens")
    reports = {m: answers_report(r) for m, r in rows.items()}
    return reports[modes[0]] if len(modes) == 1 else {"modes": reports}


def _embedded_tokens(tokenizer: Any, texts: Sequence[str], *, limit: int) -> int:
    """Word-pieces the embedder actually sees (specials included, cut at its max length)."""
    return sum(min(len(e.ids), limit) for e in tokenizer.encode_batch(list(texts)))


def _rates(articles: int, chunks: int, tokens: int, seconds: float) -> dict[str, float]:
    return {"articles": articles, "chunks": chunks, "tokens": tokens, "seconds": seconds,
            "articles_per_s": articles / seconds, "chunks_per_s": chunks / seconds,
            "tokens_per_s": tokens / seconds}


def run_ingest(settings: Settings, corpus: Path, *,
               log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Index ``corpus`` from scratch three ways in one process, with one loaded embedder:
    ours (``build_index``), llama-index's default pipeline (``VectorStoreIndex`` into Chroma,
    same documents, same embedder, same chunk budget) and the embedder alone on our chunks."""
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    from qa import ingest
    from qa.index import ArticleIndex, build_index

    with tempfile.TemporaryDirectory(prefix="qa-eval-ingest-") as tmp:
        ours = settings.model_copy(update={"index_dir": Path(tmp) / "ours", "progress": False})
        index = ArticleIndex(ours)
        embedder, tokenizer = index.embedder, index.tokenizer
        embedder.get_text_embedding_batch(["warm up"] * 4)  # model load stays outside timings
        limit = int(embedder._model.max_seq_length)

        started = time.perf_counter()
        report = build_index(Path(corpus), ours, index=index)
        ours_s = time.perf_counter() - started
        texts = [c.embed_text() for c in index.chunks()]
        n_articles = report.added
        result = {"ours": _rates(n_articles, len(texts),
                                 _embedded_tokens(tokenizer, texts, limit=limit), ours_s)}
        log(f"ours: {ours_s:.1f}s for {n_articles} articles, {len(texts)} chunks")

        started = time.perf_counter()
        embedder.get_text_embedding_batch(texts)
        alone_s = time.perf_counter() - started
        result["embedder_alone"] = _rates(n_articles, len(texts), result["ours"]["tokens"],
                                          alone_s)
        log(f"embedder alone: {alone_s:.1f}s")

        splitter = SentenceSplitter(chunk_size=settings.chunk_tokens,
                                    chunk_overlap=settings.chunk_overlap)
        theirs = settings.model_copy(update={"index_dir": Path(tmp) / "llama"})
        store = ArticleIndex(theirs, embedder=embedder).vector_store  # an empty Chroma collection
        started = time.perf_counter()
        articles, _problems = ingest.load_articles(Path(corpus),
                                                   max_article_mb=settings.max_article_mb)
        docs = [Document(text=a.body, id_=a.id, metadata={
            "title": a.title, "source": a.source, "published_at": a.published_at})
            for a in articles]
        VectorStoreIndex.from_documents(
            docs, storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embedder, transformations=[splitter])
        llama_s = time.perf_counter() - started
        nodes = splitter.get_nodes_from_documents(docs)
        llama_texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        result["llama_index"] = _rates(len(docs), len(nodes), _embedded_tokens(
            tokenizer, llama_texts, limit=limit), llama_s)
        log(f"llama-index: {llama_s:.1f}s for {len(nodes)} chunks")
    result["ratios"] = {
        "speedup_vs_llama_index_articles": llama_s / ours_s,
        "speedup_vs_llama_index_tokens": result["ours"]["tokens_per_s"]
        / result["llama_index"]["tokens_per_s"],
        "time_vs_embedder_alone": ours_s / alone_s,
    }
    result["chunk_tokens"], result["chunk_overlap"] = settings.chunk_tokens, settings.chunk_overlap
    return result


# --- the ``qa eval`` commands -----------------------------------------------------------------

_COLUMNS = ("hits@4", "hits@10", "mrr@10", "map@10", "fact_recall@10", "all_facts@10")


def format_retrieval(report: dict[str, Any]) -> str:
    """The retrieval table as the terminal shows it."""
    head = f"{'question type':<18} {'n':>5} " + " ".join(f"{c:>14}" for c in _COLUMNS)
    lines = [head]
    rows = [("all", report), *report["per_type"].items()]
    for name, row in rows:
        lines.append(f"{name:<18} {row['queries']:>5} "
                     + " ".join(f"{row[c]:>14.4f}" for c in _COLUMNS))
    lat = report["latency_ms"]
    lines.append(f"retrieval latency: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms")
    return "\n".join(lines)


def format_answers(report: dict[str, Any]) -> str:
    """The answers report as the terminal shows it."""
    lines = [f"accuracy {report['accuracy']:.4f} over {report['queries']} questions, "
             f"{report['seconds_per_answer']:.1f} s per answer"]
    lines += [f"  {t:<18} {v['accuracy']:.4f} (n={v['queries']})"
              for t, v in report["per_type"].items()]
    lines.append(f"citation precision {report['citation_precision']:.4f} "
                 f"({report['citations']} citations of {report['answered']} answered questions);"
                 f" answered with a gold citation {report['answered_with_gold_citation']:.4f}")
    tokens = report.get("median_prompt_tokens")
    if tokens is not None:
        lines.append(f"median prompt {tokens:.0f} tokens, first token "
                     f"{report['median_first_token_s'] or 0:.1f} s, evidence "
                     f"{report['median_evidence_s'] or 0:.2f} s")
    return "\n".join(lines)


def format_ingest(report: dict[str, Any]) -> str:
    lines = [f"{'pipeline':<16} {'seconds':>8} {'articles/s':>11} {'chunks/s':>9} "
             f"{'tokens/s':>9} {'chunks':>7}"]
    for name in ("ours", "llama_index", "embedder_alone"):
        r = report[name]
        lines.append(f"{name:<16} {r['seconds']:>8.1f} {r['articles_per_s']:>11.2f} "
                     f"{r['chunks_per_s']:>9.1f} {r['tokens_per_s']:>9.0f} {r['chunks']:>7}")
    ratios = report["ratios"]
    lines.append(f"ours vs llama-index: {ratios['speedup_vs_llama_index_articles']:.2f}x "
                 f"articles/s, {ratios['speedup_vs_llama_index_tokens']:.2f}x tokens/s; "
                 f"ours takes {ratios['time_vs_embedder_alone']:.2f}x the embedder-alone time")
    return "\n".join(lines)


class _EvalGroup(click.Group):
    """``QAError`` leaves as a one-line message and its exit code, even when run standalone."""

    def invoke(self, ctx: click.Context) -> Any:
        from qa.errors import QAError

        try:
            return super().invoke(ctx)
        except QAError as exc:
            error = click.ClickException(str(exc))
            error.exit_code = exc.exit_code
            raise error from None


def _load_settings(index_dir: Path | None, corpus: Path) -> Settings:
    return eval_settings(Settings.load(index_dir=index_dir, progress=False), corpus)


def _log(message: str) -> None:
    click.echo(message, err=True)


_corpus = click.option("--corpus", type=click.Path(exists=True, dir_okay=True, path_type=Path),
                       required=True, help="Articles to index (MultiHop-RAG corpus.json).")
_queries = click.option("--queries", type=click.Path(exists=True, dir_okay=False,
                        path_type=Path), required=True, help="Questions (queries-*.json).")
_limit = click.option("--limit", type=click.IntRange(min=1), default=None,
                      help="Only the first N question records (null queries count).")
_json = click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object with every figure on the last line.")
_index = click.option("--index", "index_dir", type=click.Path(path_type=Path), default=None,
                      help="Index folder to build or reuse (default: QA_INDEX_DIR, else one "
                           "per corpus under the cache folder).")


@click.group("eval", cls=_EvalGroup)
def eval_group() -> None:
    """Benchmark on MultiHop-RAG (Tang & Yang 2024, ODC-BY 1.0): retrieval, answers, ingest."""


@eval_group.command("retrieval")
@_corpus
@_queries
@_limit
@_json
@_index
@click.option("--top-k", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Passages scored per question (the paper's figures use 10).")
def retrieval_cmd(corpus: Path, queries: Path, limit: int | None, as_json: bool,
                  index_dir: Path | None, top_k: int) -> None:
    """Hits@4/@10, MRR@10, MAP@10, FactRecall@10, AllFacts@10 and latency, per question type."""
    from qa.service import QAService

    service = QAService(_load_settings(index_dir, corpus))
    report = run_retrieval(service, corpus, load_queries(queries, limit=limit), top_k=top_k,
                           log=_log)
    click.echo(format_retrieval(report))
    if as_json:
        click.echo(json.dumps(report))


@eval_group.command("answers")
@_corpus
@_queries
@_limit
@_json
@_index
@click.option("--evidence", type=click.Choice(["snippets", "passages", "both"]),
              default="snippets", show_default=True,
              help="What the model reads; both: each question in each mode, side by side.")
def answers_cmd(corpus: Path, queries: Path, limit: int | None, as_json: bool,
                index_dir: Path | None, evidence: str) -> None:
    """End-to-end answer accuracy and citation precision with the configured LLM, per type."""
    from qa.service import QAService

    modes = ("snippets", "passages") if evidence == "both" else (evidence,)
    service = QAService(_load_settings(index_dir, corpus))
    try:
        report = run_answers(service, corpus, load_queries(queries, limit=limit), modes=modes,
                             log=_log)
    finally:
        service.close()
    for mode, rep in report.get("modes", {modes[0]: report}).items():
        click.echo(f"== evidence: {mode}\n{format_answers(rep)}")
    if as_json:
        click.echo(json.dumps(report))


@eval_group.command("ingest")
@_corpus
@_json
def ingest_cmd(corpus: Path, as_json: bool) -> None:
    """Index CORPUS from scratch: ours vs llama-index's default pipeline vs the embedder alone."""
    settings = Settings.load(progress=False)
    report = run_ingest(settings, corpus, log=_log)
    click.echo(format_ingest(report))
    if as_json:
        click.echo(json.dumps(report))


__all__ = ["Query", "QueryScores", "answer_correct", "eval_group", "evaluate_retrieval",
           "load_queries", "normalise_answer", "run_answers", "run_ingest", "run_retrieval",
           "score_query", "short_answer"]
