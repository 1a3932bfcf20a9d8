"""``qa.ArticleRetriever``: our retrieval as a llama-index retriever, used by llama-index's own
consumers (an evaluator, a postprocessor, a query engine with our model on loopback)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import place_named
from llama_index.core.llms import (
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.schema import MetadataMode
from pydantic import PrivateAttr

from qa import ArticleRetriever
from qa.service import QAService

QUESTION = "How much military aid have NATO allies delivered to Ukraine?"


@pytest.fixture
def seed_retriever(make_settings, embedder, seed_folder: Path) -> ArticleRetriever:  # type: ignore[no-untyped-def]
    service = QAService(make_settings(), embedder=embedder)
    service.ingest(seed_folder)
    return ArticleRetriever(service, top_k=3)


def test_passages_come_as_nodes_with_scores(seed_retriever: ArticleRetriever,
                                            seed_folder: Path) -> None:
    from qa.sources.formats import read_articles

    nodes = seed_retriever.retrieve(QUESTION)
    passages = seed_retriever.service.retrieve(QUESTION, top_k=3)
    assert [n.node.node_id for n in nodes] == [p.chunk.id for p in passages]
    assert [n.score for n in nodes] == [p.score for p in passages] == sorted(
        (n.score for n in nodes), reverse=True)
    first = nodes[0].node
    assert "65 billion" in first.get_content()
    assert first.metadata["title"] and first.metadata["vector_score"] > 0
    article = read_articles(seed_folder, max_article_mb=5, max_pdf_mb=50)[0][0]
    assert article.id == first.metadata["article_id"]
    assert article.body[first.start_char_idx : first.end_char_idx] == first.get_content()
    # what the model reads: the passage under its headline, not our bookkeeping
    shown = first.get_content(metadata_mode=MetadataMode.LLM)
    assert first.metadata["title"] in shown and "chunk_index" not in shown


def test_llama_index_evaluates_and_postprocesses_our_passages(
    seed_retriever: ArticleRetriever,
) -> None:
    from llama_index.core.evaluation import RetrieverEvaluator
    from llama_index.core.postprocessor import SimilarityPostprocessor

    gold = next(n.node.node_id for n in seed_retriever.retrieve(QUESTION)
                if "65 billion" in n.node.get_content())
    evaluator = RetrieverEvaluator.from_metric_names(["hit_rate", "mrr"],
                                                     retriever=seed_retriever)
    result = evaluator.evaluate(QUESTION, expected_ids=[gold])
    assert result.metric_vals_dict["hit_rate"] == 1.0
    assert result.metric_vals_dict["mrr"] > 0
    missing = evaluator.evaluate(QUESTION, expected_ids=["not-a-chunk:0000"])
    assert missing.metric_vals_dict["hit_rate"] == 0.0
    kept = SimilarityPostprocessor(similarity_cutoff=0.5).postprocess_nodes(
        seed_retriever.retrieve(QUESTION))
    assert 0 < len(kept) < 3 and all(n.score is not None and n.score >= 0.5 for n in kept)


class LoopbackLLM(CustomLLM):
    """A llama-index LLM over our OpenAI-compatible client: the model on loopback."""

    base_url: str
    _client: Any = PrivateAttr()

    def __init__(self, base_url: str, cache_dir: Path) -> None:
        from qa.config import Settings
        from qa.llm.client import make_llm

        super().__init__(base_url=base_url)
        self._client, server = make_llm(Settings.load(llm_base_url=base_url, cache_dir=cache_dir))
        assert server is None, "the endpoint is the running local server, not a new one"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=4096, num_output=128, model_name="local")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = self._client.complete([{"role": "user", "content": prompt}], max_tokens=128)
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponseGen:
        def gen() -> Iterator[CompletionResponse]:
            text = ""
            for piece in self._client.stream([{"role": "user", "content": prompt}],
                                             max_tokens=128):
                if isinstance(piece, str):
                    text += piece
                    yield CompletionResponse(text=text, delta=piece)

        return gen()


@pytest.mark.llm
def test_a_llama_index_query_engine_answers_from_our_retriever(
    seed_service: QAService, llm_base_url: str, cache_dir: Path
) -> None:
    from llama_index.core.postprocessor import SimilarityPostprocessor
    from llama_index.core.query_engine import RetrieverQueryEngine

    engine = RetrieverQueryEngine.from_args(
        ArticleRetriever(seed_service, top_k=3),
        llm=LoopbackLLM(llm_base_url, cache_dir),
        node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=0.5)],
    )
    response = engine.query("At which air base did the Ukraine Defense Contact group meet?")
    sources: Sequence[Any] = response.source_nodes
    assert 0 < len(sources) < 3, "the postprocessor dropped the lowest-ranked passage"
    assert any("Ramstein" in s.node.get_content() for s in sources)
    assert place_named(str(response)), str(response)
