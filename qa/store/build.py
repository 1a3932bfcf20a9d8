"""Incremental builds: make an index mirror a folder (or file) plus the articles fetched from
the web, embedding only what is new or changed.

Chroma (``qa.store.index``) is the record of what is indexed, so a build compares each article's
content hash with what its chunks carry; an index written by another embedder is re-embedded
whole. Writes are upserts by deterministic chunk id, so a build killed half-way leaves a
queryable index and the next build re-embeds only the articles whose chunks are incomplete or
stale.

After the vectors, the keyword index (``qa.store.keyword``) gets a new build: the last one with the
changed and removed articles' passages taken out and the new ones tokenized in, or made whole
from the collection when the last one does not match it (stopped half-way, or none). It is
saved before the collection's stamp names it, so a stamp never names a missing build.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import IngestError, StoreError
from qa.models import Article, Chunk, IndexReport, IngestProblem
from qa.sources import formats, ids, web
from qa.sources.articles import fold_duplicates
from qa.store import chunking, keyword, vector_copy
from qa.store.index import ArticleIndex, StoreState

_GROUP = 256  # chunks embedded and written together: one Chroma upsert per group
_SLICE = 8  # articles chunked together, ahead of the embedder (about 0.1 s of chunking)


def _progress(total: int, unit: str, enabled: bool | None, desc: str | None = None) -> Any:
    import sys

    from tqdm import tqdm

    disable = not sys.stderr.isatty() if enabled is None else not enabled
    return tqdm(total=total, unit=unit, disable=disable, dynamic_ncols=True, smoothing=0.1,
                desc=desc)


def build_index(
    path: Path | None, settings: Settings, *, index: ArticleIndex | None = None
) -> IndexReport:
    """Make the index mirror the articles under ``path`` and the fetched ones: embed only what
    changed.

    Fetched web pages and feed items (``qa.sources.web.web_dir``, the index's own folder) are part
    of every build. ``path`` None means the folder the index was last built from, if any; when
    that folder is gone, its articles are kept as they are. Articles whose files are gone leave
    the index, all of them when ``path`` holds none (the report then says the index is empty);
    those of files that cannot be read stay, counted in ``IndexReport.kept``. Raises
    ``IngestError`` when ``path`` does not exist (saying how many articles indexed from it the
    index still holds), or when there is nothing to index and the index has nothing to remove;
    an index never built is not created then.
    """
    started = time.perf_counter()
    index = index or ArticleIndex(settings)
    built = index.exists()
    fetched = web.web_dir(settings)
    keep_folder, last = False, ""  # no folder given, the last one gone: keep what came from it
    if path is None:
        last = index.built_from()
        path = Path(last) if last and Path(last).exists() else None
        keep_folder = bool(last) and path is None
    elif not Path(path).exists():
        raise IngestError(f"{path}: no such file or folder{_still_held(index, Path(path))}")
    found, problems = ids.settle(*formats.read_articles(
        Path(path), max_article_mb=settings.max_article_mb, max_pdf_mb=settings.max_pdf_mb)) \
        if path else ([], [])
    from_web, web_problems = web.read_fetched(fetched, max_article_mb=settings.max_article_mb)
    articles = fold_duplicates([*found, *from_web])[0]
    problems = [*problems, *web_problems]
    if keep_folder:
        problems.append(IngestProblem(last, "is gone; the articles indexed from it are kept as "
                                            "they were", skipped=False))
    state = index.article_state() if built else {}
    before = index.state() if built else None  # the collection before this build writes
    if not articles and not state:
        detail = "; ".join(str(p) for p in problems[:5]) or \
            f"no {' '.join(sorted(formats.SUFFIXES))} files"
        raise IngestError(f"nothing to index in {path}: {detail}" if path else
                          "nothing to index: give a folder, a file or a web page or feed URL")
    reembedded = index.adopt_embedder() if built else ""  # never mixes two embedders' vectors
    if reembedded:
        state = {}
    opts = {"max_tokens": settings.chunk_tokens, "overlap": settings.chunk_overlap}
    hashes = {a.id: chunking.content_hash(a, **opts) for a in articles}

    changed: list[Article] = []
    added = updated = unchanged = 0
    for article in articles:
        seen = state.get(article.id)
        if seen and seen[0] == {hashes[article.id]} and seen[1] == seen[2]:
            unchanged += 1
            continue
        changed.append(article)
        if seen:
            updated += 1
        else:
            added += 1

    # A file that failed to read this time keeps what it had: nothing already indexed is lost.
    # A bad record keeps its whole file's (as a file cut short mid-write has bad records too).
    # The file comes whole from the problem: a name may hold "#" (issue 26).
    failed_paths = {p.file_path for p in problems if p.skipped}
    current = {a.id for a in articles}
    gone = [(aid, apath) for aid, (_h, _p, _e, apath) in state.items() if aid not in current]
    web_prefix = fetched.name + "/"
    removed_ids = [aid for aid, apath in gone if apath not in failed_paths
                   and not (keep_folder and not apath.startswith(web_prefix))]

    if changed or removed_ids:
        index.begin_writing()
    terms = keyword.Table()  # the new passages' keyword terms, tokenized as they are written
    chunks, counts = _embed_and_write(index, changed, hashes, settings, terms=terms,
                                      again=bool(reembedded))
    for article in changed:
        if article.id in state:  # a new article has no older chunks to drop (one store call
            # per article, each scanning the collection: minutes for 18,000 new articles)
            index.delete_stale_chunks(article.id, counts.get(article.id, 0))
    index.delete_articles(removed_ids)
    touched = {a.id for a in changed} | set(removed_ids)
    stamp, n_articles = _keyword_build(index, None if reembedded else before, touched, terms)
    index.mark_built(str(Path(path).resolve()) if path else last if keep_folder else "",
                     stamp=stamp, articles=n_articles)
    return IndexReport(
        added=added,
        updated=updated,
        removed=len(removed_ids),
        unchanged=unchanged,
        chunks_embedded=len(chunks),
        seconds=time.perf_counter() - started,
        duplicates=sum(len(a.duplicates) for a in articles),
        problems=tuple(problems),
        kept=len(gone) - len(removed_ids),
        reembedded=reembedded,
    )


def _keyword_build(index: ArticleIndex, before: StoreState | None, touched: set[str],
                   new: keyword.Table) -> tuple[str, int]:
    """Save the keyword build matching the collection as now written; its stamp and number
    of articles. ``before`` is the collection before this build (None: new, or re-embedded,
    so the passages written are all of it); ``touched`` the articles whose passages were
    replaced or removed; ``new`` holds the passages written, tokenized. The previous build is
    updated when it matched the collection, else the build is made whole from the collection.
    A table's build does not depend on the order its rows were added in (``Table.finish``)."""
    root = index.keyword_root
    last = None
    if before is not None and not before.writing:
        last = keyword.KeywordIndex.load(root / before.key)
        if last is not None and last.rows != before.count:
            last = None
    if last is not None and before is not None and before.stamp and not touched:
        if last.vectors is None:  # a build from before copies were kept gets one now
            _copy_vectors(index, root / before.key, last, None, set())
        return before.stamp, last.articles  # nothing changed: the same build stays
    table = new
    if last is not None:
        table.keep_from(last, drop_articles=touched)
    elif before is not None:  # the last build is unusable: every passage, from the collection
        table = keyword.Table()
        table.add(index.chunks())
    arrays, meta = table.finish()
    stamp = keyword.new_stamp()
    folder = keyword.save(arrays, meta, root, stamp)
    made = keyword.KeywordIndex.load(folder)
    if made is not None:
        _copy_vectors(index, folder, made, last, touched)
    keyword.prune(root, keep={stamp, before.key if before else ""})
    return stamp, int(meta["articles"])


def _copy_vectors(index: ArticleIndex, folder: Path, build: keyword.KeywordIndex,
                  last: keyword.KeywordIndex | None, touched: set[str]) -> None:
    """Write the build's vector copy (``qa.store.vector_copy``): the vectors of passages the
    last build held copied from its copy, unless their article is ``touched`` (a changed
    article's passages keep their ids but not their vectors); the others read back from the
    store. A copy that cannot be written (a full disk, a store that cannot be read) is left
    out: the build stands, and exact search fetches vectors as without a copy."""
    ids = list(build.ids)
    earlier = None
    if last is not None and last.vectors is not None:
        where = last.rows_of(ids)
        if touched:
            where[[keyword.article_of(cid) in touched for cid in ids]] = -1
        earlier = (last.vectors, where)

    def fetch(wanted: Sequence[str]) -> dict[str, np.ndarray]:
        found = index.passages(wanted, vectors=True, texts=False)
        return {cid: vec for cid, (_chunk, vec) in found.items() if vec is not None}

    # the copy only speeds up exact search: without one, vectors are fetched
    with contextlib.suppress(StoreError):
        vector_copy.write(folder, ids, fetch, last=earlier)


def _still_held(index: ArticleIndex, path: Path) -> str:
    """For a path that is gone: how many of the index's articles came from it, if any."""
    if not index.exists():
        return ""
    stats = index.stats()
    if not stats.articles or stats.source != str(path.resolve()):
        return ""
    clear = (f"delete its collection {index.settings.collection!r}"
             if index.settings.chroma_url else f"delete {index.settings.index_dir}")
    held = f"{stats.articles} article{'s' * (stats.articles != 1)}"
    return (f"; the index at {stats.where} still holds {held} indexed from it, and answers "
            f"from them: index another folder, or {clear} to start over")


def _embed_and_write(
    index: ArticleIndex,
    articles: list[Article],
    hashes: dict[str, str],
    settings: Settings,
    *,
    terms: keyword.Table,
    again: bool = False,
) -> tuple[list[Chunk], dict[str, int]]:
    """Chunk, embed and write ``articles``; their chunks in order, and how many each has.

    Three stages overlap so that both cores stay busy (on 80 MultiHop-RAG articles the serial
    chunking took 1.1 s and the keyword tokenizing 0.6 s of a 48 s build):

    - a chunker thread cuts the articles ``_SLICE`` at a time, ahead of the embedder (an
      article's chunks, and so its chunk count, come from one slice);
    - the calling thread embeds the chunks ``_GROUP`` at a time (the embedder spreads a group
      over the cores), as soon as a group's slices are cut;
    - a writer thread writes each embedded group (node metadata and a Chroma upsert) and
      tokenizes its keyword terms into ``terms`` while the next group is embedded. Writes stay
      one at a time and in order, so a killed build keeps whole groups.

    The groups are the same as when everything was chunked first. Chunking errors
    (``IngestError``) and write errors (``StoreError``) are raised here.
    """
    chunks: list[Chunk] = []
    counts: dict[str, int] = {}
    if not articles:
        return chunks, counts
    from concurrent.futures import Future, ThreadPoolExecutor

    embedder = index.embedder
    opts = {"tokenizer": index.tokenizer, "max_tokens": settings.chunk_tokens,
            "overlap": settings.chunk_overlap}
    desc = "re-embedding" if again else None
    with (_progress(0, "chunk", settings.progress, desc) as bar,
          ThreadPoolExecutor(1, thread_name_prefix="qa-chunk") as chunker,
          ThreadPoolExecutor(1, thread_name_prefix="qa-write") as writer):

        def write(group: list[Chunk], vectors: list[list[float]]) -> None:
            index.write(group, vectors, hashes, counts)
            terms.add(group)
            bar.update(len(group))

        slices = [chunker.submit(chunking.chunk_articles, articles[i : i + _SLICE], **opts)
                  for i in range(0, len(articles), _SLICE)]
        pending: Future[None] | None = None
        done = 0  # chunks handed to the embedder so far
        for n, cut in enumerate(slices, start=1):
            part = cut.result()  # re-raises the chunker's IngestError here
            # An article's count is whole before any of its chunks joins a group, so the
            # writer thread, which reads the counts of its group's articles only, reads final
            # figures while this thread adds the next slice's.
            for chunk in part:
                counts[chunk.article_id] = counts.get(chunk.article_id, 0) + 1
            chunks += part
            bar.total = len(chunks)
            bar.refresh()
            while len(chunks) - done >= _GROUP or (n == len(slices) and done < len(chunks)):
                group = chunks[done : done + _GROUP]
                done += len(group)
                vectors = embedder.get_text_embedding_batch([c.embed_text() for c in group])
                if pending is not None:
                    pending.result()  # re-raises the previous write's StoreError here
                pending = writer.submit(write, group, vectors)
        if pending is not None:
            pending.result()
    return chunks, counts
