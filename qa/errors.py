"""One error tree: every failure a user can cause or meet is a ``QAError``.

Errors from the libraries underneath (chromadb, openai, llama.cpp, file I/O) are
translated at the module that talks to them, so callers catch one base class.
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error article-qa raises on purpose."""

    exit_code = 1


class ConfigError(QAError):
    """A setting is unknown, malformed or points at something that is not there."""

    exit_code = 2


class IngestError(QAError):
    """Nothing could be indexed from the given path (missing, empty, all files bad)."""

    exit_code = 2


class StoreError(QAError):
    """The vector store (Chroma) could not be opened, read or written."""


class NoIndexError(StoreError):
    """There is nothing to answer from: no index was ever built there, or it holds no articles."""

    exit_code = 2


class ModelError(QAError):
    """A model file (embedder or LLM weights) is missing or fails its checksum."""


class LLMError(QAError):
    """The language model server could not be started or did not answer."""


class CitationError(QAError):
    """An answer's citations could not be resolved against its passages."""
