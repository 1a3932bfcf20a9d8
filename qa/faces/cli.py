"""The ``qa`` command: a thin click shell over ``QAService``.

Every user error is a ``QAError``; it leaves as a one-line message and its exit code
(2 for bad input), never as a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from qa.config import Settings
from qa.errors import NoIndexError, QAError
from qa.faces.export import answer_markdown, timeline_markdown
from qa.faces.render import files_gone_note, terminal_text, verdict_note
from qa.models import Answer, Evidence, IndexReport, Timeline
from qa.service import QAService, split_sources

INDEX_HELP = "Index folder (default: indexes/default, or QA_INDEX_DIR)."


class QAClickError(click.ClickException):
    def __init__(self, error: QAError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.load(**overrides)
    except QAError as exc:
        raise QAClickError(exc) from None


class _Group(click.Group):
    """Turns any ``QAError`` raised by a command into a clean message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QAError as exc:
            raise QAClickError(exc) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="article-qa")
def main() -> None:
    """Ask questions of a folder of news articles; every answer cites its passages.

    \b
    qa index articles/           build or update the index from a folder or file
    qa index URL                 add a web page, or an RSS/Atom feed's articles
    qa ask "Who met Zelenskyy?"  answer from the index, with numbered sources
    qa timeline "TOPIC"          a story's events in date order, each quoted and dated
    qa serve                     the chat window and the HTTP API (/v1, /api)
    qa eval retrieval ...        benchmark retrieval on MultiHop-RAG

    Settings come from QA_* environment variables (see README); options override them.
    """


@main.command("index")
@click.argument("sources", nargs=-1, metavar="[FOLDER | FILE] [URL]...")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
@click.option("--watch", is_flag=True,
              help="After indexing, keep watching FOLDER and re-index when article files are "
                   "added, changed or removed (bursts of changes make one update; Ctrl+C stops).")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar (default: only on a terminal)."
)
def index_cmd(sources: tuple[str, ...], index_dir: Path | None, watch: bool,
              progress: bool | None) -> None:
    """Index articles from a folder or file, and from web pages and RSS/Atom feeds.

    \b
    qa index articles/                    a folder (read recursively) or one file:
                                          .txt .md .html .pdf .json .jsonl
    qa index https://example.com/story    a web page: its main text, title, outlet, date
    qa index https://example.com/rss.xml  a feed: the article each item links to
    qa index articles/ --watch            then keep the index in sync with the folder

    Only new or changed articles are embedded; articles gone from FOLDER leave the index.
    Files that cannot be read are reported and keep what they had in the index. Fetched
    articles are kept as text files beside the index (INDEX-web/) and stay in it whatever
    folder is indexed next; a second run downloads only what is new or changed.
    Given only URLs, the index keeps mirroring the folder it was last built from.
    """
    if not sources:
        raise click.UsageError("give a folder, a file or a web page or feed URL to index")
    path, urls = split_sources(sources)
    if watch and path is None:
        raise click.UsageError("--watch needs a folder (or file) to watch")
    settings = _settings(index_dir=index_dir, progress=progress)
    service = QAService(settings)
    _print_report(service.ingest(path, urls=urls))
    if not watch:
        return
    assert path is not None

    def changed(paths: list[str], report: IndexReport) -> None:
        when = time.strftime("%H:%M:%S")
        click.echo(f"[{when}] {len(paths)} change{'s' * (len(paths) != 1)}:", err=True)
        _print_report(report)

    def failed(exc: QAError) -> None:
        click.echo(f"[{time.strftime('%H:%M:%S')}] error: {exc}", err=True)

    # Ctrl+C asks the watch to stop; an update under way finishes first, so no library is
    # interrupted half-way through a write. A second Ctrl+C interrupts as usual.
    stop = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("stopping after the update under way (Ctrl+C again interrupts it)", err=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl+C: the last good index stays
            service.watch(path, stop=stop, on_report=changed, on_error=failed,
                          on_ready=lambda: click.echo(
                              f"watching {path} for changes (Ctrl+C stops)", err=True))
    finally:
        signal.signal(signal.SIGINT, previous)
    click.echo("stopped watching", err=True)


def _print_report(report: IndexReport) -> None:
    for problem in report.problems:
        click.echo(f"{'skipped' if problem.skipped else 'indexed'} {problem}", err=True)
    click.echo(report.summary())


@main.command("ask")
@click.argument("question")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as one JSON object.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Print the answer and its sources (title, outlet, date, URL, quote) as "
                   "Markdown, to keep or share: qa ask ... --markdown > answer.md")
@click.option(
    "--evidence",
    type=click.Choice(["snippets", "passages"]),
    default=None,
    help="What the model reads: picked sentences (default, QA_EVIDENCE) or whole passages.",
)
@click.option("--since", default="", metavar="YYYY-MM-DD",
              help="Only articles published on or after this day.")
@click.option("--until", default="", metavar="YYYY-MM-DD",
              help="Only articles published on or before this day.")
@click.option("--outlet", "outlets", multiple=True, metavar="NAME",
              help="Only articles of this outlet (repeat for several; any case).")
def ask_cmd(question: str, index_dir: Path | None, as_json: bool, as_markdown: bool,
            evidence: str | None, since: str, until: str, outlets: tuple[str, ...]) -> None:
    """Answer QUESTION from the indexed articles, with a numbered source list.

    \b
    qa ask "What is the latest on the steel takeover?"   newest articles first
    qa ask "What happened last week?"                    that week's articles only
    qa ask "What did the board decide?" --outlet "Nordic Wire" --since 2024-03-01

    Dates in the question ("today", "yesterday", "this week", "last month", "in March",
    "since Monday", "over the past 3 days") are read against today, or against the newest
    article's day for an archive (older than QA_ARCHIVE_AFTER_DAYS); with --since/--until the
    narrower period wins. The period used is printed with the sources; a period holding no
    article on the question is a refusal naming it.

    On a terminal the evidence line and the answer appear as they come (on stderr); the
    checked answer and its sources follow on stdout (as JSON with --json, as Markdown with
    --markdown)."""
    if as_json and as_markdown:
        raise click.UsageError("choose one of --json and --markdown")
    settings = _settings(index_dir=index_dir, evidence=evidence)
    service = QAService(settings)
    live = sys.stderr.isatty() and not as_json and not as_markdown
    result: Answer | None = None
    try:
        for item in service.stream(question, since=since, until=until, outlets=outlets):
            if isinstance(item, Answer):
                result = item
            elif not live:
                continue
            elif isinstance(item, Evidence):
                if item.snippets:
                    titles = {s.passage.title for s in item.snippets}
                    hops = "".join(f"; {' or '.join(h.outlets)}: {len(h.snippets)}"
                                   f"{'' if h.read else ' (not among the articles read)'}"
                                   for h in item.hops)
                    click.echo(f"(reading {len(item.snippets)} excerpts from {len(titles)} "
                               f"articles, {item.seconds:.1f}s{hops})", err=True)
            else:  # the model's words: no escape sequence of theirs reaches the terminal
                click.echo(terminal_text(item), nl=False, err=True)
    finally:
        service.close()
    assert result is not None
    if live:
        click.echo("\n", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    if as_markdown:
        click.echo(answer_markdown({"question": question, "answer": result.to_dict()},
                                   level=1), nl=False)
        return
    click.echo(format_answer(result))


def format_answer(result: Answer) -> str:
    """The answer text, then its sources, as the terminal shows them (``terminal_text``: the
    model's and the articles' words drive no terminal)."""
    lines = [result.text]
    if result.unsupported:
        lines.append("")
        lines.extend(f"(not supported by its sources: {s})" for s in result.unsupported)
    if verdict := verdict_note(result.to_dict()):
        lines += ["", verdict]
    if result.citations:
        lines.append("")
        lines.append("Sources:")
        for c in result.citations:
            also = f"also ran in {', '.join(c.also_in)}" if c.also_in else ""
            meta = ", ".join(x for x in (c.source, also, c.published_at[:10], c.url or c.path)
                             if x)
            lines.append(f"[{c.number}] {c.title} ({meta})")
            quote = " ".join(c.quote.split())
            if c.header:
                lines.append(f"    {c.header}")
            lines.append(f'    "{quote[:300]}{"…" if len(quote) > 300 else ""}"')
    if result.files_gone:
        lines.extend(["", files_gone_note(result.files_gone)])
    if result.period is not None and result.period.label:
        lines.extend(["", f"(Articles {result.period.label}.)"])
    return terminal_text("\n".join(lines))


@main.command("timeline")
@click.argument("topic")
@click.option("--since", default="", metavar="YYYY-MM-DD", help="Only articles published on "
              "or after this day.")
@click.option("--until", default="", metavar="YYYY-MM-DD", help="Only articles published on "
              "or before this day.")
@click.option("--outlet", "outlets", multiple=True, metavar="NAME",
              help="Only articles of this outlet (repeat for several; any case).")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the Timeline as one JSON object.")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Print the timeline and its sources (title, outlet, date, URL, quote) as "
                   "Markdown: qa timeline ... --markdown > story.md")
def timeline_cmd(topic: str, since: str, until: str, outlets: tuple[str, ...],
                 index_dir: Path | None, as_json: bool, as_markdown: bool) -> None:
    """Follow a story: TOPIC's events in date order, from every article on it.

    \b
    qa timeline "Vantor takeover of Norrland Steel"
    qa timeline "FTX trial" --since 2023-10-01 --outlet "The Verge" --markdown > ftx.md

    Each event is one line dated by its article, or by a day its sentence states ("on
    Tuesday", "March 3"), with the quoted sentences it rests on; the same event reported by
    several outlets, or repeated later, appears once with every outlet ("also reported by").
    Progress (articles read, events found) goes to stderr on a terminal; Ctrl+C stops and
    prints the events found so far, marked as stopped."""
    if as_json and as_markdown:
        raise click.UsageError("choose one of --json and --markdown")
    service = QAService(_settings(index_dir=index_dir))
    live = sys.stderr.isatty()
    result: Timeline | None = None
    steps = service.timeline(topic, since=since, until=until, outlets=outlets)
    try:
        for result in steps:
            if live:
                click.echo(f"\rread {result.articles_read} of {result.articles_total} articles,"
                           f" {len(result.events)} events", nl=False, err=True)
    except KeyboardInterrupt:
        steps.close()
        if result is None:
            raise click.Abort() from None
        result = dataclasses.replace(result, stopped=True)
    finally:
        if live:
            click.echo("", err=True)
    assert result is not None
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    elif as_markdown:
        click.echo(timeline_markdown(result.to_dict()), nl=False)
    else:
        click.echo(format_timeline(result))


def format_timeline(timeline: Timeline) -> str:
    """The timeline as the terminal shows it: a summary line, then each event (day, line,
    quote numbers, outlets) with its quotes beneath (``terminal_text``)."""
    outlets = {o for e in timeline.events for o in e.outlets}
    stopped = (f" (stopped after {timeline.articles_read} of {timeline.articles_total} "
               "articles)") if timeline.stopped else ""
    lines = [f"{timeline.topic}: {len(timeline.events)} events from "
             f"{sum(n for _d, n in timeline.articles_per_day)} articles, "
             f"{len(outlets)} outlets{stopped}"]
    if not timeline.events:
        lines.append("No articles on this topic were found in the index.")
    for event in timeline.events:
        marks = "".join(f"[{q.number}]" for q in event.quotes)
        also = f"; also reported by {', '.join(event.also_reported_by)}" \
            if event.also_reported_by else ""
        stated = f"; dated by “{event.stated}”" if event.stated else ""
        lines += ["", f"{event.date or 'undated'}  {event.line} {marks}",
                  f"    ({event.outlets[0] if event.outlets else '?'}{also}{stated})"]
        for n, q in enumerate(event.quotes):
            meta = ", ".join(x for x in (q.source, q.published_at[:10], q.url or q.path) if x)
            lines.append(f"    [{q.number}] {q.title} ({meta})")
            if n:  # the first quote is the line itself
                text = " ".join(q.text.split())
                lines.append(f'        "{text[:300]}{"…" if len(text) > 300 else ""}"')
    return terminal_text("\n".join(lines))


@main.command("info")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
def info_cmd(index_dir: Path | None) -> None:
    """Show how many articles and chunks the index holds, when it was built and by which
    embedder; an index this install cannot search is named as such (exit code 1)."""
    stats = QAService(_settings(index_dir=index_dir)).stats()
    if not stats.exists:
        raise NoIndexError(stats.unusable_reason())
    click.echo(
        f"{stats.articles} articles, {stats.chunks} chunks; built {stats.built_at or '?'}"
        f" from {stats.source or '-'}"
    )
    if stats.embedder:
        click.echo(f"embedded by {stats.embedder}")
    if stats.note:
        click.echo(f"note: {stats.note}")
    if stats.problem:  # vectors this install cannot search
        raise click.ClickException(stats.problem)
    if stats.unusable_reason():
        click.echo(stats.unusable_reason(), err=True)


@main.command("serve")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help=INDEX_HELP)
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1, or QA_UI_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 7860, or QA_UI_PORT).")
def serve_cmd(index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the chat window and the HTTP API on one port and print the URL.

    The API: OpenAI-compatible chat completions with citations at /v1, plain JSON at /api
    (ask, articles, index), /health; fields documented at /docs. Beyond loopback it needs
    QA_API_KEYS or QA_UI_AUTH."""
    from qa.faces.server import serve

    serve(_settings(index_dir=index_dir, ui_host=host, ui_port=port))


from qa.faces.eval import eval_group  # noqa: E402

main.add_command(eval_group)


if __name__ == "__main__":  # pragma: no cover
    main()
