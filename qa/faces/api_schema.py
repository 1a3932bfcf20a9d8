"""The HTTP API's request and response shapes (pydantic), as its OpenAPI page (``/docs``)
shows them; ``qa.faces.http_api`` serves them.

The chat shapes follow OpenAI's chat completions API
(https://platform.openai.com/docs/api-reference/chat): fields clients send that this server
does not use (``temperature``, ``max_tokens``, …) are accepted and ignored, and the fields it
adds (``citations``, ``refused``, ``verdict``, ``evidence``, ``answer``) are ones standard
clients ignore.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SINCE = "Only articles published on or after this day (YYYY-MM-DD; '' open)."
UNTIL = "Only articles published on or before this day (YYYY-MM-DD; '' open)."
OUTLETS = ("Only articles of these outlets (names as GET /api/articles gives them, any case; "
           "empty: all). With dates the question names ('last week'), the narrower wins.")


class ChatMessage(BaseModel):
    """One turn of the conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, object]] | None = Field(
        default=None, description="Text, or content parts of which the text parts are read.")

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content
                            if p.get("type", "text") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """A chat completions request: the last user message is the question, earlier user and
    assistant turns are the history (follow-ups are rewritten into standalone questions)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(default="article-qa", description="Must be 'article-qa' (GET /v1/models).")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = Field(default=False, description="Server-sent events, ending 'data: [DONE]'.")
    since: str = Field(default="", description=SINCE)
    until: str = Field(default="", description=UNTIL)
    outlets: list[str] = Field(default_factory=list, description=OUTLETS)


class CitationOut(BaseModel):
    """A numbered source: the article and the exact sentences the answer rests on."""

    number: int = Field(description="The [n] marker in the answer text.")
    title: str
    outlet: str
    date: str = Field(description="Publication day, YYYY-MM-DD ('' when undated).")
    url: str
    quote: str = Field(description="The cited snippet, exactly as in the article.")
    article_id: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatChoice(BaseModel):
    index: int
    finish_reason: str
    message: dict[str, str] = Field(description="{'role': 'assistant', 'content': answer text "
                                    "with checked [n] markers}")


class ChatCompletion(BaseModel):
    """A chat completion with the answer's citations."""

    id: str
    object: Literal["chat.completion"]
    created: int = Field(description="Unix seconds.")
    model: str
    choices: list[ChatChoice]
    usage: Usage
    citations: list[CitationOut] = Field(description="Numbered as the text's [n] markers.")
    refused: bool = Field(description="The articles do not hold the answer; no citations.")
    verdict: str = Field(description="How the answer was checked: lexical, partial, "
                         "unsupported, confirmed, or '' for a refusal.")
    unsupported: list[str] = Field(description="Sentences no cited snippet supports.")
    period: dict[str, object] | None = Field(
        default=None, description="The period and outlets the articles read were restricted "
        "to (since, until, outlets, words, latest, reference, reference_is, label); null: all.")


class AskRequest(BaseModel):
    """A question for ``POST /api/ask``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    history: list[tuple[str, str]] = Field(
        default_factory=list, description="Earlier [question, answer] pairs, oldest first.")
    evidence: Literal["snippets", "passages"] | None = Field(
        default=None, description="What the model reads (default QA_EVIDENCE).")
    since: str = Field(default="", description=SINCE)
    until: str = Field(default="", description=UNTIL)
    outlets: list[str] = Field(default_factory=list, description=OUTLETS)


class IndexRequest(BaseModel):
    """What ``POST /api/index`` builds from: a folder under QA_ARTICLES_ROOT (the index then
    mirrors it), and/or web pages and feeds to fetch and add (when QA_UI_FETCH allows)."""

    model_config = ConfigDict(extra="forbid")

    folder: str | None = Field(default=None, description="Relative to QA_ARTICLES_ROOT.")
    urls: list[str] = Field(default_factory=list)


class IndexInfo(BaseModel):
    """What ``qa info`` says of the index."""

    articles: int
    chunks: int
    built_at: str = Field(description="When it was last built (ISO 8601, UTC).")
    source: str = Field(description="The folder or file it was last built from.")
    where: str = Field(description="The index folder, or the Chroma server and collection.")
    embedder: str = Field(description="Who wrote the vectors: model, backend, dimension.")
    problem: str = Field(description="Why questions cannot be answered from it ('' if they can).")
    exists: bool


class Health(BaseModel):
    status: Literal["ok"]
    articles: int = Field(description="Articles the answers come from.")


class ArticleOut(BaseModel):
    article_id: str
    title: str
    outlet: str
    date: str
    url: str
    chunks: int


class ArticlePage(BaseModel):
    """One page of the indexed articles, newest first."""

    total: int
    offset: int
    limit: int
    articles: list[ArticleOut]


__all__ = ["ArticleOut", "ArticlePage", "AskRequest", "ChatCompletion", "ChatMessage",
           "ChatRequest", "CitationOut", "Health", "IndexInfo", "IndexRequest", "Usage"]
