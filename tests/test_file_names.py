"""Files of any name a file system allows, through real builds (real embedder, real Chroma):
added, changed, emptied (several at once) and deleted, each keeping or losing its own article,
with JSON records beside them as before (issue 26, item 4)."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.faces.cli import main
from qa.models import Evidence, IndexReport
from qa.service import QAService

_WORDS = ("harbour council grant library budget tram bridge river ferry school museum park "
          "station market hospital tower garden square theatre stadium airport canal road "
          "festival election court factory farm forest island mountain village valley lake "
          "orchestra painter novelist engineer doctor teacher farmer sailor pilot mayor judge "
          "merchant baker miller printer weaver potter builder gardener fisher miner").split()

# The names of the report and the kinds it asks for: "#" as in a record's "file.json#3", "?",
# tab, newline, leading spaces, Greek, Chinese, Arabic, "%" (the escape of "#" in ids), a "#"
# in a folder's name, and names of 254 bytes in UTF-8 (the limit is 255).
NAMES = [
    "Receipt #2832 council grant.txt",
    "what? where?.txt",
    "tab\there.txt",
    "new\nline.md",
    "   leading spaces.txt",
    "Ελληνικά νέα #7.txt",
    "中文新闻.txt",
    "أخبار عربية.md",
    "50% off #1.txt",
    "dir #1/story?.html",
    "λ" * 125 + ".txt",
    "#" + "中" * 83 + ".txt",
]


def _story(title: str, seed: int) -> str:
    """An article of its own words, so no two of a test fold as copies of one story."""
    words = random.Random(seed).sample(_WORDS, 30)
    body = " ".join(words[:15]).capitalize() + ". " + " ".join(words[15:]).capitalize() + "."
    return f"{title}\nSource: Test Wire\n\n{body}\n"


def _html(title: str, seed: int) -> str:
    text = _story(title, seed).split("\n\n", 1)[1]
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{text} {text}</p></article></body></html>")


def _write(folder: Path, name: str, title: str, seed: int) -> None:
    file = folder / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(_html(title, seed) if name.endswith(".html") else _story(title, seed),
                    encoding="utf-8")


def _counts(report: IndexReport) -> tuple[int, int, int, int, int]:
    return report.added, report.updated, report.removed, report.unchanged, report.kept


def _titles(service: QAService) -> dict[str, str]:
    """path -> title of every indexed article; a file's path, or ``feed.json#<title>``."""
    out: dict[str, str] = {}
    for e in service.articles():
        key = e.path if not e.path.endswith(".json") else f"{e.path}#{e.title}"
        assert key not in out, f"two articles of {key!r}"
        out[key] = e.title
    return out


@pytest.mark.parametrize("name", NAMES, ids=[
    "hash", "question-marks", "tab", "newline", "leading-spaces", "greek-hash", "chinese",
    "arabic", "percent-hash", "folder-hash", "254-bytes", "254-bytes-hash"])
def test_a_file_of_any_name_is_added_changed_emptied_and_deleted(  # type: ignore[no-untyped-def]
    make_settings, embedder, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "articles"
    _write(folder, name, "Odd name story", 1)
    _write(folder, "bridge vote.txt", "Bridge vote", 2)
    _write(folder, "budget.txt", "Budget grows", 3)
    (folder / "feed.json").write_text(json.dumps([
        {"title": "Harbour", "body": _story("x", 4).split("\n\n")[1]},
        {"title": "Tram", "url": "https://x.example/tram", "body": _story("x", 5).split("\n\n")[1]},
    ]), encoding="utf-8")
    service = QAService(make_settings(), embedder=embedder)
    first = {name: "Odd name story", "bridge vote.txt": "Bridge vote",
             "budget.txt": "Budget grows", "feed.json#Harbour": "Harbour", "feed.json#Tram": "Tram"}

    report = service.ingest(folder)
    assert (_counts(report), report.problems) == ((5, 0, 0, 0, 0), ())
    assert _titles(service) == first
    assert len({e.article_id for e in service.articles()}) == 5

    _write(folder, name, "Odd name story, updated", 6)
    report = service.ingest(folder)
    assert _counts(report) == (0, 1, 0, 4, 0)
    assert _titles(service) == {**first, name: "Odd name story, updated"}

    # Three files emptied at once, as in the report: each keeps its article, counted as kept.
    saved = {n: (folder / n).read_bytes() for n in (name, "bridge vote.txt", "budget.txt")}
    for n in saved:
        (folder / n).write_bytes(b"")
    report = service.ingest(folder)
    assert _counts(report) == (0, 0, 0, 2, 3), report.summary()
    assert {(p.path, p.message) for p in report.problems} == {
        (n, "empty file") for n in saved}
    assert all("\n" not in str(p) for p in report.problems)  # one line each
    assert _titles(service) == {**first, name: "Odd name story, updated"}

    for n, data in saved.items():
        (folder / n).write_bytes(data)
    assert _counts(service.ingest(folder)) == (0, 0, 0, 5, 0)

    (folder / name).unlink()
    report = service.ingest(folder)
    assert _counts(report) == (0, 0, 1, 4, 0)
    assert name not in _titles(service) and len(_titles(service)) == 4

    _write(folder, name, "Odd name story", 1)
    assert _counts(service.ingest(folder)) == (1, 0, 0, 4, 0)
    assert _titles(service) == first


def test_json_records_beside_odd_names_keep_their_own_ids(  # type: ignore[no-untyped-def]
    make_settings, embedder, tmp_path: Path
) -> None:
    """A file named like a record of the JSON file beside it, records whose titles repeat
    (``T``, ``T``, ``T~2``), and two names that differ by "#" against its escape: every one is
    its own article (before, two of them had one id and the build failed in Chroma)."""
    folder = tmp_path / "articles"
    folder.mkdir()
    body = [_story("x", n).split("\n\n")[1] for n in range(10, 16)]
    (folder / "feed.json").write_text(json.dumps(
        [{"title": "Bridge.txt", "body": body[0]}, {"title": "T", "body": body[1]},
         {"title": "T", "body": body[2]}, {"title": "T~2", "body": body[3]}]), encoding="utf-8")
    _write(folder, "feed.json#Bridge.txt", "A file, not a record", 20)
    _write(folder, "a#b.txt", "Hash", 21)
    _write(folder, "a%23b.txt", "Percent", 22)
    service = QAService(make_settings(), embedder=embedder)

    report = service.ingest(folder)
    assert _counts(report) == (7, 0, 0, 0, 0)
    entries = service.articles()
    assert len({e.article_id for e in entries}) == 7
    assert sorted((e.path, e.title) for e in entries) == [
        ("a#b.txt", "Hash"), ("a%23b.txt", "Percent"), ("feed.json", "Bridge.txt"),
        ("feed.json", "T"), ("feed.json", "T"), ("feed.json", "T~2"),
        ("feed.json#Bridge.txt", "A file, not a record")]
    # ids of names without "#" are as they always were, so older indexes keep their vectors
    assert {e.article_id for e in entries} >= {"a%23b.txt", "feed.json#Bridge.txt",
                                               "feed.json#T", "feed.json#T~2"}

    (folder / "feed.json#Bridge.txt").unlink()
    report = service.ingest(folder)
    assert _counts(report) == (0, 0, 1, 6, 0)
    assert [e.path for e in service.articles()].count("feed.json") == 4


@pytest.mark.parametrize("feed", ["feed.json", "Receipts #4.json", "wire #2 ?.jsonl"])
def test_a_records_file_of_any_name_keeps_its_records_when_one_goes_bad(  # type: ignore[no-untyped-def]
    make_settings, embedder, tmp_path: Path, feed: str
) -> None:
    """As before for ``feed.json``: a bad record keeps its file's articles (counted as kept), so
    does an emptied file; a valid file without a record removes it. Now for any name."""
    folder = tmp_path / "articles"
    folder.mkdir()
    records = [{"title": t, "body": _story("x", n).split("\n\n")[1]}
               for n, t in enumerate(("Harbour", "Tram", "Ferry"), start=30)]

    def put(items: list[object]) -> None:
        lines = [json.dumps(r) for r in items]
        (folder / feed).write_text("\n".join(lines) if feed.endswith(".jsonl")
                                   else f"[{', '.join(lines)}]", encoding="utf-8")

    put(list(records))
    _write(folder, "other.txt", "Other", 40)
    service = QAService(make_settings(), embedder=embedder)
    assert _counts(service.ingest(folder)) == (4, 0, 0, 0, 0)

    put([records[0], {"title": "", "body": ""}, records[2]])  # Tram's record is now bad
    report = service.ingest(folder)
    assert _counts(report) == (0, 0, 0, 3, 1), report.summary()
    assert [str(p) for p in report.problems] == [f"{feed}#2: record has no title and no body"]

    (folder / feed).write_bytes(b"")
    report = service.ingest(folder)
    assert _counts(report) == (0, 0, 0, 1, 3), report.summary()
    assert len(service.articles()) == 4

    put(list(records))
    assert _counts(service.ingest(folder)) == (0, 0, 0, 4, 0)
    put([records[0], records[2]])  # a record deleted from a valid file leaves
    assert _counts(service.ingest(folder)) == (0, 0, 1, 3, 0)
    (folder / feed).unlink()
    assert _counts(service.ingest(folder)) == (0, 0, 2, 1, 0)
    assert [e.path for e in service.articles()] == ["other.txt"]


GRANT = ("Council grant receipt\nSource: Town Gazette\n\nThe town council paid a grant of 2,832 "
         "pounds to the public library on Monday, to buy children's books and repair the roof. "
         "The librarian said the money would arrive before the summer reading scheme.\n")


@pytest.mark.parametrize("name", ["Receipt #2832 council grant.txt", "new\nline #2.txt"],
                         ids=["hash", "newline-hash"])
def test_an_answer_reads_a_file_with_hash_in_its_name_until_it_is_deleted(  # type: ignore[no-untyped-def]
    make_settings, embedder, tmp_path: Path, name: str
) -> None:
    """The ask-time check for files deleted since the build takes the whole name (it cut the
    name at "#", found no such file and left the article out of every answer)."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / name).write_text(GRANT, encoding="utf-8")
    _write(folder, "bridge vote.txt", "Bridge vote", 2)
    service = QAService(make_settings(), embedder=embedder)
    assert service.ingest(folder).added == 2
    question = "How much did the council grant to the public library?"

    def evidence() -> Evidence:
        events = service.stream(question)
        first = next(events)  # retrieval and selection only; the model is never started
        events.close()
        assert isinstance(first, Evidence)
        return first

    found = evidence()
    assert found.files_gone == ()
    assert name in {s.passage.path for s in found.snippets}
    (folder / name).unlink()  # deleted behind the index's back
    gone = evidence()
    assert gone.files_gone == (name,)
    assert name not in {s.passage.path for s in gone.snippets}


def test_a_name_that_is_not_utf8_is_skipped_saying_so(  # type: ignore[no-untyped-def]
    make_settings, embedder, tmp_path: Path
) -> None:
    """Linux allows any bytes in a name: one that is not UTF-8 cannot be stored, and is
    reported instead of failing the whole build (a UnicodeEncodeError before)."""
    folder = tmp_path / "articles"
    folder.mkdir()
    _write(folder, "plain.txt", "Plain", 50)
    odd = os.fsencode(folder) + b"/caf\xe9 #1.txt"
    try:
        with open(odd, "wb") as out:
            out.write(_story("Cafe", 51).encode())
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    service = QAService(make_settings(), embedder=embedder)
    report = service.ingest(folder)
    assert _counts(report) == (1, 0, 0, 0, 0)
    assert [str(p) for p in report.problems] == [
        "caf\\xe9 #1.txt: the file name is not valid UTF-8, so it cannot be indexed; rename the "
        "file"]
    with open(odd, "wb"):
        pass  # emptied: still reported, nothing indexed breaks
    report = service.ingest(folder)
    assert _counts(report) == (0, 0, 0, 1, 0)
    assert [str(p) for p in report.problems] == ["caf\\xe9 #1.txt: empty file"]


def test_qa_index_prints_one_line_per_problem_whatever_the_names(  # type: ignore[no-untyped-def]
    tmp_path: Path, cache_dir: Path
) -> None:
    """``qa index`` itself: three files emptied at once keep their articles, and a name with a
    newline or tab is printed quoted on its one line."""
    folder = tmp_path / "articles"
    names = ["Receipt #2832 council grant.txt", "new\nline.txt", "tab\t#3.txt"]
    for n, name in enumerate(names):
        _write(folder, name, f"Story {n}", 60 + n)
    _write(folder, "plain.txt", "Plain", 70)
    env = {"QA_INDEX_DIR": str(tmp_path / "index"), "QA_CACHE_DIR": str(cache_dir)}

    def index() -> str:
        result = CliRunner().invoke(main, ["index", str(folder)], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert re.search(r"added 4, updated 0, removed 0, unchanged 0 articles", index())
    for name in names:
        (folder / name).write_bytes(b"")
    shown = index()
    assert "removed 0, unchanged 1, kept 3 of unreadable files" in shown
    assert [line for line in shown.splitlines() if line.startswith("skipped")] == [
        "skipped Receipt #2832 council grant.txt: empty file",
        'skipped "new\\nline.txt": empty file',
        'skipped "tab\\t#3.txt": empty file']
