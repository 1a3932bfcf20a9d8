"""The Chroma index: the only module that imports chromadb (builds into it: ``qa.store.build``).

Chroma itself is the record of what is indexed: every chunk carries its article's id, content
hash and chunk count. The collection's metadata records which embedder wrote its vectors
(model, backend and precision, dimension): a build with another embedder re-embeds every
article instead of mixing two kinds of vectors, and reading an index of another model or
dimension fails with one line saying how to rebuild. It also records the build stamp: which
build of the keyword index (``qa.store.keyword``, kept in ``keyword_root``) matches the vectors, and
whether a build is writing; every process compares the stamp with the build it has open.

Questions read only what they need: nearest neighbours from Chroma's HNSW index
(``nearest``), and the texts, metadata and vectors of the few candidates (``passages``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from qa.config import Settings
from qa.embedding.embed import describe_embedder, embedder_for, model_dir, model_spec
from qa.embedding.spec import EmbedderInfo
from qa.errors import NoIndexError, StoreError
from qa.models import Chunk
from qa.store import chunking, provenance
from qa.store.rows import chunk_from_row, chunk_metadata

_PAGE = 5000  # rows per Chroma get, under its max batch size
_STAMP, _WRITING, _ARTICLES = "keyword_build", "writing", "articles"  # collection metadata


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


@dataclass(frozen=True)
class StoreState:
    """What a collection holds now, as read afresh from the store: its id, the build stamp of
    the last complete build ("" for an index built before stamps), whether a build is writing
    (or was stopped half-way), and its number of passages."""

    collection_id: str
    stamp: str
    writing: bool
    count: int
    built_at: str = ""

    @property
    def key(self) -> str:
        """The keyword build that matches the collection: its stamp, or for an index built
        before stamps one derived from the collection, its size and build time."""
        if self.stamp:
            return self.stamp
        digest = hashlib.sha256(f"{self.collection_id}|{self.count}|{self.built_at}".encode())
        return f"unstamped-{digest.hexdigest()[:16]}"


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

    @property
    def keyword_root(self) -> Path:
        """Where the keyword index's builds are kept: in the index folder, which with a Chroma
        server is a folder every app process of that server should share (one that lacks a
        build makes it from the collection, once)."""
        return self.settings.index_dir / "keyword" / self.settings.collection

    def state(self) -> StoreState:
        """The collection as it is now (read afresh: another process may have rebuilt it)."""
        try:
            col = self.client.get_collection(self.settings.collection, embedding_function=None)
            meta = col.metadata or {}
            return StoreState(str(col.id), str(meta.get(_STAMP, "")),
                              bool(meta.get(_WRITING, False)), int(col.count()),
                              str(meta.get("built_at", "")))
        except Exception as exc:
            raise StoreError(f"cannot read the Chroma index at {self.where}: {exc}") from None

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
        return chunking.load_tokenizer(self.model_dir)

    @cached_property
    def vector_store(self) -> Any:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection)

    # --- reading ------------------------------------------------------------------------
    def _pages(self, include: list[str], where: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every row of the collection (``where`` it matches), ``_PAGE`` at a time (Chroma
        caps one get's size)."""
        offset = 0
        while True:
            page = self.collection.get(include=include, where=where, limit=_PAGE, offset=offset)
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

    def articles(self) -> list[tuple[Chunk, int]]:
        """Each article's first chunk (text left out: title, outlet, date, url, path) and its
        number of chunks, in no particular order."""
        return [(chunk_from_row(cid, meta, ""), int(meta["n_chunks"])) for page in
                self._pages(["metadatas"], where={"chunk_index": 0})
                for cid, meta in zip(page["ids"], page["metadatas"], strict=True)]

    def chunks(self) -> list[Chunk]:
        """Every chunk in the index, for keyword search and evaluation."""
        out = [
            chunk_from_row(cid, meta, doc or "")
            for cid, meta, doc in self._rows(["metadatas", "documents"])
        ]
        out.sort(key=lambda c: c.id)
        return out

    # --- which embedder wrote it (the rules: qa.store.provenance) ------------------------------
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

    def nearest(self, vector: Sequence[float], n: int, *, where: dict[str, Any] | None = None,
                ids: Sequence[str] | None = None) -> tuple[list[str], Any]:
        """The ``n`` passages nearest to a unit ``vector`` by Chroma's HNSW index (approximate),
        among those matching ``where`` and within ``ids`` when given: their ids and cosine
        similarities (float32), best first."""
        import numpy as np

        try:
            found = self.collection.query(query_embeddings=[list(vector)], n_results=n,
                                          where=where, ids=list(ids) if ids else None,
                                          include=["distances"])
        except Exception as exc:
            raise StoreError(f"searching the Chroma index at {self.where} failed: {exc}") \
                from None
        distances = np.asarray(found["distances"][0], dtype=np.float32)
        return list(found["ids"][0]), 1.0 - distances  # cosine space: distance = 1 - cosine

    def passages(self, ids: Sequence[str], *, vectors: bool = False, texts: bool = True
                 ) -> dict[str, tuple[Chunk | None, Any]]:
        """The chunks (when ``texts``) and stored vectors (when ``vectors``) of ``ids``, by id;
        ids the store no longer holds are left out."""
        import numpy as np

        include = (["metadatas", "documents"] if texts else []) + (
            ["embeddings"] if vectors else [])
        out: dict[str, tuple[Chunk | None, Any]] = {}
        for start in range(0, len(ids), _PAGE):
            try:
                page = self.collection.get(ids=list(ids[start : start + _PAGE]),
                                           include=include)
            except Exception as exc:
                raise StoreError(f"reading the Chroma index at {self.where} failed: {exc}") \
                    from None
            got = page["ids"]
            embs = page.get("embeddings") if vectors else None
            for k, cid in enumerate(got):
                chunk = chunk_from_row(cid, page["metadatas"][k], page["documents"][k] or "") \
                    if texts else None
                vec = np.asarray(embs[k], dtype=np.float32) if embs is not None else None
                out[cid] = (chunk, vec)
        return out

    def count(self) -> int:
        return int(self.collection.count())

    def stats(self) -> IndexStats:
        """Counts and provenance; ``exists=False`` (and nothing created) when never built."""
        if not self.exists():
            return IndexStats(0, 0, "", "", where=self.where, exists=False)
        meta = self.collection.metadata or {}
        vectors = self.vectors()
        articles = int(meta[_ARTICLES]) if _ARTICLES in meta and not meta.get(_WRITING) else \
            len({m["article_id"] for _i, m, _d in self._rows(["metadatas"])})
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
                metadata=chunk_metadata(chunk, hashes[chunk.article_id], counts[chunk.article_id]),
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

    def begin_writing(self) -> None:
        """Record that a build is writing, before its first write: until ``mark_built``, every
        process answers from the last complete keyword build, and the next build rebuilds the
        keyword index whole if this one stops half-way."""
        self._set_metadata({_WRITING: True})

    def mark_built(self, source: str, *, stamp: str = "", articles: int | None = None) -> None:
        """Record a complete build: when, from where, its keyword build stamp (saved before
        this is called) and its number of articles."""
        built = datetime.now(UTC).isoformat(timespec="seconds")
        extra = {_STAMP: stamp} if stamp else {}
        if articles is not None:
            extra[_ARTICLES] = articles
        self._set_metadata({"built_at": built, "source": source, _WRITING: False, **extra})
