"""Benchmarks on MultiHop-RAG (Tang & Yang, 2024; ODC-BY 1.0): ``qa eval retrieval|answers|ingest``.

The harnesses and the ``qa eval`` commands; what is scored and how lives in ``qa.faces.metrics``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from qa.config import Settings
from qa.faces.metrics import (
    NULL_TYPE,
    SHORT_ANSWER_HINT,
    AnswerRow,
    Query,
    answer_correct,
    answers_report,
    evaluate_retrieval,
    gold_citations,
    load_queries,
    percentile,
    short_answer,
)
from qa.models import Answer

# --- harnesses --------------------------------------------------------------------------------


def eval_settings(settings: Settings, corpus: Path) -> Settings:
    """Benchmark indexes live apart from the user's: QA_INDEX_DIR or --index, else the cache."""
    if "index_dir" in settings.model_fields_set:
        return settings
    import hashlib

    key = hashlib.sha256(str(Path(corpus).resolve()).encode()).hexdigest()[:8]
    return settings.model_copy(
        update={"index_dir": settings.cache_dir / "eval" / f"{Path(corpus).stem}-{key}"})


def query_embedding_ms(embedder: Any, texts: Sequence[str]) -> dict[str, float]:
    """p50 and p95 milliseconds of ``embedder.get_query_embedding`` over ``texts``, one at a
    time as questions arrive (the first call, which loads the model, is left out)."""
    embedder.get_query_embedding("warm up")
    times = []
    for text in texts:
        started = time.perf_counter()
        embedder.get_query_embedding(text)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": percentile(times, 50), "p95": percentile(times, 95), "n": len(times)}


def run_retrieval(service: Any, corpus: Path, queries: Sequence[Query], *, top_k: int = 10,
                  log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Build or update ``service``'s index of ``corpus`` (embedding only what changed), then
    score its retrieval and time the query embedding alone; ``service`` is a ``QAService``."""
    log(f"index {service.settings.index_dir}: {service.ingest(corpus).summary()}")
    service.retriever.warm()
    report = evaluate_retrieval(
        queries, lambda q: [p.chunk.text for p in service.retrieve(q, top_k=top_k)], k=top_k)
    report["top_k"] = top_k
    embedder = service.retriever.index.embedder
    report["embedder"] = service.retriever.index.embedder_info.label()
    report["query_embedding_ms"] = query_embedding_ms(
        embedder, [q.text for q in queries if q.question_type != NULL_TYPE and q.facts])
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
    """Index ``corpus`` from scratch three ways in one process, models loaded beforehand:
    ours (``build_index`` with the configured embedder, ``QA_EMBED_BACKEND``), llama-index's
    default pipeline (``VectorStoreIndex`` into Chroma, same documents, same chunk budget,
    its own torch ``HuggingFaceEmbedding``) and our embedder alone on our chunks. Then the
    query embedding of both embedders, timed one headline at a time."""
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    from qa.embedding.embed import load_embedder, model_spec
    from qa.sources.articles import load_articles
    from qa.store.build import build_index
    from qa.store.index import ArticleIndex

    with tempfile.TemporaryDirectory(prefix="qa-eval-ingest-") as tmp:
        ours = settings.model_copy(update={"index_dir": Path(tmp) / "ours", "progress": False})
        index = ArticleIndex(ours)
        embedder, tokenizer = index.embedder, index.tokenizer
        spec = model_spec(index.model_dir, packaged=settings.embed_model_path is None)
        torch_embedder = embedder if settings.embed_backend == "torch" else load_embedder(
            spec, backend="torch", cache_dir=settings.cache_dir,
            batch_size=settings.embed_batch_size)
        for model in (embedder, torch_embedder):  # model loads stay outside the timings
            model.get_text_embedding_batch(["warm up"] * 4)
        index.count()  # so does opening Chroma, as for llama-index's store below
        limit = int(embedder.max_length)

        started = time.perf_counter()
        report = build_index(Path(corpus), ours, index=index)
        ours_s = time.perf_counter() - started
        texts = [c.embed_text() for c in index.chunks()]
        n_articles = report.added
        result = {"ours": _rates(n_articles, len(texts),
                                 _embedded_tokens(tokenizer, texts, limit=limit), ours_s)}
        log(f"ours ({index.embedder_info.label()}): {ours_s:.1f}s for {n_articles} articles, "
            f"{len(texts)} chunks")

        started = time.perf_counter()
        embedder.get_text_embedding_batch(texts)
        alone_s = time.perf_counter() - started
        result["embedder_alone"] = _rates(n_articles, len(texts), result["ours"]["tokens"],
                                          alone_s)
        log(f"embedder alone: {alone_s:.1f}s")

        splitter = SentenceSplitter(chunk_size=settings.chunk_tokens,
                                    chunk_overlap=settings.chunk_overlap)
        theirs = settings.model_copy(update={"index_dir": Path(tmp) / "llama",
                                             "embed_backend": "torch"})
        store = ArticleIndex(theirs, embedder=torch_embedder).vector_store  # empty collection
        started = time.perf_counter()
        articles, _problems = load_articles(Path(corpus),
                                                   max_article_mb=settings.max_article_mb)
        docs = [Document(text=a.body, id_=a.id, metadata={
            "title": a.title, "source": a.source, "published_at": a.published_at})
            for a in articles]
        VectorStoreIndex.from_documents(
            docs, storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=torch_embedder, transformations=[splitter])
        llama_s = time.perf_counter() - started
        nodes = splitter.get_nodes_from_documents(docs)
        llama_texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        result["llama_index"] = _rates(len(docs), len(nodes), _embedded_tokens(
            tokenizer, llama_texts, limit=limit), llama_s)
        log(f"llama-index (torch): {llama_s:.1f}s for {len(nodes)} chunks")

        headlines = [a.title for a in articles]
        result["query_embedding_ms"] = {
            "ours": query_embedding_ms(embedder, headlines),
            "torch": query_embedding_ms(torch_embedder, headlines)}
    result["ratios"] = {
        "speedup_vs_llama_index_articles": llama_s / ours_s,
        "speedup_vs_llama_index_tokens": result["ours"]["tokens_per_s"]
        / result["llama_index"]["tokens_per_s"],
        "time_vs_embedder_alone": ours_s / alone_s,
    }
    result["chunk_tokens"], result["chunk_overlap"] = settings.chunk_tokens, settings.chunk_overlap
    result["embedder"] = index.embedder_info.label()
    result["llama_index_embedder"] = torch_embedder.info.label()
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
    if "query_embedding_ms" in report:
        emb = report["query_embedding_ms"]
        lines.append(f"query embedding alone ({report.get('embedder', '?')}): "
                     f"p50 {emb['p50']:.1f} ms, p95 {emb['p95']:.1f} ms")
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
    lines.append(f"ours: {report['embedder']}; llama-index: {report['llama_index_embedder']}")
    q = report["query_embedding_ms"]
    lines.append(f"query embedding p50 (headlines, one at a time): ours {q['ours']['p50']:.1f} "
                 f"ms, torch {q['torch']['p50']:.1f} ms")
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
    """Index CORPUS from scratch: ours vs llama-index's default pipeline (torch embedder) vs
    our embedder alone, and the query embedding of both."""
    settings = Settings.load(progress=False)
    report = run_ingest(settings, corpus, log=_log)
    click.echo(format_ingest(report))
    if as_json:
        click.echo(json.dumps(report))


__all__ = ["eval_group", "query_embedding_ms", "run_answers", "run_ingest", "run_retrieval"]
