"""Incremental, crash-safe indexing into real Chroma (embedded and server), real embedder."""

from __future__ import annotations

import codecs
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import MULTIHOP, SEED, WIRE

from qa.embedding.embed import embedder_for
from qa.errors import IngestError, ModelError, NoIndexError
from qa.retrieval.retrieve import Retriever
from qa.service import QAService
from qa.store.build import build_index
from qa.store.index import ArticleIndex
from qa.weights import verify_file

EXTRA = """Germany pledges new air defence for Kyiv
Source: Example Wire
Date: April 22, 2023

Germany said on Saturday it would send another IRIS-T air defence system to Ukraine.
The defence minister announced the delivery after talks with allies at Ramstein.
"""


def _ids(index: ArticleIndex) -> list[str]:
    return [c.id for c in index.chunks()]


def test_build_is_incremental(make_settings, embedder, seed_folder: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    (seed_folder / "germany.txt").write_text(EXTRA, encoding="utf-8")
    index = ArticleIndex(settings, embedder=embedder)

    first = build_index(seed_folder, settings, index=index)
    assert (first.added, first.updated, first.removed, first.unchanged) == (2, 0, 0, 0)
    assert first.chunks_embedded == index.count() > 2
    ids_before = _ids(index)

    (seed_folder / SEED.name).touch()  # touched but unchanged
    again = build_index(seed_folder, settings, index=index)
    assert (again.added, again.updated, again.unchanged, again.chunks_embedded) == (0, 0, 2, 0)

    edited = EXTRA.replace("another IRIS-T", "a second IRIS-T")
    (seed_folder / "germany.txt").write_text(edited, encoding="utf-8")
    third = build_index(seed_folder, settings, index=index)
    assert (third.updated, third.unchanged) == (1, 1)
    germany = [c for c in index.chunks() if c.article_id == "germany.txt"]
    assert third.chunks_embedded == len(germany)  # only the edited article's chunks
    assert any("a second IRIS-T" in c.text for c in germany)
    assert _ids(index) == ids_before

    (seed_folder / "germany.txt").unlink()
    fourth = build_index(seed_folder, settings, index=index)
    assert (fourth.removed, fourth.unchanged) == (1, 1)
    assert all(c.article_id != "germany.txt" for c in index.chunks())


def test_a_build_cut_into_slices_and_groups_writes_what_one_piece_would(
    make_settings, embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Chunking, embedding and writing overlap (``qa.store.build._embed_and_write``): with one
    article a slice and three chunks a group, every chunk is written once, in order, with its
    article's chunk count, and the keyword build tokenized group by group equals one made
    from the collection."""
    from qa.sources.articles import load_articles
    from qa.store import build, chunking, keyword

    records = json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))[:4]
    corpus = tmp_path / "four.json"
    corpus.write_text(json.dumps(records), encoding="utf-8")
    monkeypatch.setattr(build, "_SLICE", 1)
    monkeypatch.setattr(build, "_GROUP", 3)
    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    report = build_index(corpus, settings, index=index)
    articles, _ = load_articles(corpus, max_article_mb=settings.max_article_mb)
    expected = chunking.chunk_articles(articles, tokenizer=index.tokenizer,
                                     max_tokens=settings.chunk_tokens,
                                     overlap=settings.chunk_overlap)
    assert report.chunks_embedded == len(expected) == index.count() > 3 * len(articles)
    assert sorted(_ids(index)) == sorted(c.id for c in expected)
    counts = {a.id: sum(c.article_id == a.id for c in expected) for a in articles}
    for _id, meta, _text in index._rows(["metadatas"]):
        assert meta["n_chunks"] == counts[meta["article_id"]]
    built = keyword.KeywordIndex.load(index.keyword_root / index.state().stamp)
    whole = keyword.KeywordIndex.build(index.chunks())
    assert built is not None and built.arrays.keys() == whole.arrays.keys()
    for name, array in whole.arrays.items():
        assert np.array_equal(built.arrays[name], array), name


def test_two_outlets_copies_of_a_wire_story_take_one_slot_of_the_top_k(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    edited = (WIRE.replace("on Tuesday", "on Wednesday").replace("forty", "fifty")
              + " A spokesman for the German embassy in Rome said it was in contact with the "
                "families.")
    (seed_folder / "agency.txt").write_text(f"Hikers missing\nSource: Wire\n\n{WIRE}\n")
    (seed_folder / "daily.txt").write_text(f"Three hikers missing\nSource: Daily\n\n{edited}\n")
    index = ArticleIndex(settings, embedder=embedder)
    report = build_index(seed_folder, settings, index=index)
    assert (report.added, report.duplicates) == (2, 1)
    hits = Retriever(index).retrieve("How many rescuers are searching for the hikers missing "
                                     "in the Dolomites?", top_k=3)
    assert {h.chunk.article_id for h in hits} & {"agency.txt", "daily.txt"} == {"daily.txt"}
    # which outlets ran the story is kept with the passages, and shown with a citation
    assert {h.chunk.also_in for h in hits if h.chunk.article_id == "daily.txt"} == {("Wire",)}


def test_moving_the_folder_keeps_the_index(
    make_settings, embedder, seed_folder: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    build_index(seed_folder, settings, index=index)
    moved = tmp_path / "elsewhere" / "news"
    shutil.move(str(seed_folder), moved)
    report = build_index(moved, settings, index=index)
    assert (report.unchanged, report.added, report.removed, report.chunks_embedded) == (1, 0, 0, 0)


def test_chunks_keep_exact_offsets_and_fit_the_embedder(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    build_index(seed_folder, settings, index=index)
    body = None
    from qa.sources.articles import load_articles

    articles, _ = load_articles(seed_folder, max_article_mb=5)
    body = articles[0].body
    for chunk in index.chunks():
        assert body[chunk.start : chunk.end] == chunk.text
        assert len(index.tokenizer.encode(chunk.embed_text()).ids) <= settings.chunk_tokens


def test_bad_input_is_reported_and_nothing_is_lost(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    (seed_folder / "germany.txt").write_text(EXTRA, encoding="utf-8")
    build_index(seed_folder, settings, index=index)

    # germany.txt is cut short inside a UTF-16 character: reported, and its chunks stay
    (seed_folder / "germany.txt").write_bytes(codecs.BOM_UTF16_LE + EXTRA.encode("utf-16-le")[:-1])
    (seed_folder / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (seed_folder / "empty.md").write_text("", encoding="utf-8")
    (seed_folder / "feed.jsonl").write_text(
        '{"title": "T", "body": "Some body text."}\n{oops\n', encoding="utf-8"
    )
    report = build_index(seed_folder, settings, index=index)
    messages = "\n".join(str(p) for p in report.problems)
    for name in ("germany.txt", "blob.txt", "empty.md", "feed.jsonl#2"):
        assert name in messages
    assert "not valid UTF-16 LE" in messages
    assert report.removed == 0
    assert any(c.article_id == "germany.txt" for c in index.chunks())
    assert any(c.article_id.startswith("feed.jsonl#") for c in index.chunks())


def test_missing_and_empty_paths_raise(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    with pytest.raises(IngestError, match="no such"):
        build_index(tmp_path / "nope", settings)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="nothing to index"):
        build_index(tmp_path / "empty", settings)
    assert not settings.index_dir.exists(), "a failed first build creates no index"


def _three_articles(folder: Path) -> None:
    (folder / "germany.txt").write_text(EXTRA, encoding="utf-8")
    (folder / "bridge.txt").write_text(
        "Council approves bridge\n\nThe Springfield council voted on Thursday to build a new "
        "bridge over the river, at a cost of forty million dollars.\n", encoding="utf-8")


def test_an_emptied_folder_empties_the_index_and_says_so(
    make_settings, embedder, seed_folder: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    _three_articles(seed_folder)
    service = QAService(settings, embedder=embedder)
    assert service.ingest(seed_folder).added == 3
    away = tmp_path / "away"
    shutil.move(seed_folder, away)
    seed_folder.mkdir()  # the folder is still there, its files moved away
    report = service.ingest(seed_folder)
    assert (report.removed, report.kept) == (3, 0)
    assert report.summary().endswith("; the index is now empty")
    assert service.stats().articles == 0
    with pytest.raises(NoIndexError, match=r"holds no articles \(emptied .* from .*articles\)"):
        service.ask("How much military aid have allies delivered to Ukraine?")
    # a fresh process (the CLI, the Python API) says the same, not "the articles do not say"
    with pytest.raises(NoIndexError, match="holds no articles.*qa index FOLDER"):
        QAService(settings, embedder=embedder).ask("Who met Zelenskyy?")


def test_python_api_says_when_there_is_no_index_or_an_emptied_one(tmp_path: Path) -> None:
    import qa

    with pytest.raises(qa.NoIndexError, match="no index at .* yet: build one with .*"
                                              r"qa.build_index\(FOLDER\) in Python"):
        qa.answer("Who met Zelenskyy?", index_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text("Bridge approved\nThe council voted for a bridge.\n")
    assert qa.build_index(folder, index_dir=tmp_path / "index").added == 1
    (folder / "a.txt").unlink()
    report = qa.build_index(folder, index_dir=tmp_path / "index")
    assert report.removed == 1 and report.summary().endswith("the index is now empty")
    with pytest.raises(qa.NoIndexError, match="holds no articles"):
        qa.answer("What did the council vote for?", index_dir=tmp_path / "index")


def test_a_deleted_folder_is_refused_naming_what_the_index_still_holds(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    _three_articles(seed_folder)
    index = ArticleIndex(settings, embedder=embedder)
    build_index(seed_folder, settings, index=index)
    chunks = index.count()
    shutil.rmtree(seed_folder)
    with pytest.raises(IngestError, match=r"no such file or folder; the index at .* still holds "
                                          r"3 articles indexed from it, and answers from "
                                          r"them: index another folder, or delete "
                                          rf"{settings.index_dir} to start over"):
        build_index(seed_folder, settings, index=index)
    assert index.count() == chunks  # a typo or an unplugged drive does not wipe the index


def test_an_emptied_json_file_leaves_and_an_unreadable_one_is_kept_and_counted(
    make_settings, embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps([{"title": "Bridge", "body": "The council voted for a bridge."},
                                {"title": "Budget", "body": "The budget grew by a tenth."}]))
    index = ArticleIndex(settings, embedder=embedder)
    assert build_index(feed, settings, index=index).added == 2
    feed.write_bytes(b"")  # cut to nothing mid-write: reported, and its articles stay, counted
    report = build_index(feed, settings, index=index)
    assert (report.removed, report.kept, [str(p) for p in report.problems]) == (
        0, 2, ["feed.json: empty file"])
    assert "kept 2 of unreadable files" in report.summary()
    feed.write_text("[]")  # a valid file with no records: its articles leave
    report = build_index(feed, settings, index=index)
    assert (report.removed, report.kept, index.count()) == (2, 0, 0)
    assert report.summary().endswith("; the index is now empty")


def test_oversized_article_is_skipped_with_a_message(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    big = seed_folder / "huge.txt"
    with big.open("w", encoding="utf-8") as fh:
        fh.write("A very long article\n\n")
        line = "The committee met again and discussed the budget at length. " * 20 + "\n"
        while fh.tell() < 20 * 1024 * 1024:
            fh.write(line)
    report = build_index(seed_folder, settings, index=ArticleIndex(settings, embedder=embedder))
    assert report.added == 1
    assert any("huge.txt" in str(p) and "MB" in str(p) for p in report.problems)


def test_model_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"not the model")
    with pytest.raises(ModelError, match="SHA-256"):
        verify_file(fake, size=13, sha256="0" * 64, stamp_dir=tmp_path)
    with pytest.raises(ModelError, match="bytes"):
        verify_file(fake, size=14, sha256="0" * 64, stamp_dir=tmp_path)


def _subset(tmp_path: Path, n: int) -> Path:
    records = json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))[:n]
    path = tmp_path / "subset.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_killed_build_leaves_a_working_index_and_resumes(
    make_settings, embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    corpus = _subset(tmp_path, 30)
    env = {
        **os.environ,
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_CACHE_DIR": str(settings.cache_dir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.faces.cli", "index", str(corpus), "--progress"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    seen = b""
    deadline = time.monotonic() + 300
    assert proc.stderr is not None
    while proc.poll() is None and time.monotonic() < deadline:
        seen += os.read(proc.stderr.fileno(), 4096)
        # the bar moves in 256-chunk groups: kill once the first group is written
        if b"256/" in seen:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, seen.decode(errors="replace")[-500:]

    index = ArticleIndex(settings, embedder=embedder)
    partial = index.count()
    assert partial > 0
    assert Retriever(index).retrieve("What did the article report?"), "partial index answers"

    report = build_index(corpus, settings, index=index)
    assert report.added + report.updated > 0
    ids = _ids(index)
    assert len(ids) == len(set(ids))
    clean = make_settings(index_dir=tmp_path / "clean")
    clean_report = build_index(corpus, clean, index=ArticleIndex(clean, embedder=embedder))
    assert sorted(ids) == sorted(_ids(ArticleIndex(clean, embedder=embedder)))
    assert report.chunks_embedded < clean_report.chunks_embedded  # finished, not redone
    again = build_index(corpus, settings, index=index)
    assert again.chunks_embedded == 0


@pytest.mark.server
def test_chroma_server(make_settings, embedder, seed_folder: Path, chroma_server: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(chroma_url=chroma_server)
    index = ArticleIndex(settings, embedder=embedder)
    report = build_index(seed_folder, settings, index=index)
    assert report.added == 1
    assert not (settings.index_dir / "chroma.sqlite3").exists(), "the vectors stay on the server"
    assert [p.parent.parent.name for p in settings.index_dir.glob("keyword/*/*/meta.json")] == \
        ["articles"], "only the keyword index (one build of collection 'articles') is local"
    hits = Retriever(ArticleIndex(settings, embedder=embedder)).retrieve(
        "How much military aid have allies delivered to Ukraine?"
    )
    assert any("65 billion" in h.chunk.text for h in hits[:3])
    again = build_index(seed_folder, settings, index=ArticleIndex(settings, embedder=embedder))
    assert again.unchanged == 1 and again.chunks_embedded == 0


# --- which embedder wrote the index (issue 11; issue 10, item 6) -------------------------------


def test_index_of_the_other_precision_is_reembedded_not_mixed(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    ours = embedder.info  # the default backend
    other_backend = "onnx" if ours.backend == "onnx-int8" else "onnx-int8"
    other_settings = make_settings(embed_backend=other_backend)
    other = embedder_for(other_settings)
    first = build_index(seed_folder, other_settings,
                        index=ArticleIndex(other_settings, embedder=other))
    assert first.reembedded == ""
    settings = make_settings()
    index = ArticleIndex(settings, embedder=embedder)
    assert index.written_by() == other.info
    assert index.embedder_problem() == "", "questions can search the other precision meanwhile"
    assert f"re-embeds them with {ours.label()}" in index.stats().note

    report = build_index(seed_folder, settings, index=index)
    assert other.info.label() in report.reembedded and ours.label() in report.reembedded
    assert report.reembedded in report.summary()
    assert report.chunks_embedded == first.chunks_embedded == index.count()
    assert index.written_by() == ours
    chunks = index.chunks()
    found = index.passages([c.id for c in chunks], vectors=True, texts=False)
    stored = np.stack([found[c.id][1] for c in chunks])
    texts = [c.embed_text() for c in chunks]
    assert np.allclose(stored, embedder.get_text_embedding_batch(texts), atol=1e-6)
    assert not np.allclose(stored, other.get_text_embedding_batch(texts), atol=1e-3)
    assert index.stats().note == "" and index.stats().embedder == ours.label()

    again = build_index(seed_folder, settings, index=ArticleIndex(settings, embedder=embedder))
    assert (again.reembedded, again.chunks_embedded) == ("", 0)


@pytest.mark.parametrize("record", [True, False], ids=["recorded", "unrecorded"])
def test_index_of_another_dimension_gives_one_line_in_every_face(
    make_settings, embedder, seed_folder: Path, record: bool
) -> None:  # type: ignore[no-untyped-def]
    """An index written elsewhere with 768-dim vectors (with or without a record of its
    embedder): `qa info`, `qa ask` and `qa.answer` say so in one line; `qa index` rebuilds."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from click.testing import CliRunner

    import qa
    from qa.faces.cli import main
    from qa.sources.articles import load_articles
    from qa.store.chunking import chunk_articles

    settings = make_settings()
    client = chromadb.PersistentClient(path=str(settings.index_dir),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    foreign = {"embed_model": "all-mpnet-base-v2", "embed_backend": "torch", "embed_dim": 768}
    client.create_collection(settings.collection, configuration={"hnsw": {"space": "cosine"}},
                             embedding_function=None, metadata=foreign if record else None)
    index = ArticleIndex(settings, embedder=embedder)
    articles, _ = load_articles(seed_folder, max_article_mb=5)
    chunks = chunk_articles(articles, tokenizer=index.tokenizer)
    rng = np.random.default_rng(0)
    index.write(chunks, rng.normal(size=(len(chunks), 768)).tolist(),
                {a.id: "h" for a in articles}, {a.id: len(chunks) for a in articles})
    del client
    writer = "all-mpnet-base-v2 (torch, 768-dim)" if record else "unrecorded embedder (768-dim)"

    where = ["--index", str(settings.index_dir)]
    info = CliRunner().invoke(main, ["info", *where])
    assert info.exit_code == 1, info.output
    assert writer in info.output and embedder.info.label() in info.output
    assert "qa index FOLDER" in info.output

    asked = CliRunner().invoke(main, ["ask", "Who did Stoltenberg meet in Kyiv?", *where])
    assert asked.exit_code == 1
    lines = asked.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), asked.output
    assert writer in lines[0] and "384-dim" in lines[0] and "qa index FOLDER" in lines[0]
    assert "Traceback" not in asked.output and "mat1" not in asked.output

    with pytest.raises(qa.StoreError) as raised:
        qa.answer("Who did Stoltenberg meet in Kyiv?", index_dir=settings.index_dir)
    assert "\n" not in str(raised.value) and writer in str(raised.value)

    rebuilt = CliRunner().invoke(main, ["index", str(seed_folder), *where])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"the index was embedded by {'an ' * (not record)}{writer}" in rebuilt.output
    assert f"re-embedded every article with {embedder.info.label()}" in rebuilt.output
    after = CliRunner().invoke(main, ["info", *where])
    assert after.exit_code == 0, after.output
    assert f"embedded by {embedder.info.label()}" in after.output


def test_provenance_rules_for_searching_and_writing() -> None:
    from qa.embedding.spec import EmbedderInfo
    from qa.store.provenance import Vectors, needs_new_collection, reembed_note, search_problem

    ours = EmbedderInfo("all-MiniLM-L6-v2", "onnx-int8", 384)
    fp32 = EmbedderInfo("all-MiniLM-L6-v2", "onnx", 384)
    other = EmbedderInfo("bge-small-en", "torch", 384)
    cases = {  # vectors -> (search problem?, re-embed note?, new collection on build?)
        Vectors(ours, 384, 10): (False, False, False),
        Vectors(ours, None, 0): (False, False, False),
        Vectors(None, None, 0): (False, False, True),  # Chroma may keep an old dimension
        Vectors(fp32, 384, 10): (False, True, True),
        Vectors(None, 384, 10): (False, True, True),
        Vectors(other, 384, 10): (True, False, True),  # same size, another model: unsearchable
        Vectors(None, 768, 10): (True, False, True),
    }
    for vectors, (problem, note, new) in cases.items():
        line = search_problem(vectors, ours, where="idx")
        assert bool(line) is problem, vectors
        assert bool(reembed_note(vectors, ours)) is note, vectors
        assert needs_new_collection(vectors, ours) is new, vectors
        if line:
            assert "\n" not in line and ours.label() in line and "qa index FOLDER" in line
    assert "bge-small-en (torch, 384-dim)" in search_problem(Vectors(other, 384, 1), ours,
                                                             where="idx")
