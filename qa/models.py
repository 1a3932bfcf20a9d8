"""Frozen result and record types that flow one way through the stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Article:
    """One parsed news article; ``id`` is stable across re-ingests and folder moves."""

    id: str
    title: str
    body: str
    path: str  # path relative to the indexed root (posix), or the file name for a single file
    source: str = ""
    author: str = ""
    published_at: str = ""  # ISO 8601 when it could be parsed, else the raw string
    url: str = ""
    duplicates: tuple[str, ...] = ()  # ids of near-identical articles folded into this one


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned slice of an article body; ``start``/``end`` index ``Article.body``."""

    id: str  # f"{article_id}:{i:04d}"
    article_id: str
    index: int
    text: str
    start: int
    end: int
    title: str = ""
    source: str = ""
    published_at: str = ""
    url: str = ""
    path: str = ""

    def embed_text(self) -> str:
        """What the embedder and BM25 see: the headline line, then the passage."""
        return f"{header_line(self.title, self.source, self.published_at)}\n{self.text}"


def header_line(title: str, source: str, published_at: str) -> str:
    """Headline plus outlet and day, so questions naming them match the passage."""
    extra = ", ".join(x for x in (source, published_at[:10]) if x)
    return f"{title} ({extra})" if extra else title


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with its fused score (higher is better)."""

    chunk: Chunk
    score: float
    vector_score: float | None = None  # cosine similarity, when the vector side found it
    bm25_score: float | None = None


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: which article, and the exact passage quoted."""

    number: int
    article_id: str
    title: str
    source: str
    published_at: str
    url: str
    path: str
    quote: str  # the exact passage text, equal to article body[start:end]
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...] = ()  # spans of the cited words inside ``quote``


@dataclass(frozen=True)
class Answer:
    """An answer with inline ``[n]`` markers whose numbers index ``citations``."""

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    unsupported: tuple[str, ...] = ()  # sentences of ``text`` that no passage supports
    standalone_question: str = ""  # the question after condensing the chat history
    prompt_hash: str = ""
    seconds: float = 0.0
    first_token_seconds: float | None = None
    second_look: bool = False  # the model first declined; this came from its second look

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, as ``qa ask --json`` and the UI API return it."""
        return asdict(self)


@dataclass(frozen=True)
class IngestProblem:
    """One file (or record) that could not be indexed, and why, in one line; or, when
    ``skipped`` is false, one that was indexed without a field it gave in an unusable shape."""

    path: str
    message: str
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class IndexReport:
    """What one ``build_index`` run changed; counts are articles unless named otherwise."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0
    duplicates: int = 0
    problems: tuple[IngestProblem, ...] = field(default=())
    kept: int = 0  # articles whose files are there but could not be read: left as they were

    def summary(self) -> str:
        """One line for the CLI and the UI."""
        rate = self.chunks_embedded / self.seconds if self.seconds > 0 else 0.0
        kept = f", kept {self.kept} of unreadable files" if self.kept else ""
        empty = "" if self.added + self.updated + self.unchanged + self.kept else \
            "; the index is now empty"
        return (
            f"added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"unchanged {self.unchanged}{kept} articles; {self.duplicates} duplicates folded; "
            f"{self.chunks_embedded} chunks embedded in {self.seconds:.1f}s "
            f"({rate:.0f} chunks/s); {len(self.problems)} problems{empty}"
        )
