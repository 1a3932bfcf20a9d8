"""The keyword index: BM25 over every passage, built by ``qa index`` and memory-mapped at start.

One build is a folder of ``.npy`` arrays named after the collection's build stamp
(``qa.store.index.StoreState``), written to a temporary folder and renamed into place, so a folder
that exists is whole. It holds, row by row in chunk-id order:

- BM25 (Lucene variant, k1 1.5, b 0.75, as ``bm25s`` scores it, same tokens: bm25s's tokenizer
  with its English stop words and PyStemmer's English stemmer) as a term-major sparse matrix of
  precomputed scores (``data``, ``indices``, ``indptr``), and the terms, sorted, looked up by
  bisection, so opening costs no parsing however large the vocabulary;
- each passage's tokens (term ids), so an update tokenizes only new passages and recomputes the
  scores with array operations (document frequencies and lengths change for every row);
- chunk ids (and a sorted 64-bit hash of each, to find a row from an id the store returns),
  and per row the article, outlet, day and time the retriever's hops filter on.

Nothing here talks to Chroma: ``qa.store.build`` writes a build after the vectors,
``qa.retrieval.retrieve`` opens the one the collection's stamp names.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import StoreError
from qa.models import Chunk
from qa.store import vector_copy

FORMAT = 1
K1, B = 1.5, 0.75  # bm25s's defaults, with which the retrieval figures were measured
_DAY = re.compile(r"\d{4}-\d\d-\d\d")
_HMS = re.compile(r"\d\d:\d\d:\d\d")
_HM = re.compile(r"\d\d:\d\d")
_ARRAYS = ("data", "indices", "indptr", "terms", "terms_off", "tokens", "tokens_off", "ids",
           "ids_off", "id_hash", "id_order", "article", "source", "day", "clock")


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Each text's BM25 terms, as ``bm25s.tokenize`` makes them (lower case, English stop words
    out, stemmed; a text with none is ``[""]``)."""
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


def article_of(chunk_id: str) -> str:
    """The article id inside a chunk id (``qa.models.chunk_id``)."""
    return chunk_id.rsplit(":", 1)[0]


def day_and_clock(published_at: str) -> tuple[int, int]:
    """``published_at`` as the hops compare it: the day as YYYYMMDD (0: none) and the time as
    HHMMSS (-1: none; seconds 99 when only HH:MM is given, so that "HH:MM" still matches and
    no "HH:MM:SS" does)."""
    day = int(published_at[:10].replace("-", "")) if _DAY.fullmatch(published_at[:10]) else 0
    clock = published_at[11:19]
    if _HMS.fullmatch(clock):
        return day, int(clock.replace(":", ""))
    if _HM.fullmatch(clock[:5]) and len(clock) == 5:
        return day, int(clock.replace(":", "")) * 100 + 99
    return day, -1


def _hash(ids: Iterable[str]) -> np.ndarray:
    return np.fromiter((int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(),
                                       "little") for i in ids), dtype=np.uint64)


def _pack(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 byte array and offsets (``len + 1``)."""
    encoded = [s.encode() for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


class Strings(Sequence[str]):
    """A read-only list of strings over a byte array and its offsets (memory-mapped as is)."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        # plain views of the (memory-mapped) arrays: slicing a np.memmap costs a subclass each
        self._blob, self._offsets = np.asarray(blob), np.asarray(offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        start, end = int(self._offsets[i]), int(self._offsets[i + 1])
        return self._blob[start:end].tobytes().decode()


# --- building (in the ``qa index`` process) ----------------------------------------------------


class Table:
    """Passages being made into a build: ids, tokens and hop fields, in any order."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.days: list[int] = []
        self.clocks: list[int] = []
        self.lengths: list[int] = []
        self.term_ids: dict[str, int] = {}
        self._tokens: list[np.ndarray] = []

    def add(self, chunks: Sequence[Chunk], *, batch: int = 2048) -> None:
        """Tokenize and add passages (a batch at a time, to bound the tokenizer's lists)."""
        for i in range(0, len(chunks), batch):
            part = chunks[i : i + batch]
            for chunk, terms in zip(part, tokenize([c.embed_text() for c in part]), strict=True):
                ids = [self.term_ids.setdefault(t, len(self.term_ids)) for t in terms]
                self._append(chunk.id, chunk.source, *day_and_clock(chunk.published_at),
                             np.asarray(ids, dtype=np.int32))

    def _append(self, cid: str, source: str, day: int, clock: int, tokens: np.ndarray) -> None:
        self.ids.append(cid)
        self.sources.append(source)
        self.days.append(day)
        self.clocks.append(clock)
        self.lengths.append(len(tokens))
        self._tokens.append(tokens)

    def keep_from(self, old: KeywordIndex, *, drop_articles: set[str]) -> None:
        """Carry over ``old``'s passages except those of ``drop_articles``, untokenized."""
        remap = np.asarray([self.term_ids.setdefault(t, len(self.term_ids)) for t in old.terms],
                           dtype=np.int32)
        tokens, offsets = old.arrays["tokens"], old.arrays["tokens_off"]
        source, day, clock = old.arrays["source"], old.arrays["day"], old.arrays["clock"]
        names = ("", *old.sources)
        for row, cid in enumerate(old.ids):
            if article_of(cid) in drop_articles:
                continue
            own = remap[np.asarray(tokens[offsets[row] : offsets[row + 1]])]
            self._append(cid, names[source[row]], int(day[row]), int(clock[row]), own)

    def finish(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The build's arrays and description: rows sorted by chunk id, the vocabulary
        compacted and sorted, BM25 scores computed as bm25s computes them (same float32
        and float64 steps, so the same scores)."""
        order = sorted(range(len(self.ids)), key=self.ids.__getitem__)
        n = len(order)
        lengths = np.asarray(self.lengths, dtype=np.int64)[order]
        tokens = np.concatenate([self._tokens[i] for i in order]) if n else \
            np.zeros(0, np.int32)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # compact and sort the vocabulary: term ids in the order of the sorted terms
        by_id = sorted(self.term_ids, key=self.term_ids.__getitem__)
        used = np.unique(tokens)
        terms = sorted(by_id[t] for t in used.tolist())
        new_id = np.full(len(by_id) + 1, -1, dtype=np.int32)
        new_id[[self.term_ids[t] for t in terms]] = np.arange(len(terms), dtype=np.int32)
        tokens = new_id[tokens]
        data, indices, indptr = _bm25(tokens, lengths, len(terms))
        ids = [self.ids[i] for i in order]
        sources = sorted({s for s in self.sources if s})
        code = {s: k for k, s in enumerate(sources, start=1)}
        articles: dict[str, int] = {}
        hashes = _hash(ids)
        hash_order = np.argsort(hashes, kind="stable")
        arrays = {
            "data": data, "indices": indices, "indptr": indptr, "tokens": tokens,
            "tokens_off": offsets, "id_hash": hashes[hash_order],
            "id_order": hash_order.astype(np.int32),
            "article": np.asarray([articles.setdefault(article_of(c), len(articles))
                                   for c in ids], dtype=np.int32),
            "source": np.asarray([code.get(self.sources[i], 0) for i in order], np.int32),
            "day": np.asarray([self.days[i] for i in order], dtype=np.int32),
            "clock": np.asarray([self.clocks[i] for i in order], dtype=np.int32),
        }
        arrays["terms"], arrays["terms_off"] = _pack(terms)
        arrays["ids"], arrays["ids_off"] = _pack(ids)
        meta = {"format": FORMAT, "rows": n, "articles": len(articles), "sources": sources,
                "k1": K1, "b": B, "tokenizer": "bm25s en stop words, PyStemmer english"}
        return arrays, meta


def _bm25(tokens: np.ndarray, lengths: np.ndarray, vocab: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term-major sparse BM25 scores: ``data[indptr[t]:indptr[t+1]]`` are term t's scores in
    the rows ``indices[...]``, ascending. bm25s's Lucene variant, vectorized (its own build
    loops over documents in Python): idf = ln(1 + (N - df + 0.5) / (df + 0.5)) in float32,
    score = idf * tf / (k1 * (1 - b + b * dl / avgdl) + tf)."""
    n = len(lengths)
    if not n:
        return np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(vocab + 1, np.int64)
    docs = np.repeat(np.arange(n, dtype=np.int64), lengths)
    pairs, tf = np.unique(tokens.astype(np.int64) * n + docs, return_counts=True)
    term, doc = pairs // n, pairs % n
    df = np.bincount(term, minlength=vocab)
    idf = np.asarray([math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in df.tolist()],
                     dtype=np.float32)
    avgdl = lengths.mean()
    tf32 = tf.astype(np.float32)
    tfc = tf32 / (K1 * ((1 - B) + B * lengths[doc] / avgdl) + tf32)
    indptr = np.zeros(vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return (idf[term] * tfc).astype(np.float32), doc.astype(np.int32), indptr


def save(arrays: dict[str, np.ndarray], meta: dict[str, Any], root: Path, stamp: str) -> Path:
    """Write a build as ``root/stamp`` atomically: into a temporary folder, every file synced,
    then renamed into place (a folder that exists is whole). When the folder is already there
    (another process wrote this build), that one is kept. Raises ``StoreError``."""
    final = root / stamp
    try:
        root.mkdir(parents=True, exist_ok=True)
        if (final / "meta.json").is_file():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        try:
            for name, array in arrays.items():
                with (tmp / f"{name}.npy").open("wb") as f:
                    np.save(f, array)
                    f.flush()
                    os.fsync(f.fileno())
            with (tmp / "meta.json").open("w", encoding="utf-8") as f:
                json.dump({**meta, "stamp": stamp}, f)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if (final / "meta.json").is_file():
                return final
            raise
        dirfd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError as exc:
        raise StoreError(f"cannot write the keyword index at {final}: {exc}") from None
    return final


def prune(root: Path, keep: Iterable[str]) -> None:
    """Delete the builds not in ``keep`` and temporary folders over an hour old. A process
    that still has a deleted build open keeps reading it (its files stay until unmapped)."""
    keep = set(keep)
    if not root.is_dir():
        return
    for path in root.iterdir():
        stale = path.name.startswith(".tmp-") and time.time() - path.stat().st_mtime > 3600
        if path.is_dir() and (stale or (not path.name.startswith(".") and path.name not in keep)):
            shutil.rmtree(path, ignore_errors=True)


def new_stamp() -> str:
    """A fresh build stamp."""
    return uuid.uuid4().hex[:16]


# --- reading (every process that retrieves) -----------------------------------------------------


class KeywordIndex:
    """One build of the keyword index, read-only: BM25 scores of every passage for a text,
    inverse document frequencies, and the row tables the retriever filters and groups by."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.arrays = arrays
        self.meta = meta
        self.stamp: str = str(meta.get("stamp", ""))
        self.rows: int = int(meta["rows"])
        self.articles: int = int(meta.get("articles", 0))
        self.sources: tuple[str, ...] = tuple(meta["sources"])
        self.terms = Strings(arrays["terms"], arrays["terms_off"])
        self.ids = Strings(arrays["ids"], arrays["ids_off"])
        self._term_ids: dict[str, int] = {}  # terms looked up so far (a question's recur)
        # the stored vectors in row order, memory-mapped (``qa.store.vector_copy``); None:
        # this build has no copy, so exact scope search fetches them from the store
        self.vectors: np.ndarray | None = None

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The build in ``folder``, memory-mapped; None when there is none or it is of
        another format (then it is rebuilt, never misread)."""
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                return None
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        except (OSError, ValueError):
            return None
        found = cls(arrays, meta)
        found.vectors = vector_copy.load(folder, found.rows)
        return found

    @classmethod
    def build(cls, chunks: Sequence[Chunk], *, stamp: str = "") -> KeywordIndex:
        """A build held in memory (for an index whose build is not saved)."""
        table = Table()
        table.add(chunks)
        arrays, meta = table.finish()
        return cls(arrays, {**meta, "stamp": stamp})

    @property
    def article(self) -> np.ndarray:
        """Each row's article, numbered (rows of one article share it)."""
        return self.arrays["article"]

    @property
    def source(self) -> np.ndarray:
        """Each row's outlet: 0 for none, k for ``sources[k - 1]``."""
        return self.arrays["source"]

    @property
    def day(self) -> np.ndarray:
        """Each row's day as YYYYMMDD (0: none)."""
        return self.arrays["day"]

    @property
    def clock(self) -> np.ndarray:
        """Each row's time as HHMMSS (see ``day_and_clock``)."""
        return self.arrays["clock"]

    def term_id(self, term: str) -> int:
        """The term's id, -1 when no passage holds it (by bisection of the sorted terms)."""
        found = self._term_ids.get(term)
        if found is None:
            i = bisect.bisect_left(self.terms, term)
            found = i if i < len(self.terms) and self.terms[i] == term else -1
            if len(self._term_ids) < 100_000:
                self._term_ids[term] = found
        return found

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every row for ``text`` (float32, zeros when none of its terms is
        indexed); each occurrence of a term counts, summed in query order as bm25s does."""
        out = np.zeros(self.rows, dtype=np.float32)
        data, indices, indptr = (np.asarray(self.arrays[k]) for k in ("data", "indices", "indptr"))
        for term in tokenize([text])[0]:
            t = self.term_id(term)
            if t >= 0:
                start, end = int(indptr[t]), int(indptr[t + 1])
                np.add.at(out, indices[start:end], data[start:end])
        return out

    def df(self, term: str) -> int:
        """How many passages hold the (stemmed) term."""
        t = self.term_id(term)
        indptr = self.arrays["indptr"]
        return int(indptr[t + 1] - indptr[t]) if t >= 0 else 0

    def idf(self, terms: Iterable[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each stemmed term (Robertson-Sparck Jones with
        +1 inside the log, as bm25s and Lucene use); a term no passage holds gets the
        highest value."""
        n = self.rows
        return {t: math.log(1 + (n - (df := self.df(t)) + 0.5) / (df + 0.5)) for t in terms}

    def ids_of(self, rows: Iterable[int]) -> list[str]:
        """The chunk ids of rows."""
        return [self.ids[int(r)] for r in rows]

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each chunk id, -1 for an id this build does not hold."""
        hashes, order = self.arrays["id_hash"], self.arrays["id_order"]
        wanted = _hash(ids)
        pos = np.searchsorted(hashes, wanted)
        out = np.full(len(ids), -1, dtype=np.int64)
        for k, (cid, h, p) in enumerate(zip(ids, wanted.tolist(), pos.tolist(), strict=True)):
            while p < len(hashes) and int(hashes[p]) == h:  # equal hashes: check the id
                if self.ids[int(order[p])] == cid:
                    out[k] = int(order[p])
                    break
                p += 1
        return out


def open_build(root: Path, stamp: str, *, complete: bool, rows: int,
               load_chunks: Callable[[], list[Chunk]]) -> KeywordIndex:
    """The build ``stamp`` names, from ``root``. When it is missing (another machine built the
    index, or it was built before builds were kept) or does not hold ``rows`` passages, it is
    made from ``load_chunks()`` and, when the collection is ``complete`` (no build writing to
    it), saved for the next process; a folder that cannot be written leaves it in memory.
    While a build is writing, the last complete one is used as it is."""
    found = KeywordIndex.load(root / stamp) if stamp else None
    if found is not None and (found.rows == rows or not complete):
        return found
    made = KeywordIndex.build(load_chunks(), stamp=stamp)
    if complete and stamp and found is None:
        try:
            return KeywordIndex.load(save(made.arrays, made.meta, root, stamp)) or made
        except StoreError:
            pass
    return made
