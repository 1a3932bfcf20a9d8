"""What keeps retrieval flat as the index grows (issue 24), checked against the slow way on real
MultiHop-RAG articles: BM25 from the postings of the question's terms gives the scores of the
term-by-term pass the retriever made before, and its top n those of a full sort; a scope
(outlets, a day, a time) found by bisection holds the rows a mask over every row holds; and a
scope's top passages, BM25 or vector, exact or by the widened HNSW search, are those of an
unrestricted ranking filtered afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import MULTIHOP

from qa.models import Chunk
from qa.retrieval.plan import Hop
from qa.retrieval.retrieve import Retriever, best
from qa.store import keyword
from qa.store.build import build_index
from qa.store.index import ArticleIndex
from qa.store.keyword import KeywordIndex
from qa.store.vectors import Scope, Scopes, VectorSearch


def _questions(n: int = 120) -> list[str]:
    queries = json.loads((MULTIHOP / "queries-dev.json").read_text(encoding="utf-8"))
    return [q["query"] for q in queries[:n]]


@pytest.fixture(scope="module")
def corpus() -> KeywordIndex:
    """Passages of every MultiHop-RAG article (600-character slices: BM25 does not care)."""
    out = []
    for r in json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8")):
        body = r["body"]
        for n, start in enumerate(range(0, len(body), 600)):
            out.append(Chunk(id=f"{r['url']}:{n:04d}", article_id=r["url"], index=n,
                             text=body[start : start + 700], start=start, end=start + 700,
                             title=r["title"], source=r["source"],
                             published_at=r["published_at"][:19].replace(" ", "T")))
    return KeywordIndex.build(sorted(out, key=lambda c: c.id))


def _dense(index: KeywordIndex, text: str) -> np.ndarray:
    """BM25 as the retriever scored it before issue 24: every row, term by term."""
    out = np.zeros(index.rows, dtype=np.float32)
    data, indices, indptr = (np.asarray(index.arrays[k]) for k in ("data", "indices", "indptr"))
    for term in keyword.tokenize([text])[0]:
        t = index.term_id(term)
        if t >= 0:
            np.add.at(out, indices[indptr[t] : indptr[t + 1]], data[indptr[t] : indptr[t + 1]])
    return out


def _top(dense: np.ndarray, mask: np.ndarray, n: int = 100) -> np.ndarray:
    """The top n of a pass over every row, filtered afterwards (ties: lower row first)."""
    filtered = np.flatnonzero(mask & (dense > 0))
    return filtered[np.argsort(-dense[filtered], kind="stable")][:n]


def test_bm25_from_the_postings_ranks_as_a_full_sort(corpus: KeywordIndex) -> None:
    assert corpus.rows > 10_000
    everywhere = np.ones(corpus.rows, dtype=bool)
    for question in _questions():
        for text in [question, *question.split(",")[:3], "zzqx unknownword"]:
            ours = corpus.scores(text)
            assert np.abs(ours - _dense(corpus, text)).max() <= 1e-6, text
            for n in (1, 10, 100):
                assert np.array_equal(best(ours, n), _top(ours, everywhere, n)), text
    assert not len(best(corpus.scores("the of and"), 10))


def test_scopes_by_bisection_hold_what_masks_over_every_row_hold(corpus: KeywordIndex) -> None:
    scopes = Scopes(corpus)
    source, day, clock = (np.asarray(corpus.arrays[k]) for k in ("source", "day", "clock"))
    for code in (1, 2, len(corpus.sources)):
        scope = scopes.outlets([corpus.sources[code - 1]], [code])
        assert np.array_equal(scopes.members(scope), np.flatnonzero(source == code))
        assert scopes.size(scope) == int((source == code).sum())
        rows = np.arange(0, corpus.rows, 7)
        assert np.array_equal(scopes.admits(scope, rows), source[rows] == code)
    d = int(day[len(day) // 2])
    iso = f"{d // 10000}-{d // 100 % 100:02d}-{d % 100:02d}"
    assert np.array_equal(scopes.days([iso]), np.flatnonzero(day == d))
    assert np.array_equal(scopes.days([iso[5:]]), np.flatnonzero(day % 10000 == d % 10000))
    c = int(clock[np.flatnonzero(clock % 100 < 60)[0]])
    hms = f"{c // 10000:02d}:{c // 100 % 100:02d}:{c % 100:02d}"
    assert np.array_equal(scopes.times([hms]), np.flatnonzero(clock == c))
    assert np.array_equal(scopes.times([hms[:5]]), np.flatnonzero(clock // 100 == c // 100))
    assert scopes.size(scopes.outlets([], [])) == 0, "no outlet is no passage, not all"
    lo, hi = int(np.percentile(day[day > 0], 25)), int(np.percentile(day[day > 0], 60))
    since, until = (f"{x // 10000}-{x // 100 % 100:02d}-{x % 100:02d}" for x in (lo, hi))
    assert np.array_equal(scopes.period(since, until), np.flatnonzero((day >= lo) & (day <= hi)))
    assert np.array_equal(scopes.period(since), np.flatnonzero(day >= lo))
    assert np.array_equal(scopes.period("", until), np.flatnonzero((day > 0) & (day <= hi)))


def test_a_bm25_scope_gives_the_top_of_an_unrestricted_ranking_filtered(
        corpus: KeywordIndex) -> None:
    scopes = Scopes(corpus)
    source, day = (np.asarray(corpus.arrays[k]) for k in ("source", "day"))
    counts = np.bincount(source)
    small = int(np.where(counts > 0, counts, 10**9).argmin())
    d = int(day[len(day) // 3])
    for question in _questions(40):
        dense = _dense(corpus, question)
        ours = corpus.scores(question)
        for codes in ([1, 2], [small]):
            scope = scopes.outlets([corpus.sources[c - 1] for c in codes], codes)
            found = best(ours, 100, scopes.members(scope))
            assert np.array_equal(found, _top(dense, np.isin(source, codes))), question
        listed = scopes.days([f"{d // 10000}-{d // 100 % 100:02d}-{d % 100:02d}"])
        assert np.array_equal(best(ours, 100, listed), _top(dense, day == d))


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, embedder
               ) -> ArticleIndex:  # type: ignore[no-untyped-def]
    """A real Chroma index of 80 MultiHop-RAG articles (real embedder)."""
    from qa.config import Settings

    root = tmp_path_factory.mktemp("scopes")
    records = json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))[:80]
    corpus_file = root / "corpus.json"
    corpus_file.write_text(json.dumps(records), encoding="utf-8")
    settings = Settings.load(index_dir=root / "index", cache_dir=cache_dir, progress=False)
    build_index(corpus_file, settings, index=ArticleIndex(settings, embedder=embedder))
    return ArticleIndex(settings, embedder=embedder)


def test_a_vector_scope_gives_the_top_of_an_unrestricted_search_filtered(
        real_index: ArticleIndex) -> None:
    retriever = Retriever(real_index)
    kw = retriever.keyword
    scopes = retriever.scopes
    source = np.asarray(kw.arrays["source"])
    biggest = int(np.bincount(source).argmax())
    outlet = scopes.outlets([kw.sources[biggest - 1]], [biggest])
    share = scopes.size(outlet) / kw.rows
    exact = VectorSearch(real_index, kw, exact_max=10**9, scopes=scopes)
    wide = VectorSearch(real_index, kw, exact_max=0, scopes=scopes)  # every scope by HNSW
    for question in _questions(15):
        vector = retriever.embed_question(question)
        everything, sims = exact.top(vector, Scope(key=("all",)), kw.rows)
        in_scope = np.isin(source[everything], [biggest])
        ours, our_sims = exact.top(vector, outlet, 20)
        assert np.array_equal(ours, everything[in_scope][:20])
        assert np.allclose(our_sims, sims[in_scope][:20])
        # HNSW widened by the scope's share, then filtered: the rows of the scope among the
        # unrestricted search's nearest, in its order
        k = min(wide.wide_max, int(np.ceil(2.0 * 20 / share)))
        unrestricted, _s = real_index.nearest(vector.tolist(), k)
        expected = [r for r in kw.rows_of(unrestricted).tolist() if source[r] == biggest][:20]
        got, _g = wide.top(vector, outlet, 20)
        assert got.tolist() == expected
        # fewer than asked when the scope's share of the wide search falls short; those found
        # are the exact top's
        assert len(got) >= 10
        assert len(set(got.tolist()) & set(ours.tolist())) >= 0.9 * len(got)


def test_a_hops_day_scope_is_its_outlets_passages_of_that_day(real_index: ArticleIndex) -> None:
    retriever = Retriever(real_index)
    kw = retriever.keyword
    source, day = np.asarray(kw.arrays["source"]), np.asarray(kw.arrays["day"])
    row = int(np.flatnonzero(day > 0)[0])
    name, d = kw.sources[int(source[row]) - 1], int(day[row])
    iso = f"{d // 10000}-{d // 100 % 100:02d}-{d % 100:02d}"
    outlets, first = retriever._hop_scope(Hop(sources=(name,), days=(iso,)))  # noqa: SLF001
    assert outlets is not None and first is not None and first.rows is not None
    assert np.array_equal(first.rows, np.flatnonzero((source == source[row]) & (day == d)))
    _o, none = retriever._hop_scope(Hop(sources=(name,), days=("1999-01-01",)))  # noqa: SLF001
    assert none is None, "a day none of the outlet's passages has ranks nothing first"


def test_a_deeper_retriever_shares_what_was_opened_and_ranks_as_a_new_one(
        real_index: ArticleIndex) -> None:
    from qa.retrieval.retrieve import RetrievalOptions

    retriever = Retriever(real_index)
    retriever.warm()
    options = RetrievalOptions(top_k=200, candidates=200)
    deep = retriever.with_options(options)
    assert deep.keyword is retriever.keyword and deep.scopes is retriever.scopes
    assert deep.options is options and retriever.options is not options
    fresh = Retriever(real_index, options)
    for question in _questions(5):
        ours = [(p.chunk.id, round(p.score, 9)) for p in deep.retrieve(question, top_k=200)]
        assert ours == [(p.chunk.id, round(p.score, 9))
                        for p in fresh.retrieve(question, top_k=200)]
        assert len(ours) > 10
