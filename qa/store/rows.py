"""What one Chroma row carries beside its text and vector: a chunk's metadata, both ways."""

from __future__ import annotations

from typing import Any

from qa.models import Chunk


def chunk_metadata(chunk: Chunk, content_hash: str, n_chunks: int) -> dict[str, Any]:
    """What a Chroma row stores beside a chunk's text and vector: where it sits in its article,
    the article's fields, and the content hash and chunk count that incremental builds compare."""
    return {
        "article_id": chunk.article_id,
        "chunk_index": chunk.index,
        "n_chunks": n_chunks,
        "content_hash": content_hash,
        "start": chunk.start,
        "end": chunk.end,
        "title": chunk.title,
        "source": chunk.source,
        "published_at": chunk.published_at,
        "url": chunk.url,
        "path": chunk.path,
        "table_header": chunk.table_header,
        "table_header_start": chunk.table_header_start,
        "also_in": "; ".join(chunk.also_in),
    }


def chunk_from_row(chunk_id: str, meta: dict[str, Any], text: str) -> Chunk:
    """Rebuild a ``Chunk`` from what a Chroma row or a llama-index node carries."""
    return Chunk(
        id=chunk_id,
        article_id=str(meta["article_id"]),
        index=int(meta["chunk_index"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        published_at=str(meta.get("published_at", "")),
        url=str(meta.get("url", "")),
        path=str(meta.get("path", "")),
        table_header=str(meta.get("table_header", "")),
        table_header_start=int(meta.get("table_header_start", -1)),
        also_in=tuple(o for o in str(meta.get("also_in", "")).split("; ") if o),
    )


__all__ = ["chunk_from_row", "chunk_metadata"]
