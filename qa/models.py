"""Frozen result and record types that flow one way through the stages."""

from __future__ import annotations

import json
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
    also_in: tuple[str, ...] = ()  # the outlets of those copies (other than ``source``)


def chunk_id(article_id: str, index: int) -> str:
    """The store id of an article's ``index``-th chunk (0: its opening)."""
    return f"{article_id}:{index:04d}"


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned slice of an article body; ``start``/``end`` index ``Article.body``."""

    id: str  # chunk_id(article_id, index)
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
    # A chunk that starts inside a markdown table below its header row carries that row (exact
    # text at ``Article.body[table_header_start:]``), so its rows keep their column names.
    table_header: str = ""
    table_header_start: int = -1
    also_in: tuple[str, ...] = ()  # other outlets that ran this story (folded copies)

    def embed_text(self) -> str:
        """What the embedder and BM25 see: the headline line, the table header row a
        continued table needs, then the passage."""
        head = header_line(self.title, self.source, self.published_at)
        table = f"{self.table_header}\n" if self.table_header else ""
        return f"{head}\n{table}{self.text}"


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
class Snippet:
    """Evidence the model reads: sentences picked from a passage, numbered for citing.

    ``text`` is exactly ``Article.body[start:end]``; ``passage`` is the chunk it was picked
    from (its span contains the snippet's), kept for context. A snippet of table rows keeps the
    table's header row, exact at ``Article.body[header_start:]`` (``-1``: no header).
    ``names`` are the full forms, from elsewhere in its article, of names the text gives only
    in part; the prompt shows them above the article's snippets and they vouch for names.
    """

    number: int
    passage: Chunk
    text: str
    start: int
    end: int
    header: str = ""
    header_start: int = -1
    score: float = 0.0  # evidence score (0-1); a whole passage given as-is has its fused score
    names: tuple[str, ...] = ()  # full forms of names the text gives only in part (qa.text.names)

    @property
    def prompt_text(self) -> str:
        """What the model reads: the header row (if any), then the snippet."""
        return f"{self.header}\n{self.text}" if self.header else self.text


@dataclass(frozen=True)
class HopEvidence:
    """One article a question names by its outlet, and what the evidence holds of it.

    ``outlets`` are the names the hop accepts, ``clause`` what the question says of that
    article, ``share`` the IDF-weighted share (0-1) of the clause's content words that the
    outlet's best snippet holds (``qa.answering.hop_coverage``), ``snippets`` the numbers of
    that outlet's snippets, and ``read`` whether ``share`` reaches ``QA_HOP_FLOOR``.
    """

    outlets: tuple[str, ...]
    clause: str
    share: float
    snippets: tuple[int, ...]
    read: bool


@dataclass(frozen=True)
class Period:
    """The period, outlets and order an answer's articles were restricted to: what the
    question said ("last week", "latest") combined with the filters a person set (the
    narrower wins).

    ``since``..``until`` are ``YYYY-MM-DD`` (inclusive, "" open; ``since`` after ``until`` is a
    period holding nothing); ``outlets`` the outlets set as a filter (empty: all); ``words`` what
    the question said of the period ("" when only filters set it); ``latest`` whether newer
    articles were ranked first; ``reference`` the day relative words were resolved against
    (``YYYY-MM-DD``, "" when none were) and ``reference_is`` which day that was (``"today"``, or
    ``"newest article"`` for an archive); ``label`` all this in one line ("published from 25
    March 2024 to 31 March 2024 (“last week”, as of 3 April 2024, the newest article)")."""

    since: str = ""
    until: str = ""
    outlets: tuple[str, ...] = ()
    words: str = ""
    latest: bool = False
    reference: str = ""
    reference_is: str = ""
    label: str = ""


@dataclass(frozen=True)
class Evidence:
    """The first event of a streamed answer: what the model is about to read, and when.

    ``mode`` is ``"snippets"`` (picked sentences) or ``"passages"`` (whole passages);
    ``seconds`` is the time from the question to this event (retrieval plus selection).
    An empty ``snippets`` means the answer is a refusal made without the model.
    ``files_gone`` are the paths of retrieved articles left out because their files were
    deleted since the index was built. ``hops`` are the articles the question names by
    outlet, in its order, each with its own snippets (empty when it names none). ``period``
    is the period and outlets the articles were restricted to (None: none, all articles).
    """

    question: str
    standalone_question: str
    snippets: tuple[Snippet, ...]
    seconds: float
    mode: str = "snippets"
    files_gone: tuple[str, ...] = ()
    hops: tuple[HopEvidence, ...] = ()
    period: Period | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (the ``/ask`` endpoint's first event)."""
        return {"event": "evidence", **asdict(self)}


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: which article, and the exact snippet it rests on.

    ``quote`` is the cited text, equal to ``Article.body[start:end]``; ``passage`` is the
    surrounding chunk (``Article.body[passage_start:...]``) with ``highlights`` marking the
    cited sentences inside it. ``header`` is a table's header row when the quote is table rows.
    """

    number: int
    article_id: str
    title: str
    source: str
    published_at: str
    url: str
    path: str
    quote: str
    start: int
    end: int
    passage: str = ""
    passage_start: int = 0
    highlights: tuple[tuple[int, int], ...] = ()  # spans of cited text inside ``passage``
    header: str = ""
    header_start: int = -1
    also_in: tuple[str, ...] = ()  # other outlets that ran this story (folded copies)
    verdict: str = ""  # the answer's support verdict (``Answer.verdict``), for this source too
    score: float | None = None  # the reading check's agreement (0-1), None when not read


@dataclass(frozen=True)
class Answer:
    """An answer with inline ``[n]`` markers whose numbers index ``citations``.

    Times are seconds from the question: ``evidence_seconds`` until the evidence was chosen,
    ``first_token_seconds`` until the model's first token. Token counts are the model's own
    (reported by the server, or counted with its vocabulary), ``None`` when unknown.
    A bracketed number that names no citation (say "[150] billion") is answer text, kept as is.

    ``verdict`` says how far the supported sentences were checked: ``"confirmed"`` when the reading
    check (``qa.answering.reading``: the model answers the question again from the cited excerpts
    alone) agreed with them, ``"lexical"`` when they passed only the word rules of
    ``qa.answering.citations`` (the check disagreed, or did not run), ``"unsupported"`` when no
    sentence the model wrote is supported (nothing it wrote is cited; the product's quotes of
    named articles under a yes-or-no answer, ``qa.answering.hop_quotes``, do not count),
    ``"partial"`` when an article the question names (by its outlet) is not among those read
    (``uncovered``, ``qa.answering.hop_coverage``), ``""`` for a refusal. ``support_score`` is
    that agreement (0-1; None when not read), ``check_seconds`` the time the checks took once
    the model had written (citations, the rules of ``qa.answering.asks``, the reading check).
    """

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    unsupported: tuple[str, ...] = ()  # sentences of ``text`` that no cited snippet supports
    standalone_question: str = ""  # the question after condensing the chat history
    prompt_hash: str = ""
    seconds: float = 0.0
    first_token_seconds: float | None = None
    second_look: bool = False  # the model first declined; this came from its second look
    evidence_seconds: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    evidence_mode: str = "snippets"
    # retrieved articles left out: their files were deleted since the index was built
    files_gone: tuple[str, ...] = ()
    verdict: str = ""
    support_score: float | None = None
    check_seconds: float | None = None
    # articles the question names that the evidence does not hold ("The Verge on “…”")
    uncovered: tuple[str, ...] = ()
    # the period, outlets and recency its articles were restricted to (None: all articles)
    period: Period | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, as ``qa ask --json`` and the UI API return it."""
        return asdict(self)


@dataclass(frozen=True)
class IngestProblem:
    """One file (or record) that could not be indexed, and why, in one line; or, when
    ``skipped`` is false, one that was indexed without a field it gave in an unusable shape.

    ``path`` is where, as a report shows it: a file's path (relative to the indexed folder),
    ``file.json#3`` for one record of a file, or a URL. ``file`` is the file's own path when
    ``path`` names a record of it ("" otherwise); ``file_path`` is the file either way. Never
    split ``path`` at ``#``: a file name may hold one (``Receipt #2832.txt``)."""

    path: str
    message: str
    skipped: bool = True
    file: str = ""

    @property
    def file_path(self) -> str:
        """The file this problem is about, as ``Article.path`` names it (or the URL)."""
        return self.file or self.path

    def __str__(self) -> str:
        # A name with a newline or tab (or edge spaces) is quoted, escaped: one line per problem.
        shown = self.path if self.path.isprintable() and self.path == self.path.strip() \
            else json.dumps(self.path, ensure_ascii=False)
        return f"{shown}: {self.message}"


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
    fetched: int = 0  # web pages and feed items fetched and written, new or changed
    fetch_unchanged: int = 0  # web pages and feed items found as they were (not rewritten)
    reembedded: str = ""  # why every article was embedded again (another embedder's index)

    def summary(self) -> str:
        """One line for the CLI and the UI."""
        rate = self.chunks_embedded / self.seconds if self.seconds > 0 else 0.0
        web = (f"fetched {self.fetched} new or changed web articles, {self.fetch_unchanged} "
               "unchanged; ") if self.fetched or self.fetch_unchanged else ""
        kept = f", kept {self.kept} of unreadable files" if self.kept else ""
        empty = "" if self.added + self.updated + self.unchanged + self.kept else \
            "; the index is now empty"
        return (
            (f"{self.reembedded}; " if self.reembedded else "")
            + f"{web}added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"unchanged {self.unchanged}{kept} articles; {self.duplicates} duplicates folded; "
            f"{self.chunks_embedded} chunks embedded in {self.seconds:.1f}s "
            f"({rate:.0f} chunks/s); {len(self.problems)} problems{empty}"
        )


@dataclass(frozen=True)
class ArticleEntry:
    """One indexed article as a listing shows it: its id, fields, file and chunk count."""

    article_id: str
    title: str
    source: str
    published_at: str
    url: str
    path: str
    chunks: int


@dataclass(frozen=True)
class TimelineQuote:
    """One article sentence an event rests on, cited like an answer's source: ``text`` is
    exactly ``Article.body[start:end]`` (the sentence, with the one before it when it leans on
    it); ``number`` is its number among the timeline's quotes (1-based, ``[n]`` in exports)."""

    number: int
    article_id: str
    title: str
    source: str
    published_at: str
    url: str
    path: str
    text: str
    start: int
    end: int
    also_in: tuple[str, ...] = ()  # other outlets that ran this article (folded wire copies)
    score: float = 0.0  # how much the sentence is on the topic (keyword coverage + cosine, 0-2)


@dataclass(frozen=True)
class TimelineEvent:
    """One event of a story: its day (``YYYY-MM-DD``; "" when its article has no date), the
    line shown for it, and the quotes it rests on, first report first.

    ``dated_by`` is ``"published"`` (its first report's day) or ``"stated"`` (a day its
    sentence states, ``stated`` being the words: "on Tuesday", "March 3"). ``outlets`` are every
    outlet that reported it, first reporter first; ``line`` is the first quote's text (one
    line) unless a model wrote it and it passed the citation check (``verdict``: ``"quote"``
    or ``"lexical"``)."""

    date: str
    line: str
    quotes: tuple[TimelineQuote, ...]
    outlets: tuple[str, ...]
    dated_by: str = "published"
    stated: str = ""
    verdict: str = "quote"

    @property
    def also_reported_by(self) -> tuple[str, ...]:
        """The outlets beyond the first reporter."""
        return self.outlets[1:]


@dataclass(frozen=True)
class Timeline:
    """A story's events in date order, over ``since``..``until`` (``YYYY-MM-DD``, "" open)
    and ``outlets`` (empty: all).

    ``articles_read`` of ``articles_total`` on-topic articles were read so far (``complete``
    when all were); ``articles_per_day`` counts the on-topic articles read per published day
    (``(day, count)``, by day). ``seconds`` is the time since the request,
    ``first_event_seconds`` the time to the first snapshot holding an event (None: none yet).
    ``stopped`` is set on a timeline whose building was cancelled."""

    topic: str
    events: tuple[TimelineEvent, ...] = ()
    since: str = ""
    until: str = ""
    outlets: tuple[str, ...] = ()
    articles_read: int = 0
    articles_total: int = 0
    articles_per_day: tuple[tuple[str, int], ...] = ()
    complete: bool = False
    stopped: bool = False
    seconds: float = 0.0
    first_event_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (``qa timeline --json``), each event with its
        ``also_reported_by``."""
        data = asdict(self)
        for event, out in zip(self.events, data["events"], strict=True):
            out["also_reported_by"] = list(event.also_reported_by)
        return data
