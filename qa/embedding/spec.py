"""What the embedder's modules share: the model a folder holds (``ModelSpec``) and the record of
which model, backend and precision wrote a vector (``EmbedderInfo``).

Its own module so that ``embed`` (choosing a backend), ``onnx_embed`` (the runtime) and
``onnx_export`` (the export) all import it and none of them imports another back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Backend = Literal["onnx-int8", "onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx-int8", "onnx", "torch")
PRECISION = {"onnx-int8": "int8", "onnx": "fp32", "torch": "fp32"}


@dataclass(frozen=True)
class ModelSpec:
    """What a sentence-transformers folder says about its model: name, vector size, the
    longest input in word-pieces (``sentence_bert_config.json``) and the pooling
    (``1_Pooling/config.json``); weights are those of ``weights`` inside ``folder``."""

    name: str
    folder: Path
    dim: int
    max_length: int
    pooling: Literal["mean", "cls"]
    weights: str = "model.safetensors"
    size: int | None = None  # official size and hash, known for the packaged model only
    sha256: str | None = None


@dataclass(frozen=True)
class EmbedderInfo:
    """Which embedder wrote (or reads) an index: model, backend and vector size."""

    model: str
    backend: str
    dim: int

    @property
    def precision(self) -> str:
        return PRECISION.get(self.backend, "?")

    def label(self) -> str:
        """``all-MiniLM-L6-v2 (onnx-int8, 384-dim)``, as messages name an embedder."""
        return f"{self.model} ({self.backend}, {self.dim}-dim)"

    def as_metadata(self) -> dict[str, str | int]:
        """The keys the Chroma collection records."""
        return {"embed_model": self.model, "embed_backend": self.backend,
                "embed_precision": self.precision, "embed_dim": self.dim}

    @classmethod
    def from_metadata(cls, meta: dict[str, Any] | None) -> EmbedderInfo | None:
        """The record in a collection's metadata; None for an index written before records."""
        meta = meta or {}
        if not {"embed_model", "embed_backend", "embed_dim"} <= meta.keys():
            return None
        return cls(str(meta["embed_model"]), str(meta["embed_backend"]), int(meta["embed_dim"]))
