"""The ``qa`` command through click's CliRunner: clean messages and exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.faces.cli import main


@pytest.fixture
def run(tmp_path: Path, cache_dir: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, **env: str):  # type: ignore[no-untyped-def]
        base = {"QA_INDEX_DIR": str(tmp_path / "index"), "QA_CACHE_DIR": str(cache_dir)}
        return runner.invoke(main, list(args), env={**base, **env}, catch_exceptions=False)

    return invoke


def test_help_explains_the_commands(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--help")
    assert result.exit_code == 0
    for word in ("index", "ask", "serve", "info"):
        assert word in result.output
    assert "PATH" in run("index", "--help").output


def test_missing_folder_is_a_one_line_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("index", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    assert "Traceback" not in result.output


def test_unknown_setting_is_a_one_line_error(run, seed_folder: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("index", str(seed_folder), QA_CHUNK_TOKEN="100")
    assert result.exit_code == 2
    assert "QA_CHUNK_TOKENS" in result.output


def test_index_info_and_refusal(run, seed_folder: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("index", str(seed_folder))
    assert result.exit_code == 0, result.output
    assert "added 1" in result.output
    assert "unchanged 1" in run("index", str(seed_folder)).output
    assert run("info").output.startswith("1 articles, ")
    # nothing relevant is retrieved: refused before any model is started
    refused = run("ask", "What is the boiling point of water on Mount Everest?", "--json")
    data = json.loads(refused.output)
    assert data["refused"] is True and data["citations"] == []
    as_markdown = run("ask", "What is the boiling point of water on Mount Everest?",
                      "--markdown")
    assert as_markdown.exit_code == 0, as_markdown.output
    assert as_markdown.output.startswith(
        "# What is the boiling point of water on Mount Everest?\n\n**No answer.** ")
    both = run("ask", "Why?", "--json", "--markdown")
    assert both.exit_code == 2 and "choose one of --json and --markdown" in both.output


@pytest.mark.llm
def test_ask_prints_answer_and_sources(run, seed_folder: Path, llm_base_url: str) -> None:  # type: ignore[no-untyped-def]
    run("index", str(seed_folder))
    result = run("ask", "Who did Stoltenberg meet in Kyiv?", QA_LLM_BASE_URL=llm_base_url)
    assert result.exit_code == 0, result.output
    assert "Zelensk" in result.output
    assert "Sources:" in result.output and "[1] All NATO Allies" in result.output
    as_json = run(
        "ask", "Who did Stoltenberg meet in Kyiv?", "--json", QA_LLM_BASE_URL=llm_base_url
    )
    data = json.loads(as_json.output)
    assert data["citations"][0]["quote"] and data["citations"][0]["number"] == 1
    as_markdown = run("ask", "Who did Stoltenberg meet in Kyiv?", "--markdown",
                      QA_LLM_BASE_URL=llm_base_url).output
    assert as_markdown.startswith("# Who did Stoltenberg meet in Kyiv?\n")
    assert "\nSources:\n\n1. **All NATO Allies" in as_markdown
    assert "   > " in as_markdown  # the cited sentences, quoted under their source


def test_a_never_built_index_says_so_and_how_to_build_one(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for args in (("ask", "Who met Zelenskyy?"), ("ask", "Who met Zelenskyy?", "--json"),
                 ("info",)):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"Error: no index at {tmp_path / 'index'} yet: build one "
                                        "with `qa index FOLDER` in a shell"), result.output
        assert "do not contain" not in result.output and "0 articles" not in result.output
    assert not (tmp_path / "index").exists(), "looking did not create an empty index"


def test_an_emptied_folder_is_mirrored_and_asking_says_the_index_is_empty(  # type: ignore[no-untyped-def]
    run, seed_folder: Path, tmp_path: Path
) -> None:
    (seed_folder / "a.txt").write_text("Bridge approved\nThe council voted for a bridge.\n")
    (seed_folder / "b.txt").write_text("Budget passed\nThe budget grew by a tenth.\n")
    assert "added 3" in run("index", str(seed_folder)).output
    for file in list(seed_folder.iterdir()):
        file.rename(tmp_path / file.name)
    result = run("index", str(seed_folder))
    assert result.exit_code == 0, result.output
    assert "removed 3" in result.output and "the index is now empty" in result.output
    asked = run("ask", "What did NATO allies agree on Ukraine?")
    assert asked.exit_code == 2
    assert "holds no articles" in asked.output and "qa index FOLDER" in asked.output
    info = run("info")
    assert info.output.startswith("0 articles, 0 chunks; built ") and "holds no articles" in \
        info.output


def test_a_deleted_file_is_not_answered_from_and_the_answer_says_so(  # type: ignore[no-untyped-def]
    run, seed_folder: Path, tmp_path: Path
) -> None:
    (seed_folder / "a.txt").write_text("Bridge approved\nThe council voted for a bridge.\n")
    assert "added 2" in run("index", str(seed_folder)).output
    seed = next(seed_folder.glob("nato*"))
    seed.rename(tmp_path / seed.name)  # deleted behind the index's back, not re-indexed
    question = "Who did Stoltenberg meet in Kyiv?"
    data = json.loads(run("ask", question, "--json").output)
    assert data["files_gone"] == [seed.name]
    assert data["refused"] is True and data["citations"] == [], "nothing read from the file"
    shown = run("ask", question).output
    assert f"Left out 1 article whose file was deleted since the index was built ({seed.name})" \
        in shown and "`qa index`" in shown
    # put back, it is retrieved and read again
    (tmp_path / seed.name).rename(seed)
    assert json.loads(run("ask", "What is the boiling point of water?", "--json").output)[
        "files_gone"] == []


def test_records_indexed_without_a_field_are_listed_as_indexed(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps([
        {"title": "Bridge", "body": ["The council voted.", "A bridge."], "author": [1, 2]},
        {"title": "Numbers", "body": [3, 1, 4]}]))
    result = run("index", str(feed))
    assert result.exit_code == 0, result.output
    assert "indexed feed.json#1: author is a list of numbers, expected text; left out" in \
        result.output
    assert "skipped feed.json#2: body is a list of numbers, expected text" in result.output
    assert "added 1" in result.output
