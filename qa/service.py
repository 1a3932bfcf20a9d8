"""``QAService``: the one core that the Python API, the CLI, the chat app and the benchmarks
all drive. It owns the index, the retriever and the LLM (and the local LLM server's life).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from qa.answering import evidence, scoping
from qa.answering.answer import Prompts, condense, generate, refused_answer
from qa.answering.hop_coverage import hop_coverage, hop_evidence, hop_quotes, uncovered
from qa.answering.languages import is_foreign
from qa.answering.reading import ReadingCheck
from qa.answering.timeline import TimelineBuilder, TimelineOptions, batches, by_article, in_period
from qa.config import Settings
from qa.embedding.onnx_embed import OnnxEmbedding
from qa.errors import ConfigError, IngestError, QAError, StoreError
from qa.llm.client import LLM, make_llm
from qa.models import (
    Answer,
    ArticleEntry,
    Chunk,
    Evidence,
    IndexReport,
    ScoredChunk,
    Snippet,
    Timeline,
    chunk_id,
)
from qa.retrieval.plan import asks_yes_or_no, joins_articles
from qa.retrieval.retrieve import RetrievalOptions, Retriever, best_similarity
from qa.sources import web
from qa.sources.deleted import files_gone
from qa.store.build import build_index
from qa.store.index import ArticleIndex, IndexStats

HistoryLike = scoping.HistoryLike  # what ``history=`` takes (the faces name it from here)


def split_sources(sources: Sequence[str]) -> tuple[Path | None, list[str]]:
    """What ``qa index`` was given: at most one folder or file, and any http(s) URLs.

    Raises ``IngestError`` for two or more paths (the index mirrors one folder)."""
    urls = [s.strip() for s in sources if web.is_url(s)]
    paths = [s for s in sources if not web.is_url(s)]
    if len(paths) > 1:
        raise IngestError(f"give one folder or file to mirror, not {len(paths)} "
                          f"({', '.join(paths[:3])}); web page and feed URLs may be added")
    return (Path(paths[0]) if paths else None), urls


TIMELINE_PASSAGES = 400  # passages a timeline reads: a story of fifty articles, all of them


class QAService:
    """Index, retrieve and answer over one article index, with one LLM."""

    def __init__(self, settings: Settings, *, llm: LLM | None = None, embedder: Any = None) -> None:
        self.settings = settings
        self._llm = llm
        self._server: Any = None
        self._lock = threading.Lock()  # swaps the index snapshot after a rebuild
        self._building = threading.Lock()  # one build at a time (the app, its watcher, a user)
        self._index = ArticleIndex(settings, embedder=embedder)
        self._retriever: Retriever | None = None
        self._built_from = ""  # the folder the retriever's build mirrored, read with it
        self._checked = 0.0  # when the store's build stamp was last compared with ours

    @cached_property
    def prompts(self) -> Prompts:
        return Prompts.load()

    @cached_property
    def reader(self) -> ReadingCheck | None:
        """The reading check (``qa.answering.reading``) on this service's LLM, None when
        ``QA_READING_CHECK`` is off."""
        if not self.settings.reading_check:
            return None
        return ReadingCheck(self.llm, self.prompts.system.render(), self.prompts.reading)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            self._llm, self._server = make_llm(self.settings)
        return self._llm

    @property
    def retriever(self) -> Retriever:
        """The retriever of the index's last complete build. At most every
        ``QA_REBUILD_CHECK_SECONDS`` the store's build stamp is compared with the one in use, so a
        rebuild by another process sharing the store (a Chroma server) is answered from
        without a restart; a build by this service swaps it in itself (``ingest``)."""
        with self._lock:
            now = time.monotonic()
            due = now - self._checked >= self.settings.rebuild_check_seconds
            if self._retriever is not None and due:
                self._checked = now
                if not self._building.locked() and self._stale(self._retriever):
                    self._index, self._retriever = self._index.fresh(), None
            if self._retriever is None:
                self._index.require_articles()  # not a refusal: say there is nothing to ask
                self._retriever = self._retriever_for(self._index)
                self._built_from = self._index.built_from()
                self._checked = now
            return self._retriever

    def _stale(self, retriever: Retriever) -> bool:
        """Whether another process completed a build since ``retriever`` opened its own."""
        try:
            state = self._index.state()
        except StoreError:  # the collection is gone: opening again says what there is
            return True
        return not state.writing and state.key != retriever.stamp

    def _retriever_for(self, index: ArticleIndex) -> Retriever:
        return Retriever(index, RetrievalOptions(top_k=self.settings.top_k),
                         exact_max=self.settings.exact_search_max)

    # --- indexing -------------------------------------------------------------------------
    def ingest(self, path: Path | str | None = None, *, urls: Sequence[str] = ()) -> IndexReport:
        """Fetch ``urls`` (web pages, RSS/Atom feeds) into the index's own folder, then make the
        index mirror ``path`` (a folder or file; None: the folder it was last built from) plus
        every article ever fetched. Questions are answered from the previous complete index
        until this one is done; one build runs at a time. Raises ``IngestError`` (see
        ``qa.store.build.build_index``), naming the fetch problems when nothing could be indexed."""
        with self._building:
            fetched = web.fetch_urls(urls, self.settings) if urls else None
            index = self._index.fresh()
            try:
                report = build_index(None if path is None else Path(path), self.settings,
                                     index=index)
            except IngestError as exc:
                if fetched and fetched.problems:
                    why = "; ".join(str(p) for p in fetched.problems[:5])
                    raise IngestError(f"{exc} ({why})") from None
                raise
            fresh = self._retriever_for(index) if index.count() else None  # emptied: ask says so
            built_from = index.built_from()
            with self._lock:
                self._index, self._retriever, self._built_from = index, fresh, built_from
        if fetched is None:
            return report
        return dataclasses.replace(report, problems=(*fetched.problems, *report.problems),
                                   fetched=fetched.written, fetch_unchanged=fetched.unchanged)

    def watch(
        self,
        path: Path | str,
        *,
        stop: threading.Event | None = None,
        moved: Callable[[], bool] | None = None,
        on_report: Callable[[list[str], IndexReport], None] | None = None,
        on_error: Callable[[QAError], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        rebuild: Callable[[], IndexReport] | None = None,
    ) -> None:
        """Keep the index in sync with the folder (or file) ``path``: after each burst of
        added, changed or removed article files, ``ingest`` again (or call ``rebuild``) and
        pass the changed paths and the report to ``on_report``; a ``QAError`` goes to
        ``on_error`` (raised when there is none) and watching goes on. ``on_ready()`` is called
        once changes are being watched. Blocks until ``stop`` is set, ``moved()`` is true or
        Ctrl+C; questions meanwhile are answered from the last complete index."""
        from qa.sources.watch import watch_folder

        def changed(paths: list[str]) -> None:
            try:
                report = rebuild() if rebuild else self.ingest(path)
            except QAError as exc:
                if on_error is None:
                    raise
                on_error(exc)
                return
            if on_report:
                on_report(paths, report)

        watch_folder(Path(path), changed, stop=stop, moved=moved, on_ready=on_ready)

    def built_from(self) -> str:
        """The folder or file the index was last built from ("" when none); cheap to call."""
        return self._index.built_from()

    def stats(self) -> IndexStats:
        """What the index holds; ``exists`` is false when none was built (nothing is created)."""
        return self._index.stats()

    # --- asking -----------------------------------------------------------------------------
    def articles(self) -> list[ArticleEntry]:
        """Every indexed article, newest first (undated last), then by title; one read of the
        store's first chunks."""
        entries = [ArticleEntry(c.article_id, c.title, c.source, c.published_at, c.url, c.path,
                                n) for c, n in self._index.articles()] if self._index.exists() \
            else []
        entries.sort(key=lambda e: e.title)
        entries.sort(key=lambda e: e.published_at or "", reverse=True)
        return entries

    def retrieve(self, question: str, *, top_k: int | None = None) -> list[ScoredChunk]:
        """The passages for ``question`` as ``stream`` retrieves them for an English question
        asked with no history and no filters: its own dates apply, read against today (or the
        newest article's day for an archive)."""
        retriever = self.retriever
        topic, within, _ = scoping.scope(question, scoping.Bounds(), retriever, self.settings)
        return retriever.retrieve(topic, top_k=top_k, within=within)

    def select_evidence(
        self, question: str, passages: list[ScoredChunk], *, mode: str | None = None,
        options: evidence.SelectionOptions | None = None, asked: str = "",
    ) -> list[Snippet]:
        """What the model will read for this question: picked sentences (``snippets``, see
        ``qa.answering.evidence``) or the top ``context_k`` passages whole (``passages``); ``mode``
        defaults to ``QA_EVIDENCE``, ``options`` to ``QA_EVIDENCE_BUDGET`` (for a yes-or-no question
        that joins articles, ``QA_JOINED_EVIDENCE_BUDGET``) and ``QA_EVIDENCE_PASSAGES`` with the
        method's defaults (the benchmark tries others). ``asked``: the question itself, when
        ``question`` is a selection text (headlines added) that must not choose the budget."""
        if (mode or self.settings.evidence) == "passages":
            return evidence.whole_passages(passages[: self.settings.context_k])
        retriever, tokenizer, asked = self.retriever, self._index.tokenizer, asked or question
        plan = retriever.plan(question)
        joined = asks_yes_or_no(asked) and joins_articles(
            plan if asked == question else retriever.plan(asked))
        options = options or evidence.SelectionOptions(budget=self.settings.joined_evidence_budget
            if joined else self.settings.evidence_budget, passages=self.settings.evidence_passages)
        return evidence.select(
            question,
            passages,
            plan=plan,
            idf=retriever.idf,
            count_tokens=lambda text: len(tokenizer.encode(text, add_special_tokens=False)),
            embed=self._embed_for_question,
            options=options,
            openings=self.article_openings(passages[: options.passages]) if options.full_names
            else [],
        )

    def article_openings(self, passages: list[ScoredChunk]) -> list[Chunk]:
        """The first chunk of each article of ``passages``, where an article names its people
        and companies in full (``qa.text.names``): one read of the store, a few milliseconds."""
        articles = dict.fromkeys(p.chunk.article_id for p in passages if p.chunk.index > 0)
        found = self._index.passages([chunk_id(a, 0) for a in articles])
        return [chunk for chunk, _vector in found.values() if chunk is not None]

    def _embed_for_question(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of texts embedded while a question waits: on the asking thread and one
        core with the ONNX embedder, so a model writing another answer keeps the other."""
        embedder = self._index.embedder
        if isinstance(embedder, OnnxEmbedding):
            return embedder.embed(texts, threads=1)
        return np.asarray(embedder.get_text_embedding_batch(texts))

    def stream(
        self,
        question: str,
        *,
        history: scoping.HistoryLike = None,
        instructions: str = "",
        evidence: str | None = None,
        since: str = "",
        until: str = "",
        outlets: Sequence[str] = (),
    ) -> Iterator[Evidence | str | Answer]:
        """Yield the ``Evidence`` first (as soon as retrieval and selection finish), then the
        text as the model writes it (an empty string for each token held back, as the start
        of a refusal is); the last item is the checked ``Answer``.

        ``instructions`` are extra words to the model after the question (the benchmarks ask
        for a short final answer); the rules, refusal and citation checks stay the same.
        ``evidence`` (``snippets`` or ``passages``) overrides ``QA_EVIDENCE`` for this
        question. ``since``/``until`` (``YYYY-MM-DD``) and ``outlets`` restrict the articles
        read, with what the question says ("last week", "latest"; ``qa.answering.scoping``),
        as ``Answer.period`` reports; ``ConfigError`` for a bad one. Closing the iterator early
        stops the model's work on it."""
        started = time.perf_counter()
        question = question.strip()
        mode = evidence or self.settings.evidence
        gone: tuple[str, ...] = ()
        period = None

        def nothing(standalone: str) -> Iterator[Evidence | Answer]:
            seconds = time.perf_counter() - started
            yield Evidence(question, standalone, (), seconds, mode, gone, period=period)
            refusal = refused_answer(question, self.prompts, standalone=standalone,
                                     started=started)
            yield scoping.refusal_in(period, dataclasses.replace(refusal, files_gone=gone),
                                     foreign=is_foreign(question))

        if not question:
            yield from nothing(question)
            return
        retriever = self.retriever
        bounds = scoping.check_bounds(since, until, outlets, retriever.keyword.sources)
        turns = scoping.normalise_history(history)
        standalone = (condense(question, turns, self.llm, self.prompts)
                      if turns or is_foreign(question) else question)  # English: as asked
        topic, within, period = scoping.scope(standalone, bounds, retriever, self.settings)
        passages = retriever.retrieve(topic, within=within)
        # Deleted files are not read from behind the user's back; the answer says they were
        # left out, and `qa index` removes them for good.
        gone = tuple(sorted(files_gone(self.settings, self._built_from,
                                       (p.chunk.path for p in passages))))
        passages = [p for p in passages if p.chunk.path not in gone]
        # no topic ("What happened last week?"): every article of the period matches, no floor
        if not passages or best_similarity(passages) < (
                self.settings.min_similarity if within.topic else 0.0):
            yield from nothing(standalone)
            return
        reading = scoping.selection_text(standalone, within, passages)  # headlines: no topic
        snippets = tuple(self.select_evidence(reading, passages, mode=mode, asked=standalone))
        snippets = scoping.newest_numbered(snippets) if within.latest else snippets
        if not snippets:
            yield from nothing(standalone)
            return
        coverage = hop_coverage(standalone, self.retriever.plan(standalone), snippets,
                                self.retriever.idf)
        floor = self.settings.hop_floor
        missing = uncovered(coverage, floor)
        seconds = time.perf_counter() - started
        yield Evidence(question, standalone, snippets, seconds, mode, gone,
                       hop_evidence(coverage, snippets, floor), period)
        if missing and asks_yes_or_no(standalone):
            # A named article was not found: the model's Yes or No would be a guess. Near-miss
            # rows, dev records 1-165: of 97 yes-or-no questions, refused here 64 when their
            # evidence is left out (21 if all had to be missing), 10 when it is there (0).
            refusal = refused_answer(question, self.prompts, standalone=standalone,
                                     started=started, snippets=snippets, missing=missing)
            yield dataclasses.replace(refusal, files_gone=gone, evidence_seconds=seconds,
                                      evidence_mode=mode, period=period)
            return
        for item in generate(
            question, snippets, self.llm, self.prompts, standalone=standalone,
            max_tokens=self.settings.llm_max_tokens,
            started=started,
            instructions=scoping.instructions_for(within, instructions),
            evidence_seconds=seconds,
            mode=mode,
            reader=self.reader,
            threshold=self.settings.reading_threshold,
            uncovered=missing,
            joins=bool(coverage),
            hop_quotes=hop_quotes(coverage, snippets, floor),
        ):
            yield dataclasses.replace(item, files_gone=gone, period=period) \
                if isinstance(item, Answer) else item

    def ask(
        self,
        question: str,
        *,
        history: scoping.HistoryLike = None,
        on_text: Callable[[str], None] | None = None,
        instructions: str = "",
        evidence: str | None = None,
        since: str = "",
        until: str = "",
        outlets: Sequence[str] = (),
    ) -> Answer:
        """The checked ``Answer`` (options as ``stream``'s); ``on_text`` sees each piece of
        text as it is generated."""
        for item in self.stream(question, history=history, instructions=instructions,
                                evidence=evidence, since=since, until=until, outlets=outlets):
            if isinstance(item, Answer):
                return item
            if on_text and isinstance(item, str):
                on_text(item)
        raise AssertionError("stream ended without an Answer")  # pragma: no cover

    def timeline(
        self,
        topic: str,
        *,
        since: str = "",
        until: str = "",
        outlets: Sequence[str] = (),
        passages: int = TIMELINE_PASSAGES,
        options: TimelineOptions | None = None,
    ) -> Iterator[Timeline]:
        """Yield the story's ``Timeline`` as it grows: a snapshot after each batch of articles
        read (events so far, in date order; ``articles_read`` of ``articles_total``), the last
        one ``complete``. Close the iterator to stop (nothing runs between snapshots).

        Retrieval goes deep, not to the answer's top ten: up to ``passages`` passages for the
        topic (BM25 and embedding, ``passages`` candidates each), then only those of articles
        published within ``since``..``until`` (``YYYY-MM-DD``, inclusive, either open) and of
        ``outlets`` (names as the index has them, any case; empty: all), then per article the
        sentences on the topic (``qa.answering.timeline``). The first batch is small so the
        first events come early. Raises ``ConfigError`` for an empty topic, a malformed or
        reversed date, or an outlet the index does not hold; ``StoreError``/``NoIndexError``
        when there is no index to read."""
        started = time.perf_counter()
        topic = " ".join(topic.split())
        if not topic:
            raise ConfigError("give a topic to follow, such as \"the Harlow bridge trial\"")
        retriever = self.retriever
        bounds = scoping.check_bounds(since, until, outlets, retriever.keyword.sources)
        since, until, wanted = bounds.since, bounds.until, {o.lower() for o in bounds.outlets}
        deep = retriever.with_options(RetrievalOptions(top_k=passages, candidates=passages))
        found = deep.retrieve(topic, top_k=passages)
        gone = files_gone(self.settings, self._built_from, (p.chunk.path for p in found))
        articles = by_article(in_period(found, since=since, until=until, outlets=wanted,
                                        gone=tuple(gone)))
        builder = TimelineBuilder(topic, embed=self._embed_for_question, idf=retriever.idf,
                                  options=options)
        fields: dict[str, Any] = {"since": since, "until": until,
                                  "outlets": tuple(sorted(wanted))}
        first: float | None = None
        done = 0
        for size in batches(len(articles)):
            builder.add([p for group in articles[done:done + size] for p in group])
            done += size
            seconds = time.perf_counter() - started
            if first is None and builder.events():
                first = seconds
            yield builder.snapshot(total=len(articles), complete=done >= len(articles),
                                   seconds=seconds, first_event_seconds=first, **fields)
        if not articles:
            yield builder.snapshot(total=0, complete=True,
                                   seconds=time.perf_counter() - started, **fields)

    def warm_up(self) -> threading.Thread:
        """Load the embedder and keyword index and start the local LLM in the background,
        so the first person to ask does not wait for model loads."""

        def work() -> None:
            try:
                self.retriever.warm()
                _ = self._index.tokenizer
                _ = self.llm
                if self._server is not None:
                    self._server.ensure_running()
                    self._server.count_prompt_tokens([{"role": "user", "content": "warm"}])
            except Exception:  # noqa: BLE001 - a failed warm-up resurfaces on the first question
                pass

        thread = threading.Thread(target=work, name="qa-warm-up", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop the local LLM server if this service started one."""
        if self._server is not None:
            self._server.stop()
