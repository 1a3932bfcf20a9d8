"""The memory-mapped copy of the stored vectors beside each keyword build (issue 24: exact scope
search without fetching vectors from the store): every build gets one that equals what Chroma
holds, row for row, including builds that add, change and remove articles and a build from
before copies were kept; exact search from it ranks as from fetched vectors; a store that
lacks a passage leaves no copy and no temporary file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from conftest import MULTIHOP

from qa.config import Settings
from qa.retrieval.retrieve import Retriever
from qa.store import vector_copy
from qa.store.build import build_index
from qa.store.index import ArticleIndex
from qa.store.keyword import KeywordIndex
from qa.store.vectors import Scope, VectorSearch


def _records(n: int) -> list[dict]:
    return json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))[:n]


def _build(root: Path, records: list[dict], cache_dir: Path, embedder) -> ArticleIndex:  # type: ignore[no-untyped-def]
    corpus = root / "corpus.json"
    corpus.write_text(json.dumps(records), encoding="utf-8")
    settings = Settings.load(index_dir=root / "index", cache_dir=cache_dir, progress=False)
    build_index(corpus, settings, index=ArticleIndex(settings, embedder=embedder))
    return ArticleIndex(settings, embedder=embedder)


def _open(index: ArticleIndex) -> tuple[KeywordIndex, Path]:
    state = index.state()
    folder = index.keyword_root / state.key
    build = KeywordIndex.load(folder)
    assert build is not None and build.rows == state.count
    return build, folder


def _assert_copy_is_the_store(index: ArticleIndex) -> KeywordIndex:
    build, _folder = _open(index)
    assert build.vectors is not None, "the build has no vector copy"
    ids = list(build.ids)
    stored = index.passages(ids, vectors=True, texts=False)
    assert len(stored) == len(ids)
    for row, cid in enumerate(ids):
        assert np.array_equal(build.vectors[row], stored[cid][1]), cid
    return build


def test_every_build_copies_the_stored_vectors_row_for_row(
        tmp_path: Path, cache_dir: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    records = _records(24)
    index = _build(tmp_path, records[:20], cache_dir, embedder)
    first = _assert_copy_is_the_store(index)
    # four added (20-23), one changed (3), one removed (5): the next build copies what it kept
    # and reads the new passages back from the store
    changed = dict(records[3], body=records[3]["body"] + "\n\nA paragraph added later on.")
    later = records[:3] + [changed, records[4]] + records[6:24]
    index = _build(tmp_path, later, cache_dir, embedder)
    second = _assert_copy_is_the_store(index)
    assert second.stamp != first.stamp and second.rows != first.rows
    # a build from before copies were kept gets one at the next run, which changes nothing else
    _build_before, folder = _open(index)
    (folder / vector_copy.NAME).unlink()
    assert _open(index)[0].vectors is None
    index = _build(tmp_path, later, cache_dir, embedder)
    third = _assert_copy_is_the_store(index)
    assert third.stamp == second.stamp
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temporary file left"


def test_exact_search_from_the_copy_ranks_as_from_fetched_vectors(
        tmp_path: Path, cache_dir: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    index = _build(tmp_path, _records(40), cache_dir, embedder)
    retriever = Retriever(index)
    copied = retriever.keyword
    assert copied.vectors is not None
    fetched, _folder = _open(index)
    fetched.vectors = None  # as a build without a copy: vectors come from the store
    calls = []
    real = index.passages

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, **kwargs)

    index.passages = counting  # type: ignore[method-assign]
    from_copy = VectorSearch(index, copied, exact_max=10**9)
    from_store = VectorSearch(index, fetched, exact_max=10**9)
    source = np.asarray(copied.arrays["source"])
    for question in ("Which company did the article say was sued by the FTC?",
                     "Who won the match on Sunday?", "What did the central bank decide?"):
        vector = retriever.embed_question(question)
        for code in (1, int(np.bincount(source).argmax())):
            scope = Scope(codes=(code,), sources=(copied.sources[code - 1],),
                          key=("outlets", code))
            before = len(calls)
            ours = from_copy.top(vector, scope, 10)
            assert len(calls) == before, "the copy was not used: vectors were fetched"
            theirs = from_store.top(vector, scope, 10)
            assert np.array_equal(ours[0], theirs[0])
            assert np.array_equal(ours[1], theirs[1])
            assert len(ours[0]) == min(10, int((source == code).sum()))


def test_a_store_that_lacks_a_passage_leaves_no_copy(tmp_path: Path) -> None:
    ids = [f"a:{i:04d}" for i in range(12)]
    vectors = {cid: np.full(4, i, dtype=np.float32) for i, cid in enumerate(ids)}
    fetched: list[list[str]] = []

    def fetch(wanted):  # type: ignore[no-untyped-def]
        fetched.append(list(wanted))
        return {cid: vectors[cid] for cid in wanted if cid != "a:0007"}

    assert not vector_copy.write(tmp_path, ids, fetch)
    assert list(tmp_path.iterdir()) == []
    assert vector_copy.load(tmp_path, len(ids)) is None
    # kept rows come from the last copy; only the others are fetched
    vectors["a:0007"] = np.full(4, 7, dtype=np.float32)
    old = np.stack([vectors[c] for c in ids[:6]])
    where = np.asarray(list(range(6)) + [-1] * 6)
    fetched.clear()

    def fetch_all(wanted):  # type: ignore[no-untyped-def]
        fetched.append(list(wanted))
        return {cid: vectors[cid] for cid in wanted}

    assert vector_copy.write(tmp_path, ids, fetch_all, last=(old, where))
    assert fetched == [ids[6:]], "a vector the last copy holds was fetched again"
    copy = vector_copy.load(tmp_path, len(ids))
    assert copy is not None and np.array_equal(copy[:, 0], np.arange(12, dtype=np.float32))
    assert vector_copy.load(tmp_path, len(ids) + 1) is None, "a copy of another size is unused"
    # a copy that does not fit the build (another size or type) is written again
    np.save(tmp_path / vector_copy.NAME, np.zeros((3, 4), dtype=np.float64))
    assert vector_copy.load(tmp_path, len(ids)) is None
    assert vector_copy.write(tmp_path, ids, fetch_all)
    again = vector_copy.load(tmp_path, len(ids))
    assert again is not None and np.array_equal(again[:, 0], np.arange(12, dtype=np.float32))
