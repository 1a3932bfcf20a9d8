"""Which embedder wrote an index, and what follows for searching it and writing to it.

The Chroma collection's metadata records the embedder (``EmbedderInfo.as_metadata``); an index
made before records has none, and then the length of a stored vector is all there is to go on.
The rules (pure; ``qa.store.index`` reads the facts from Chroma and acts on them):

- searching needs vectors of our dimension from our model; another precision of the same model
  may be searched meanwhile (int8 and fp32 vectors of a text have cosine 0.99);
- writing needs the collection to be ours exactly: any other record, or none, means dropping
  the collection and embedding every article again, never mixing two embedders' vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa.embedding.spec import EmbedderInfo

REBUILD = "rebuild it with `qa index FOLDER` (re-embeds every article)"


@dataclass(frozen=True)
class Vectors:
    """What a collection holds: its embedder record (None: not recorded), the length of a
    stored vector (None: no vectors) and how many vectors there are."""

    record: EmbedderInfo | None
    dim: int | None
    count: int

    def writer(self) -> str:
        """The embedder as messages name it: ``all-MiniLM-L6-v2 (onnx-int8, 384-dim)``."""
        if self.record is not None and (self.dim is None or self.record.dim == self.dim):
            return self.record.label()
        if self.record is None:
            return f"an unrecorded embedder ({self.dim}-dim)"
        return f"{self.record.model} ({self.record.backend}), holding {self.dim}-dim vectors"


def read(collection: Any) -> Vectors:
    """The facts of a Chroma collection: its record, one vector's length, its size."""
    count = int(collection.count())
    dim = None
    if count:
        vectors = collection.get(limit=1, include=["embeddings"]).get("embeddings")
        dim = len(vectors[0]) if vectors is not None and len(vectors) else None
    return Vectors(EmbedderInfo.from_metadata(collection.metadata), dim, count)


def search_problem(vectors: Vectors, ours: EmbedderInfo, *, where: str) -> str:
    """Why ``ours`` cannot search these vectors, in one line naming both embedders; "" when
    it can (none stored, or our model and dimension at any precision)."""
    if not vectors.count:
        return ""
    same_dim = vectors.dim is None or vectors.dim == ours.dim
    if same_dim and (vectors.record is None or vectors.record.model == ours.model):
        return ""
    return (f"the index at {where} was embedded by {vectors.writer()}, but this install "
            f"embeds with {ours.label()}: {REBUILD}")


def reembed_note(vectors: Vectors, ours: EmbedderInfo) -> str:
    """For vectors ``ours`` can search but did not write: what ``qa index`` would do."""
    if not vectors.count or vectors.record == ours or search_problem(vectors, ours, where=""):
        return ""
    return f"vectors by {vectors.writer()}; `qa index FOLDER` re-embeds them with {ours.label()}"


def needs_new_collection(vectors: Vectors, ours: EmbedderInfo) -> bool:
    """Whether a build must drop the collection first: it records another embedder or none.
    An empty one too, as Chroma keeps the dimension of the first vector it was given."""
    return not (vectors.record == ours and (vectors.dim is None or vectors.dim == ours.dim))


def reembed_reason(vectors: Vectors, ours: EmbedderInfo) -> str:
    """The line a build reports when it dropped these vectors ("" when there were none)."""
    if not vectors.count:
        return ""
    return f"the index was embedded by {vectors.writer()}; re-embedded every article with " \
           f"{ours.label()}"
