"""The Chroma index (the only module that imports chromadb), and incremental builds into it.

Chroma itself is the record of what is indexed: every chunk carries its article's id, content
hash and chunk count, so there is no side file to drift out of step. The collection's metadata
records which embedder wrote its vectors (model, backend and precision, dimension): a build
with another embedder re-embeds every article instead of mixing two kinds of vectors, and
reading an index of another model or dimension fails with one line saying how to rebuild.

Writes are upserts by deterministic chunk id, so a build killed half-way leaves a queryable
index and the next build re-embeds only the articles whose chunks are incomplete or stale.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from qa import formats, ingest, provenance, web
from qa.config import Settings
from qa.embed import EmbedderInfo, describe_embedder, embedder_for, model_dir, model_spec
from qa.errors import IngestError, NoIndexError, StoreError
from qa.models import Article, Chunk, IndexReport, IngestProblem

_GROUP = 256  # chunks embedded and written together: one Chroma upsert per group
_PAGE = 5000  # rows per Chroma get, under its max batch size


_BUILD = ("`qa index FOLDER` in a shell, qa.build_index(FOLDER) in Python, or the Index tab "
          "of the chat window")


@dataclass(frozen=True)
class IndexStats:
    """What the index holds, for the UI's index tab and ``qa info``; ``exists`` is false
    when no index was ever built at ``where`` (a folder, or a Chroma server's collection)."""

    articles: int
    chunks: int
    built_at: str
    source: str
    where: str = ""
    exists: bool = True
    embedder: str = ""  # who wrote the vectors, e.g. "all-MiniLM-L6-v2 (onnx-int8, 384-dim)"
    problem: str = ""  # why this install cannot search the vectors ("" when it can)
    note: str = ""  # what `qa index` would re-embed although searching works

    def unusable_reason(self) -> str:
        """Why no question can be answered from this index and how to fix it; "" if one can."""
        if not self.exists:
            return f"no index at {self.where} yet: build one with {_BUILD}"
        if not self.chunks:
            built = f" (emptied {self.built_at} from {self.source})" if self.built_at else ""
            return f"the index at {self.where} holds no articles{built}: index a folder of " \
                   f"articles with {_BUILD}"
        return self.problem


class ArticleIndex:
    """One Chroma collection of chunks, embedded or behind a Chroma server; opened lazily."""

    def __init__(self, settings: Settings, *, embedder: Any = None) -> None:
        self.settings = settings
        self._embedder = embedder  # shared between snapshots so the model loads once

    # --- opening ------------------------------------------------------------------------
    @cached_property
    def client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        url = self.settings.chroma_url
        try:
            if url:
                parts = urlparse(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise StoreError(f"QA_CHROMA_URL must look like http://host:port, not {url!r}")
                return chromadb.HttpClient(
                    host=parts.hostname,
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=chroma_settings,
                )
            self.settings.index_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(
                path=str(self.settings.index_dir), settings=chroma_settings
            )
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many types; translate at the boundary
            where = url or self.settings.index_dir
            raise StoreError(f"cannot open the Chroma index at {where}: {exc}") from None

    @property
    def where(self) -> str:
        """The index's place, as messages name it."""
        url = self.settings.chroma_url
        return f"{url} (collection {self.settings.collection!r})" if url else \
            str(self.settings.index_dir)

    def exists(self) -> bool:
        """Whether an index was ever built here. Never creates one, as opening Chroma would."""
        local = self.settings.index_dir / "chroma.sqlite3"
        if not self.settings.chroma_url and not local.is_file():
            return False
        try:
            names = {getattr(c, "name", c) for c in self.client.list_collections()}
        except Exception as exc:
            raise StoreError(f"cannot read the Chroma index at {self.where}: {exc}") from None
        return self.settings.collection in names

    def built_from(self) -> str:
        """The folder or file the index was last built from ("" when none, or never built)."""
        if not self.exists():
            return ""
        return str((self.collection.metadata or {}).get("source", ""))

    def require_articles(self) -> None:
        """Raise ``NoIndexError`` (saying how to build one) unless there is something to
        answer from: an index that exists and holds at least one passage."""
        if not self.exists() or not self.count():
            raise NoIndexError(self.stats().unusable_reason())

    @cached_property
    def collection(self) -> Any:
        try:
            return self.client.get_or_create_collection(
                self.settings.collection,
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,  # Chroma's default would download a model
                metadata=self.embedder_info.as_metadata(),  # kept only by a new collection
            )
        except Exception as exc:
            raise StoreError(
                f"cannot open collection {self.settings.collection!r}: {exc}"
            ) from None

    @cached_property
    def model_dir(self) -> Path:
        return model_dir(self.settings.embed_model_path, cache_dir=self.settings.cache_dir)

    def fresh(self) -> ArticleIndex:
        """A new handle on the same store that shares this one's embedder if it is loaded."""
        return ArticleIndex(self.settings, embedder=self._embedder)

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            self._embedder = embedder_for(self.settings)
        return self._embedder

    @cached_property
    def embedder_info(self) -> EmbedderInfo:
        """The embedder this handle writes and searches with; known without loading it."""
        info = getattr(self._embedder, "info", None)
        if isinstance(info, EmbedderInfo):
            return info
        spec = model_spec(self.model_dir, packaged=self.settings.embed_model_path is None)
        return describe_embedder(spec, self.settings.embed_backend)

    @cached_property
    def tokenizer(self) -> Any:
        return ingest.load_tokenizer(self.model_dir)

    @cached_property
    def vector_store(self) -> Any:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)

    # --- reading ------------------------------------------------------------------------
    def _pages(self, include: list[str]) -> Iterator[Any]:
        """Every row of the collection, ``_PAGE`` at a time (Chroma caps one get's size)."""
        offset = 0
        while True:
            page = self.collection.get(include=include, limit=_PAGE, offset=offset)
            yield page
            if len(page["ids"]) < _PAGE:
                return
            offset += _PAGE

    def _rows(self, include: list[str]) -> Iterator[tuple[str, dict[str, Any], str | None]]:
        for page in self._pages(include):
            ids = page["ids"]
            docs = page.get("documents") or [None] * len(ids)
            yield from zip(ids, page["metadatas"], docs, strict=True)

    def article_state(self) -> dict[str, tuple[set[str], int, int, str]]:
        """article id -> (content hashes seen, chunks present, chunks expected, path)."""
        state: dict[str, tuple[set[str], int, int, str]] = {}
        for _id, meta, _doc in self._rows(["metadatas"]):
            aid = meta["article_id"]
            hashes, present, expected, path = state.get(aid, (set(), 0, 0, meta.get("path", "")))
            hashes.add(meta["content_hash"])
            state[aid] = (hashes, present + 1, max(expected, int(meta["n_chunks"])), path)
        return state

    def chunks(self) -> list[Chunk]:
        """Every chunk in the index, for keyword search and evaluation."""
        out = [
            chunk_from_row(cid, meta, doc or "")
            for cid, meta, doc in self._rows(["metadatas", "documents"])
        ]
        out.sort(key=lambda c: c.id)
        return out

    # --- which embedder wrote it (the rules: qa.provenance) ----------------------------------
    def vectors(self) -> provenance.Vectors:
        """The collection's embedder record, the length of a stored vector, their count."""
        return provenance.read(self.collection)

    def written_by(self) -> EmbedderInfo | None:
        """The embedder the collection records; None for an index made before records."""
        return self.vectors().record

    def embedder_problem(self) -> str:
        """Why this install cannot search the vectors, in one line ("" when it can)."""
        return provenance.search_problem(self.vectors(), self.embedder_info, where=self.where)

    def require_searchable(self) -> None:
        """Raise ``StoreError`` (one line, both embedders named) unless the vectors fit."""
        if problem := self.embedder_problem():
            raise StoreError(problem)

    def adopt_embedder(self) -> str:
        """Make the collection this embedder's own before a build: one that records another
        embedder, or none, is dropped and made anew with our record. Returns the line saying
        every article is re-embedded ("" when no vectors were dropped)."""
        vectors = self.vectors()
        if not provenance.needs_new_collection(vectors, self.embedder_info):
            return ""
        try:
            self.client.delete_collection(self.settings.collection)
        except Exception as exc:
            raise StoreError(f"cannot clear the index to re-embed it: {exc}") from None
        for name in ("collection", "vector_store"):
            self.__dict__.pop(name, None)
        _ = self.collection  # made anew, empty, with our record
        return provenance.reembed_reason(vectors, self.embedder_info)

    def _set_metadata(self, updates: dict[str, Any]) -> None:
        """Merge into the collection's metadata (Chroma's ``modify`` replaces all of it)."""
        self.collection.modify(metadata={**(self.collection.metadata or {}), **updates})

    def embeddings(self, ids: Sequence[str]) -> Any:
        """The stored vectors as a float32 matrix, row i for ``ids[i]`` (zeros when absent),
        so queries never re-embed the corpus. Raises ``StoreError`` when they were made by
        another model or are of another dimension than this install's embedder."""
        import numpy as np

        self.require_searchable()

        row = {cid: i for i, cid in enumerate(ids)}
        matrix = None
        for page in self._pages(["embeddings"]):
            vectors = np.asarray(page["embeddings"], dtype=np.float32)
            if matrix is None:
                matrix = np.zeros((len(ids), vectors.shape[1] if len(vectors) else 0), np.float32)
            for cid, vec in zip(page["ids"], vectors, strict=True):
                if cid in row:
                    matrix[row[cid]] = vec
        return matrix

    def count(self) -> int:
        return int(self.collection.count())

    def stats(self) -> IndexStats:
        """Counts and provenance; ``exists=False`` (and nothing created) when never built."""
        if not self.exists():
            return IndexStats(0, 0, "", "", where=self.where, exists=False)
        meta = self.collection.metadata or {}
        articles = len({m["article_id"] for _i, m, _d in self._rows(["metadatas"])})
        vectors = self.vectors()
        chunks = vectors.count
        return IndexStats(
            articles=articles,
            chunks=chunks,
            built_at=str(meta.get("built_at", "")),
            source=str(meta.get("source", "")),
            where=self.where,
            embedder=vectors.writer() if chunks else "",
            problem=provenance.search_problem(vectors, self.embedder_info, where=self.where),
            note=provenance.reembed_note(vectors, self.embedder_info),
        )

    # --- writing ------------------------------------------------------------------------
    def write(
        self,
        chunks: list[Chunk],
        embeddings: list[list[float]],
        hashes: dict[str, str],
        counts: dict[str, int],
    ) -> None:
        """Upsert chunks with their embeddings, in the node format llama-index reads back."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        ids, metas, docs = [], [], []
        for chunk in chunks:
            node = TextNode(
                id_=chunk.id,
                text=chunk.text,
                metadata=_chunk_metadata(chunk, hashes[chunk.article_id], counts[chunk.article_id]),
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.article_id)},
                start_char_idx=chunk.start,
                end_char_idx=chunk.end,
            )
            ids.append(chunk.id)
            metas.append(node_to_metadata_dict(node, remove_text=True, flat_metadata=True))
            docs.append(chunk.text)
        try:
            self.collection.upsert(ids=ids, embeddings=embeddings, metadatas=metas, documents=docs)
        except Exception as exc:
            raise StoreError(f"writing {len(ids)} chunks to Chroma failed: {exc}") from None

    def delete_stale_chunks(self, article_id: str, keep: int) -> None:
        """Drop chunks numbered ``keep`` and above: left over when an article got shorter."""
        where = {"$and": [{"article_id": article_id}, {"chunk_index": {"$gte": keep}}]}
        self.collection.delete(where=where)

    def delete_articles(self, article_ids: Iterable[str]) -> None:
        for aid in article_ids:
            self.collection.delete(where={"article_id": aid})

    def mark_built(self, source: str) -> None:
        built = datetime.now(UTC).isoformat(timespec="seconds")
        self._set_metadata({"built_at": built, "source": source})


def _chunk_metadata(chunk: Chunk, content_hash: str, n_chunks: int) -> dict[str, Any]:
    return {
        "article_id": chunk.article_id,
        "chunk_index": chunk.index,
        "n_chunks": n_chunks,
        "content_hash": content_hash,
        "start": chunk.start,
        "end": chunk.end,
        "title": chunk.title,
        "source": chunk.source,
        "published_at": chunk.published_at,
        "url": chunk.url,
        "path": chunk.path,
        "table_header": chunk.table_header,
        "table_header_start": chunk.table_header_start,
    }


def chunk_from_row(chunk_id: str, meta: dict[str, Any], text: str) -> Chunk:
    """Rebuild a ``Chunk`` from what a Chroma row or a llama-index node carries."""
    return Chunk(
        id=chunk_id,
        article_id=str(meta["article_id"]),
        index=int(meta["chunk_index"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        published_at=str(meta.get("published_at", "")),
        url=str(meta.get("url", "")),
        path=str(meta.get("path", "")),
        table_header=str(meta.get("table_header", "")),
        table_header_start=int(meta.get("table_header_start", -1)),
    )


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

    Fetched web pages and feed items (``qa.web.web_dir``, the index's own folder) are part of
    every build. ``path`` None means the folder the index was last built from, if any; when
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
    found, problems = formats.read_articles(Path(path), max_article_mb=settings.max_article_mb,
                                            max_pdf_mb=settings.max_pdf_mb) if path else ([], [])
    from_web, web_problems = web.read_fetched(fetched, max_article_mb=settings.max_article_mb)
    articles = ingest.fold_duplicates([*found, *from_web])[0]
    problems = [*problems, *web_problems]
    if keep_folder:
        problems.append(IngestProblem(last, "is gone; the articles indexed from it are kept as "
                                            "they were", skipped=False))
    state = index.article_state() if built else {}
    if not articles and not state:
        detail = "; ".join(str(p) for p in problems[:5]) or \
            f"no {' '.join(sorted(formats.SUFFIXES))} files"
        raise IngestError(f"nothing to index in {path}: {detail}" if path else
                          "nothing to index: give a folder, a file or a web page or feed URL")
    reembedded = index.adopt_embedder() if built else ""  # never mixes two embedders' vectors
    if reembedded:
        state = {}
    opts = {"max_tokens": settings.chunk_tokens, "overlap": settings.chunk_overlap}
    hashes = {a.id: ingest.content_hash(a, **opts) for a in articles}

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
    failed_paths = {p.path.split("#", 1)[0] for p in problems if p.skipped}
    current = {a.id for a in articles}
    gone = [(aid, apath) for aid, (_h, _p, _e, apath) in state.items() if aid not in current]
    web_prefix = fetched.name + "/"
    removed_ids = [aid for aid, apath in gone if apath not in failed_paths
                   and not (keep_folder and not apath.startswith(web_prefix))]

    chunks = ingest.chunk_articles(changed, tokenizer=index.tokenizer, **opts)
    counts: dict[str, int] = {}
    for chunk in chunks:
        counts[chunk.article_id] = counts.get(chunk.article_id, 0) + 1
    _embed_and_write(index, chunks, hashes, counts, settings, again=bool(reembedded))
    for article in changed:
        index.delete_stale_chunks(article.id, counts.get(article.id, 0))
    index.delete_articles(removed_ids)
    index.mark_built(str(Path(path).resolve()) if path else last if keep_folder else "")
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
    chunks: list[Chunk],
    hashes: dict[str, str],
    counts: dict[str, int],
    settings: Settings,
    *,
    again: bool = False,
) -> None:
    """Embed ``chunks`` a group at a time; each group is written (node metadata and a Chroma
    upsert, a fifth of an int8 build) on a writer thread while the next one is embedded.
    Writes stay one at a time and in order, so a killed build keeps whole groups."""
    if not chunks:
        return
    from concurrent.futures import Future, ThreadPoolExecutor

    embedder = index.embedder
    desc = "re-embedding" if again else None
    with (_progress(len(chunks), "chunk", settings.progress, desc) as bar,
          ThreadPoolExecutor(1, thread_name_prefix="qa-write") as writer):

        def write(group: list[Chunk], vectors: list[list[float]]) -> None:
            index.write(group, vectors, hashes, counts)
            bar.update(len(group))

        pending: Future[None] | None = None
        for i in range(0, len(chunks), _GROUP):
            group = chunks[i : i + _GROUP]
            vectors = embedder.get_text_embedding_batch([c.embed_text() for c in group])
            if pending is not None:
                pending.result()  # re-raises the previous write's StoreError here
            pending = writer.submit(write, group, vectors)
        if pending is not None:
            pending.result()
