"""Embedding on onnxruntime: a llama-index ``BaseEmbedding`` over the exported model.

Same tokenizer (the model folder's ``tokenizer.json``), truncation (the model's
``max_seq_length``: 256 word-pieces for all-MiniLM-L6-v2), mean pooling and L2 normalisation
as sentence-transformers; the pooling and normalisation are inside the exported graph.

Every text runs alone, unpadded. On this CPU that was the fastest way (a batch of 32 chunks
holds 80 MB of attention scores, far beyond the cache; one chunk's fit), and it makes a
text's vector independent of its neighbours: the int8 model quantizes activations with one
scale per run, so in a batch a text's vector would depend on the others and on the padding.
Measured on 200 corpus chunks, one core, CPU seconds: int8 alone 4.9, int8 in batches of 32
8.4, fp32 alone 11.1, fp32 in batches of 32 15.5, torch in batches of 64 12.5.

One session with one intra-op thread that never spins (``session.intra_op.allow_spinning`` =
0) serves both uses, so they do not fight over the cores:

- a question runs on the calling thread alone, leaving the other core to the local LLM
  server, and no idle thread burns CPU between questions;
- a batch (indexing) is spread over ``threads`` Python threads, every core by default
  (onnxruntime releases the GIL while it runs): whole runs side by side, which scale better
  on two cores than one run split between intra-op threads that meet at every small operator.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field, PrivateAttr
from tokenizers import Tokenizer

from qa.embedding.spec import EmbedderInfo, ModelSpec
from qa.errors import ModelError

# llama-index hands ``_get_text_embeddings`` at most this many texts at once
_CALL_SIZE = 1024


def load_tokenizer(folder: Path, *, max_length: int, pad: bool = False) -> Tokenizer:
    """The model's tokenizer, cut at ``max_length`` word-pieces; ``pad`` pads a batch to its
    longest text (with the model's ``[PAD]``)."""
    file = Path(folder) / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # the Rust side raises plain Exception
        raise ModelError(f"{file}: cannot load tokenizer: {exc}") from None
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    if pad:
        pad_id = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=pad_id or 0, pad_token="[PAD]")
    return tokenizer


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def session_options() -> Any:
    """onnxruntime options: one intra-op thread that does not spin, sequential graph."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers are noise here
    return options


class OnnxEmbedding(BaseEmbedding):
    """Sentence embeddings on onnxruntime (see the module docstring); vectors are unit length.

    Use ``OnnxEmbedding.load``; raises ``ModelError`` when a model file cannot be loaded.
    """

    max_length: int = Field(description="Word-pieces kept per text; the rest is cut.")
    threads: int = Field(default=1, gt=0, description="Texts of a batch run side by side.")
    model_path: str = Field(description="The .onnx file.")

    _info: EmbedderInfo = PrivateAttr()
    _tokenizer: Tokenizer = PrivateAttr()
    _session: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def load(
        cls,
        model_path: Path,
        *,
        spec: ModelSpec,
        info: EmbedderInfo,
        threads: int | None = None,
    ) -> OnnxEmbedding:
        """An embedding over ``model_path`` (an export of ``spec``); the session loads lazily."""
        embedding = cls(
            model_name=spec.name, embed_batch_size=_CALL_SIZE, max_length=spec.max_length,
            threads=threads or cores(), model_path=str(model_path),
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

    @property
    def session(self) -> Any:
        """The onnxruntime session, made on first use (thread-safe)."""
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                try:
                    self._session = ort.InferenceSession(
                        self.model_path, session_options(), providers=["CPUExecutionProvider"])
                except Exception as exc:  # onnxruntime's own exception types
                    raise ModelError(f"cannot load {self.model_path}: {exc}") from None
            return self._session

    def embed(self, texts: list[str], *, threads: int | None = None) -> np.ndarray:
        """Unit-length vectors, float32 [len(texts), dim], row i for ``texts[i]``.

        Each text runs alone; ``threads`` of them side by side (default ``self.threads``; with
        one, everything runs on the caller's thread).
        """
        session = self.session
        out = np.zeros((len(texts), self._info.dim), dtype=np.float32)

        def run(i: int) -> None:
            # tokenized here, not in one encode_batch up front: that took 0.85 s of 1,103
            # chunks' 40 s on the calling thread while the cores waited for it
            ids = np.array([self._tokenizer.encode(texts[i]).ids], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            out[i] = session.run(None, feed)[0][0]

        workers = min(threads or self.threads, len(texts))
        if workers <= 1:
            for i in range(len(texts)):
                run(i)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="qa-embed") as pool:
                list(pool.map(run, range(len(texts))))  # list() re-raises a run's error here
        return out

    # --- llama-index's interface ------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query], threads=1)[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text], threads=1)[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()
