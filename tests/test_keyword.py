"""The persisted keyword index (``qa.store.keyword``): the same BM25 as bm25s, updates equal to
builds from scratch, whole-or-absent builds on disk, and builds tied to the collection's stamp
(a stale or missing one made again, never used) over a real Chroma index."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import MULTIHOP, WIRE

from qa.models import Chunk
from qa.retrieval.retrieve import Retriever
from qa.store import keyword
from qa.store.build import build_index
from qa.store.index import ArticleIndex
from qa.store.keyword import KeywordIndex, Table, day_and_clock

QUESTIONS = ["Which company raised money for battery recycling in Nevada?",
             "Did Sam Altman return to OpenAI's board?", "the of and", "zzqx unknownword"]


def _chunks(records: int = 30) -> list[Chunk]:
    """Passages cut from MultiHop-RAG articles (plain slices: BM25 does not care)."""
    out = []
    for r in json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))[:records]:
        body = r["body"]
        for n, start in enumerate(range(0, min(len(body), 2400), 600)):
            out.append(Chunk(id=f"{r['url']}:{n:04d}", article_id=r["url"], index=n,
                             text=body[start : start + 700], start=start, end=start + 700,
                             title=r["title"], source=r["source"],
                             published_at=r["published_at"][:19].replace(" ", "T")))
    return sorted(out, key=lambda c: c.id)


def test_scores_and_frequencies_are_those_of_bm25s() -> None:
    import bm25s
    import Stemmer

    chunks = _chunks()
    ours = KeywordIndex.build(chunks)
    stemmer = Stemmer.Stemmer("english")
    theirs = bm25s.BM25()
    theirs.index(bm25s.tokenize([c.embed_text() for c in chunks], stopwords="en",
                                stemmer=stemmer, show_progress=False), show_progress=False)
    for question in QUESTIONS:
        terms = bm25s.tokenize(question, stopwords="en", stemmer=stemmer, return_ids=False,
                               show_progress=False)[0]
        terms = [t for t in terms if t in theirs.vocab_dict]
        expected = theirs.get_scores(terms) if terms else np.zeros(len(chunks), np.float32)
        assert np.array_equal(ours.scores(question), expected), question
    indptr = theirs.scores["indptr"]
    terms = [t for t in ("said", "openai", "batteri", "compani", "market", "year")
             if t in theirs.vocab_dict]  # stemmed, as indexed
    assert len(terms) >= 3
    for term in terms:
        tid = theirs.vocab_dict[term]
        assert ours.df(term) == indptr[tid + 1] - indptr[tid] > 0
    assert ours.df("notaword") == 0
    assert ours.idf(["notaword"])["notaword"] > ours.idf(["said"])["said"]


def test_an_update_equals_a_build_from_scratch(tmp_path: Path) -> None:
    chunks = _chunks()
    saved = KeywordIndex.load(keyword.save(*_table_of(chunks), tmp_path, "one"))
    assert saved is not None and isinstance(saved.arrays["data"], np.memmap)
    removed, changed = chunks[0].article_id, chunks[-1].article_id
    new = [replace(c, text=c.text + " battery recycling", source="A New Outlet")
           for c in chunks if c.article_id == changed]
    table = Table()
    table.keep_from(saved, drop_articles={removed, changed})
    table.add(new)
    arrays, meta = table.finish()
    kept = [c for c in chunks if c.article_id not in {removed, changed}]
    scratch = KeywordIndex.build(sorted(kept + new, key=lambda c: c.id))
    assert meta["sources"] == list(scratch.sources) and "A New Outlet" in meta["sources"]
    assert meta["rows"] == len(kept) + len(new)
    for name, array in scratch.arrays.items():
        assert np.array_equal(arrays[name], array), name


def _table_of(chunks: list[Chunk]) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    table = Table()
    table.add(chunks)
    return table.finish()


def test_a_build_on_disk_is_whole_or_absent(tmp_path: Path) -> None:
    arrays, meta = _table_of(_chunks(5))
    half = tmp_path / "half"  # as a writer killed before its rename would leave it, named
    half.mkdir()
    np.save(half / "data.npy", arrays["data"])
    assert KeywordIndex.load(half) is None
    whole = keyword.save(arrays, meta, tmp_path, "whole")
    assert KeywordIndex.load(whole) is not None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    (whole / "meta.json").write_text(json.dumps({**meta, "format": -1}))
    assert KeywordIndex.load(whole) is None, "another format is made again, not misread"
    keyword.prune(tmp_path, keep={"half"})
    assert [p.name for p in tmp_path.iterdir()] == ["half"]


def test_rows_are_found_from_ids_and_hops_read_days_and_times() -> None:
    chunks = _chunks(5)
    index = KeywordIndex.build(chunks)
    ids = [c.id for c in chunks]
    assert index.rows_of([ids[3], "not-held:0000", ids[0]]).tolist() == [3, -1, 0]
    assert index.ids_of([1, 2]) == ids[1:3]
    assert day_and_clock("2023-10-31T13:41:30+00:00") == (20231031, 134130)
    assert day_and_clock("2023-10-31T13:41") == (20231031, 134199)
    assert day_and_clock("2023-10-31") == (20231031, -1)
    assert day_and_clock("October 31") == (0, -1)


# --- tied to the collection (real Chroma, real embedder) -------------------------------------


def _same(a: KeywordIndex, b: KeywordIndex) -> bool:
    return a.rows == b.rows and all(np.array_equal(a.arrays[n], b.arrays[n]) for n in a.arrays)


def test_qa_index_saves_the_build_its_stamp_names_and_updates_it(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    build_index(seed_folder, settings, index=index)
    first = index.state()
    assert first.stamp and not first.writing
    assert (index.keyword_root / first.stamp / "meta.json").is_file()
    retriever = Retriever(ArticleIndex(settings, embedder=embedder))
    assert retriever.stamp == first.stamp
    assert isinstance(retriever.keyword.arrays["data"], np.memmap), "opened, not rebuilt"
    assert index.stats().articles == 1

    again = build_index(seed_folder, settings, index=index)
    assert again.unchanged == 1 and index.state().stamp == first.stamp, "nothing changed"
    (seed_folder / "agency.txt").write_text(f"Hikers missing\nSource: Wire\n\n{WIRE}\n")
    build_index(seed_folder, settings, index=index)
    second = index.state()
    assert second.stamp != first.stamp
    updated = KeywordIndex.load(index.keyword_root / second.stamp)
    assert updated is not None and _same(updated, KeywordIndex.build(index.chunks()))
    assert index.stats().articles == 2
    (seed_folder / "agency.txt").unlink()
    build_index(seed_folder, settings, index=index)
    kept = {p.name for p in index.keyword_root.iterdir()}
    assert kept == {second.stamp, index.state().stamp}, "older builds are pruned"


def test_a_missing_or_stale_build_is_made_again_never_used(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    build_index(seed_folder, settings, index=index)
    stamp = index.state().stamp
    expected = Retriever(ArticleIndex(settings, embedder=embedder)).retrieve("military aid")
    shutil.rmtree(index.keyword_root / stamp)  # e.g. built on another machine
    retriever = Retriever(ArticleIndex(settings, embedder=embedder))
    assert retriever.retrieve("military aid") == expected
    assert (index.keyword_root / stamp / "meta.json").is_file(), "made once, for the next"

    # a build that stopped half-way: the stamp still names the last complete build, but the
    # collection is marked as being written, and holds a passage that build lacks
    (seed_folder / "agency.txt").write_text(f"Hikers missing\nSource: Wire\n\n{WIRE}\n")
    index.begin_writing()
    extra = Chunk(id="half.txt:0000", article_id="half.txt", index=0, text=WIRE, start=0,
                  end=len(WIRE), title="Half-written", source="Wire")
    index.write([extra], embedder.get_text_embedding_batch([extra.embed_text()]),
                {"half.txt": "x"}, {"half.txt": 2})
    meanwhile = Retriever(ArticleIndex(settings, embedder=embedder))
    assert meanwhile.stamp == stamp and "half.txt:0000" not in list(meanwhile.keyword.ids), \
        "while a build writes, the last complete build answers"
    assert all(p.chunk.article_id != "half.txt"
               for p in meanwhile.retrieve("hikers missing in the Dolomites"))
    report = build_index(seed_folder, settings, index=index)
    assert report.added == 1 and report.removed == 1  # agency.txt in, half.txt out
    state = index.state()
    rebuilt = KeywordIndex.load(index.keyword_root / state.stamp)
    assert rebuilt is not None and _same(rebuilt, KeywordIndex.build(index.chunks()))


def test_an_index_built_before_stamps_gets_its_build_once(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    build_index(seed_folder, settings, index=index)
    old = {k: v for k, v in (index.collection.metadata or {}).items()
           if k not in ("keyword_build", "writing", "articles")}
    index.collection.modify(metadata=old)  # as an index of the previous version looks
    state = ArticleIndex(settings, embedder=embedder).state()
    assert state.stamp == "" and state.key.startswith("unstamped-")
    first = Retriever(ArticleIndex(settings, embedder=embedder))
    assert first.stamp == state.key and first.retrieve("military aid")
    second = Retriever(ArticleIndex(settings, embedder=embedder))
    assert isinstance(second.keyword.arrays["data"], np.memmap), "saved by the first"
    build_index(seed_folder, settings, index=index)
    assert index.state().stamp and not index.state().stamp.startswith("unstamped")


@pytest.mark.parametrize("exact_max", [0, 10_000], ids=["hnsw", "exact"])
def test_both_vector_paths_rank_the_seed_passage_first(
    make_settings, embedder, seed_folder: Path, exact_max: int
) -> None:  # type: ignore[no-untyped-def]
    from qa.retrieval.retrieve import RetrievalOptions

    settings = make_settings()
    build_index(seed_folder, settings, index=ArticleIndex(settings, embedder=embedder))
    vector_only = RetrievalOptions(keyword=False)
    hits = Retriever(ArticleIndex(settings, embedder=embedder), vector_only,
                     exact_max=exact_max).retrieve("How much military aid has NATO delivered?")
    assert "65 billion" in hits[0].chunk.text
    assert hits[0].vector_score == max(h.vector_score or 0 for h in hits) > 0.3
