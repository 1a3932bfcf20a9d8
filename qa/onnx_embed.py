"""Embedding on onnxruntime: a llama-index ``BaseEmbedding`` over the exported model.

Same tokenizer (the model folder's ``tokenizer.json``), truncation (the model's
``max_seq_length``: 256 word-pieces for all-MiniLM-L6-v2), mean pooling and L2 normalisation
as sentence-transformers; the pooling and normalisation are inside the exported graph.

Two sessions over one model file, made on first use, keep indexing and asking from fighting
over the cores:

- batches (indexing) run on ``threads`` intra-op threads, every core by default, sorted by
  length so a batch pads little (sentence-transformers' ``encode`` does the same);
- a single text (a question) runs on one thread that does not spin
  (``session.intra_op.allow_spinning`` = 0), so the local LLM server keeps the other core and
  no thread burns CPU between questions.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field, PrivateAttr
from tokenizers import Tokenizer

from qa.embed import EmbedderInfo, ModelSpec
from qa.errors import ModelError

# llama-index hands ``_get_text_embeddings`` at most this many texts; they are sorted by
# length across the whole call and run ``batch_size`` at a time.
_CALL_SIZE = 1024


def load_tokenizer(folder: Path, *, max_length: int) -> Tokenizer:
    """The model's tokenizer, cut at ``max_length`` word-pieces and padded to the longest."""
    file = Path(folder) / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # the Rust side raises plain Exception
        raise ModelError(f"{file}: cannot load tokenizer: {exc}") from None
    tokenizer.enable_truncation(max_length=max_length)
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0,
                             pad_token="[PAD]" if pad_id is not None else "<pad>")
    return tokenizer


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def session_options(*, threads: int, spinning: bool) -> Any:
    """onnxruntime options: ``threads`` intra-op threads, one inter-op, sequential graph."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return options


class OnnxEmbedding(BaseEmbedding):
    """Sentence embeddings on onnxruntime (see the module docstring); vectors are unit length.

    Use ``OnnxEmbedding.load``; raises ``ModelError`` when a model file cannot be loaded.
    """

    max_length: int = Field(description="Word-pieces kept per text; the rest is cut.")
    batch_size: int = Field(default=64, gt=0, description="Texts per onnxruntime run.")
    threads: int = Field(default=1, gt=0, description="Intra-op threads of a batch.")
    model_path: str = Field(description="The .onnx file.")

    _info: EmbedderInfo = PrivateAttr()
    _tokenizer: Tokenizer = PrivateAttr()
    _sessions: dict[str, Any] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def load(
        cls,
        model_path: Path,
        *,
        spec: ModelSpec,
        info: EmbedderInfo,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> OnnxEmbedding:
        """An embedding over ``model_path`` (an export of ``spec``); sessions load lazily."""
        embedding = cls(
            model_name=spec.name, embed_batch_size=_CALL_SIZE, max_length=spec.max_length,
            batch_size=batch_size, threads=threads or cores(), model_path=str(model_path),
        )
        embedding._info = info
        embedding._tokenizer = load_tokenizer(spec.folder, max_length=spec.max_length)
        return embedding

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    @property
    def info(self) -> EmbedderInfo:
        """Which embedder this is, as the index records it."""
        return self._info

    def _session(self, kind: str) -> Any:
        """The ``batch`` or ``query`` session, made once (thread-safe)."""
        with self._lock:
            if kind not in self._sessions:
                import onnxruntime as ort

                options = (session_options(threads=self.threads, spinning=True) if kind == "batch"
                           else session_options(threads=1, spinning=False))
                try:
                    self._sessions[kind] = ort.InferenceSession(
                        self.model_path, options, providers=["CPUExecutionProvider"])
                except Exception as exc:  # onnxruntime's own exception types
                    raise ModelError(f"cannot load {self.model_path}: {exc}") from None
            return self._sessions[kind]

    def embed(self, texts: list[str], *, kind: str = "batch") -> np.ndarray:
        """Unit-length vectors, float32 [len(texts), dim], row i for ``texts[i]``.

        Texts run shortest first, ``batch_size`` at a time, so each run pads little.
        """
        session = self._session(kind)
        encodings = self._tokenizer.encode_batch(texts) if texts else []
        order = sorted(range(len(texts)), key=lambda i: sum(encodings[i].attention_mask))
        out = np.zeros((len(texts), self._info.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(sum(encodings[i].attention_mask) for i in rows)
            ids = np.array([encodings[i].ids[:width] for i in rows], dtype=np.int64)
            mask = np.array([encodings[i].attention_mask[:width] for i in rows], dtype=np.int64)
            out[rows] = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    # --- llama-index's interface ------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query], kind="query")[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text], kind="query")[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()
