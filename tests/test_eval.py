"""Benchmark metrics on hand-made rankings, strict answer scoring, and the harness on a slice."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.config import Settings
from qa.faces.eval import eval_group
from qa.faces.metrics import (
    Query,
    answer_correct,
    evaluate_retrieval,
    load_queries,
    normalise_answer,
    percentile,
    score_query,
    short_answer,
)

MULTIHOP = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "multihop-rag"


# --- retrieval metrics ----------------------------------------------------------------------


def test_first_relevant_at_rank_two() -> None:
    s = score_query(["nothing", "The quick\nbrown fox jumps", "x"], ["quick brown fox", "absent"])
    assert (s.hits4, s.hits10, s.rr10) == (1.0, 1.0, 0.5)
    assert s.ap10 == pytest.approx((1 / 2) / 2)
    assert (s.fact_recall10, s.all_facts10) == (0.5, 0.0)


def test_spaces_and_newlines_are_ignored_but_not_other_characters() -> None:
    assert score_query(["a b\nc"], ["abc"]).hits10 == 1.0
    assert score_query(["a-b-c"], ["abc"]).hits10 == 0.0


def test_hits_at_four_and_ten_boundaries() -> None:
    fact = "the fact"
    at5 = ["x"] * 4 + [fact]
    s = score_query(at5, [fact])
    assert (s.hits4, s.hits10, s.rr10) == (0.0, 1.0, 0.2)
    at11 = ["x"] * 10 + [fact]
    s = score_query(at11, [fact])
    assert (s.hits10, s.rr10, s.ap10, s.fact_recall10) == (0.0, 0.0, 0.0, 0.0)


def test_average_precision_counts_newly_found_facts_per_rank() -> None:
    facts = ["alpha one", "beta two", "gamma three"]
    passages = ["alpha one and beta two", "alpha one again", "nothing", "gamma three"]
    s = score_query(passages, facts)
    assert s.ap10 == pytest.approx((2 / 1 + 0 / 2 + 1 / 4) / 3)
    assert (s.fact_recall10, s.all_facts10) == (1.0, 1.0)


def test_duplicate_gold_facts_follow_the_paper() -> None:
    # the same fact twice: found once for precision, but the divisor counts both
    s = score_query(["a fact here"], ["a fact", "a fact"])
    assert s.ap10 == pytest.approx(1 / 2)
    assert s.fact_recall10 == 1.0


def _reference(passages: list[str], facts: list[str]) -> tuple[float, float, float, float]:
    """The README's definitions, written out independently of ``score_query``."""
    gold = [f.replace(" ", "").replace("\n", "") for f in facts]
    top = [p.replace(" ", "").replace("\n", "") for p in passages][:10]
    relevant = [any(g in p for g in gold) for p in top]
    h4 = float(any(relevant[:4]))
    h10 = float(any(relevant))
    rr = next((1 / (r + 1) for r, ok in enumerate(relevant) if ok), 0.0)
    seen: set[str] = set()
    ap = 0.0
    for r, p in enumerate(top, start=1):
        new = {g for g in gold if g in p} - seen
        ap += len(new) / r
        seen |= new
    return h4, h10, rr, ap / min(len(gold), 10)


def test_metrics_agree_with_the_readme_definitions_on_random_rankings() -> None:
    rng = random.Random(5)
    words = ["red", "green", "blue", "cat", "dog", "sun"]
    for _ in range(300):
        facts = [" ".join(rng.choices(words, k=2)) for _ in range(rng.randint(1, 4))]
        passages = [" ".join(rng.choices(words, k=rng.randint(1, 5))) for _ in range(12)]
        s = score_query(passages, facts)
        assert (s.hits4, s.hits10, s.rr10, s.ap10) == pytest.approx(_reference(passages, facts))


def test_report_leaves_out_null_queries_and_splits_by_type() -> None:
    queries = [
        Query("q1", "Yes", "comparison_query", ("fact one",)),
        Query("q2", "Insufficient information.", "null_query", ()),
        Query("q3", "Bob", "inference_query", ("fact two", "fact three")),
    ]
    corpus = {"q1": ["fact one"], "q2": ["fact one"], "q3": ["nope", "fact three"]}
    report = evaluate_retrieval(queries, lambda q: corpus[q])
    assert report["queries"] == 2
    assert report["hits@10"] == 1.0
    assert report["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    assert report["all_facts@10"] == 0.5
    assert report["fact_recall@10"] == pytest.approx((1 + 0.5) / 2)
    assert set(report["per_type"]) == {"comparison_query", "inference_query"}
    assert report["per_type"]["inference_query"]["map@10"] == pytest.approx(0.5 / 2)
    assert set(report["latency_ms"]) == {"p50", "p95"}


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile([], 50) == 0.0


def test_limit_counts_null_records_like_the_paper(tmp_path: Path) -> None:
    rows = [{"query": f"q{i}", "answer": "a", "question_type": t, "evidence_list": []}
            for i, t in enumerate(["null_query", "inference_query", "temporal_query"])]
    file = tmp_path / "q.json"
    file.write_text(json.dumps(rows))
    assert [q.text for q in load_queries(file, limit=2)] == ["q0", "q1"]


# --- answer scoring ---------------------------------------------------------------------------


def test_normalise_drops_case_punctuation_and_articles() -> None:
    assert normalise_answer("The  Sam Bankman-Fried!") == "sam bankman fried"
    assert normalise_answer("An apple, a day.") == "apple day"


@pytest.mark.parametrize(("short", "gold", "right"), [
    ("Yes.", "Yes", True),
    ("yes", "Yes", True),
    ("No", "no", True),
    ("Yes, it does.", "Yes", False),  # Yes/No must be that word alone
    ("No", "Yes", False),
    ("Sam Bankman-Fried", "Sam Bankman-Fried.", True),
    ("It was Sam Bankman-Fried", "Sam Bankman-Fried", True),  # contains it as whole words
    ("Bankman-Fried", "Sam Bankman-Fried", False),
    ("Pineapple", "Apple", False),  # not a whole word
    ("Inconsistent", "Consistent", False),
    ("", "Google", False),
])
def test_strict_answer_scoring(short: str, gold: str, right: bool) -> None:
    assert answer_correct(short, gold, refused=False, null_query=False) is right


def test_null_queries_must_be_refusals() -> None:
    gold = "Insufficient information."
    assert answer_correct("", gold, refused=True, null_query=True)
    assert not answer_correct("Google", gold, refused=False, null_query=True)
    assert not answer_correct("", "Google", refused=True, null_query=False)


def test_short_answer_takes_the_final_line_else_the_first_sentence() -> None:
    text = "The Verge says so [1]. TechCrunch agrees [2].\nFinal answer: Yes [1]"
    assert short_answer(text) == "Yes"
    assert short_answer("Google [1]. It paid billions [2].") == "Google."
    assert short_answer("Yes, both report it [1][2]. TechCrunch adds more [1].") == "Yes"
    assert short_answer("No. The Verge says otherwise [2].") == "No"
    assert short_answer("Nobody was charged [1].") == "Nobody was charged."
    assert short_answer("No - the rival did [2].") == "No"
    assert short_answer("No-deal Brexit plans [1].") == "No-deal Brexit plans."


# --- the harness on a small slice -------------------------------------------------------------


def _slice(tmp_path: Path, n_queries: int = 5, n_articles: int = 20) -> tuple[Path, Path]:
    """The first ``n_queries`` non-null dev questions plus one null one, and 20 articles:
    those holding their evidence, then others in corpus order."""
    corpus = json.loads((MULTIHOP / "corpus.json").read_text())
    queries = json.loads((MULTIHOP / "queries-dev.json").read_text())
    chosen = [q for q in queries if q["question_type"] != "null_query"][:n_queries]
    chosen.append(next(q for q in queries if q["question_type"] == "null_query"))
    urls = {e["url"] for q in chosen for e in q["evidence_list"]}
    articles = [a for a in corpus if a["url"] in urls]
    articles += [a for a in corpus if a["url"] not in urls][: max(0, n_articles - len(articles))]
    (tmp_path / "corpus.json").write_text(json.dumps(articles))
    (tmp_path / "queries.json").write_text(json.dumps(chosen))
    return tmp_path / "corpus.json", tmp_path / "queries.json"


def test_retrieval_harness_on_a_slice_builds_then_reuses_the_index(tmp_path: Path) -> None:
    corpus, queries = _slice(tmp_path)
    args = ["retrieval", "--corpus", str(corpus), "--queries", str(queries), "--json",
            "--index", str(tmp_path / "index")]
    first = CliRunner().invoke(eval_group, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout.strip().splitlines()[-1])
    for key in ("hits@4", "hits@10", "mrr@10", "map@10", "fact_recall@10", "all_facts@10"):
        assert 0.0 <= report[key] <= 1.0
    assert report["queries"] == 5  # the null query is left out
    assert report["hits@10"] >= 0.8
    assert set(report["latency_ms"]) == {"p50", "p95"}
    assert report["query_embedding_ms"]["n"] == 5
    assert report["embedder"] == f"all-MiniLM-L6-v2 ({_DEFAULT}, 384-dim)"
    assert "question type" in first.stdout and "p50" in first.stdout
    assert "query embedding alone" in first.stdout

    again = CliRunner().invoke(eval_group, args)
    assert again.exit_code == 0, again.output
    assert " 0 chunks embedded" in again.stderr, "an up-to-date index is reused, not rebuilt"
    assert json.loads(again.stdout.strip().splitlines()[-1])["hits@10"] == report["hits@10"]


def test_bad_queries_file_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "q.json"
    bad.write_text("{not json")
    corpus = tmp_path / "c.json"
    corpus.write_text("[]")
    result = CliRunner().invoke(eval_group, ["retrieval", "--corpus", str(corpus),
                                             "--queries", str(bad), "--index",
                                             str(tmp_path / "i")])
    assert result.exit_code == 2
    assert "cannot read queries" in result.output
    assert "Traceback" not in result.output


_DEFAULT = Settings.model_fields["embed_backend"].default


def test_ingest_harness_keeps_llama_index_on_its_torch_embedder(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.json"
    corpus.write_text(json.dumps(json.loads((MULTIHOP / "corpus.json").read_text())[:3]))
    result = CliRunner().invoke(eval_group, ["ingest", "--corpus", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["embedder"] == f"all-MiniLM-L6-v2 ({_DEFAULT}, 384-dim)"
    assert report["llama_index_embedder"] == "all-MiniLM-L6-v2 (torch, 384-dim)"
    assert report["ours"]["articles"] == report["llama_index"]["articles"] == 3
    assert report["ours"]["chunks"] == report["embedder_alone"]["chunks"] > 3
    assert set(report["query_embedding_ms"]) == {"ours", "torch"}
    assert report["query_embedding_ms"]["torch"]["n"] == 3
    assert "ours vs llama-index" in result.stdout and "query embedding p50" in result.stdout
