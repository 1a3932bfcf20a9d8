"""Our retrieval as a llama-index retriever, for llama-index query engines, node
postprocessors and ``RetrieverEvaluator``.

``ArticleRetriever`` is a ``BaseRetriever`` over a ``QAService``: the same retrieval the answer path
uses (which calls ``qa.retrieval.retrieve.Retriever`` directly), following rebuilds as the service
does. Each passage is a ``TextNode`` whose id is the chunk id (stable across re-ingests), whose text
is the passage and whose span is its place in the article body, with the article's headline, outlet,
date and URL as metadata; the score is the fused rank score (1 for the first passage, falling
evenly), and the cosine and BM25 scores are in the metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

from qa.config import Settings
from qa.models import ScoredChunk
from qa.service import QAService

# What the model reads beside a passage; the rest of the metadata is for code.
_FOR_LLM = ("title", "source", "published_at", "url")


def passage_node(passage: ScoredChunk) -> NodeWithScore:
    """A retrieved passage as a llama-index node with its score."""
    chunk = passage.chunk
    metadata: dict[str, Any] = {
        "title": chunk.title, "source": chunk.source, "published_at": chunk.published_at,
        "url": chunk.url, "article_id": chunk.article_id, "chunk_index": chunk.index,
        "path": chunk.path, "vector_score": passage.vector_score,
        "bm25_score": passage.bm25_score,
    }
    hidden = [k for k in metadata if k not in _FOR_LLM]
    node = TextNode(
        id_=chunk.id,
        text=chunk.text,
        metadata=metadata,
        excluded_llm_metadata_keys=hidden,
        excluded_embed_metadata_keys=hidden,
        start_char_idx=chunk.start,
        end_char_idx=chunk.end,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.article_id)},
    )
    return NodeWithScore(node=node, score=passage.score)


class ArticleRetriever(BaseRetriever):
    """A llama-index retriever over the article index: ``retrieve(question)`` gives the top
    passages as ``NodeWithScore``s, best first.

    Give a ``service`` to share its index, embedder and rebuilds, or ``index_dir`` (default:
    ``QA_INDEX_DIR``) for one of the process's own (``qa.answer`` shares it). ``top_k``
    defaults to ``QA_TOP_K``. Retrieving raises ``NoIndexError`` when there is nothing to
    retrieve from and ``StoreError`` when the store cannot be read."""

    def __init__(self, service: QAService | None = None, *, index_dir: Path | str | None = None,
                 top_k: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if service is None:
            from qa.faces.api import service_for

            service = service_for(Settings.load(
                index_dir=Path(index_dir) if index_dir is not None else None))
        self.service = service
        self.top_k = top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = self.service.retrieve(query_bundle.query_str, top_k=self.top_k)
        return [passage_node(p) for p in passages]


__all__ = ["ArticleRetriever", "passage_node"]
