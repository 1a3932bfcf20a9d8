"""The chat window: a Gradio Blocks face over ``QAService`` that only renders what it returns.

``build_app`` lays out the chat, the source panel and the index tab; questions wait in one line
with the HTTP API's (``qa.faces.http_api.Gate``, two at a time: evidence early, one answer
written at a time). ``qa.faces.server`` serves it.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from qa.config import Settings
from qa.errors import ConfigError, QAError
from qa.faces.export import write_chat, write_timeline
from qa.faces.http_api import Gate
from qa.faces.library import library_dir, read_origin, resolve_under_root, stage_uploads
from qa.faces.render import (
    as_text,
    reading_status,
    render_chat,
    render_evidence,
    render_sources,
)
from qa.faces.timeline_view import (
    DAY_MARK,
    EVENT_MARK,
    chart_frame,
    events_html,
    progress_line,
)
from qa.models import Answer, Evidence
from qa.service import QAService, split_sources

UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".pdf"]
ASK_HINT = "Ask a question and press Enter"
FETCH_ON = ("### Add a web page or feed\nA page's article, or each article a feed links to, is "
            "fetched, kept beside the index and added to it.")
FETCH_OFF = ("### Add a web page or feed\nOff: the server would make the request. Its owner "
             "can turn it on with `QA_UI_FETCH=1`, or use `qa index URL` in a terminal.")
# Questions answered at once: the second one's retrieval and evidence run (and show) while the
# first is being written; the model server itself writes one answer at a time, in order.
ANSWERING = 2


def index_summary(service: QAService) -> tuple[str, str, bool]:
    """A headline line and a table on the index, and whether it holds anything to answer from."""
    try:
        stats = service.stats()
    except QAError as exc:
        return f"The index cannot be read: {exc}", f"⚠ The index cannot be read: {exc}", False
    where = service.settings.chroma_url or str(service.settings.index_dir)
    if not stats.exists:
        return "No index yet.", f"No index at `{where}` yet: build one below.", False
    if not stats.chunks:
        return "The index is empty.", f"The index at `{where}` is empty.", False
    source = stats.source or "web pages and feeds"
    lib = library_dir(service.settings)
    if Path(source) == lib.resolve():
        origin = read_origin(lib)
        source = f"{origin} + uploaded files" if origin else "uploaded files"
    built = stats.built_at.replace("T", " ").replace("+00:00", " UTC") or "unknown"
    plural = {"a": "s" * (stats.articles != 1), "c": "s" * (stats.chunks != 1)}
    line = (f"{stats.articles} article{plural['a']} · {stats.chunks} passage{plural['c']} · "
            f"built {built}")
    table = ("| Articles | Passages | Last built | Built from | Index |\n|---|---|---|---|---|\n"
             f"| **{stats.articles}** | **{stats.chunks}** | {built} | `{source}` | `{where}` |")
    return line, table, True


def outlet_choices(service: QAService) -> list[str]:
    """The outlets of the indexed articles, for the outlet picker ([] with no index): the
    keyword build's names, which the filters are checked against, not a read of every
    article from the store (60,900 at 100x) at each page build and rebuild."""
    try:
        return sorted(service.retriever.keyword.sources)
    except QAError:
        return []


def welcome_html(settings: Settings) -> str:
    root = html.escape(str(settings.articles_root.resolve()))
    index = "" if settings.index_dir == Settings.model_fields["index_dir"].default else \
        f" --index {html.escape(str(settings.index_dir))}"
    return (
        '<div class="qa-welcome"><h2>Welcome: no articles yet</h2>'
        "<p>Answers come only from news articles you add, each sentence citing its passage. "
        "Add some articles first (text, Markdown, HTML, PDF or JSON files):</p><ul>"
        f"<li>in a terminal: <code>qa index path/to/articles{index}</code>, then reload this "
        "page; or</li>"
        f"<li>open the <b>Index</b> tab and rebuild from a folder under <code>{root}</code>, "
        "or upload article files.</li></ul></div>"
    )


# --- index management -----------------------------------------------------------------------


# --- the app ------------------------------------------------------------------------------------


def build_app(service: QAService, settings: Settings, gate: Gate | None = None) -> gr.Blocks:
    """The Blocks app: chat + sources, the index tab, and the ``/ask`` API endpoint; questions
    wait at ``gate``, the line the HTTP API shares (``qa.faces.http_api``)."""
    gate = gate or Gate(ANSWERING)
    line, table, has_articles = index_summary(service)

    with gr.Blocks(title="Article Q&A", analytics_enabled=False) as app:
        with gr.Row(elem_classes="qa-title"):
            header = gr.Markdown(f"# Article Q&A\n{line}")
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                welcome = gr.HTML(welcome_html(settings), visible=not has_articles)
                with gr.Row(equal_height=False, visible=has_articles) as chat_row:
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(
                            label="Answers", height=560, buttons=["copy"],
                            feedback_options=None, elem_id="qa-chat",
                            # Gradio typesets $$…$$ in the page's text, after markdown, where
                            # no escaping reaches: the model's words would lay out the chat
                            latex_delimiters=[],
                            placeholder="Ask about the indexed news articles. Every sentence of "
                                        "an answer cites its passage, like [1].",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                show_label=False, scale=5, autofocus=True, elem_id="qa-question",
                                placeholder=ASK_HINT, max_lines=4)
                            ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                            clear_btn = gr.Button("New chat", scale=1, min_width=80)
                        with gr.Row(elem_id="qa-filters"):
                            # Filters next to the question; with dates the question names
                            # ("last week") the narrower period wins (qa.answering.scoping).
                            ask_since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD",
                                                   max_lines=1, scale=1, elem_id="qa-since")
                            ask_until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD",
                                                   max_lines=1, scale=1, elem_id="qa-until")
                            ask_outlets = gr.Dropdown(
                                choices=outlet_choices(service), multiselect=True, value=[],
                                label="Outlets (empty: all)", scale=3, elem_id="qa-outlets")
                        with gr.Row():
                            # The chat to take away, with every source and its quote; shown
                            # once there is an answer, rewritten after each.
                            save_md = gr.DownloadButton("Save chat as Markdown", size="sm",
                                                        visible=False, elem_id="qa-save-md")
                            save_json = gr.DownloadButton("Save chat as JSON", size="sm",
                                                          visible=False, elem_id="qa-save-json")
                    with gr.Column(scale=2):
                        sources = gr.HTML(render_sources([]), elem_id="qa-sources")
            with gr.Tab("Timeline", id="timeline"):
                with gr.Row():
                    topic = gr.Textbox(label="Follow a story", scale=4, elem_id="qa-topic",
                                       placeholder="a trial, a takeover, a war…", max_lines=1)
                    since_box = gr.Textbox(label="Since (YYYY-MM-DD)", scale=1, max_lines=1)
                    until_box = gr.Textbox(label="Until (YYYY-MM-DD)", scale=1, max_lines=1)
                    outlets_box = gr.Textbox(label="Outlets (comma-separated; empty: all)",
                                             scale=2, max_lines=1)
                with gr.Row():
                    follow_btn = gr.Button("Build timeline", variant="primary", scale=0,
                                           min_width=160, elem_id="qa-follow")
                    stop_btn = gr.Button("Stop", scale=0, min_width=90, elem_id="qa-stop")
                    save_tl_md = gr.DownloadButton("Save timeline as Markdown", size="sm",
                                                   visible=False, elem_id="qa-save-tl-md")
                    save_tl_json = gr.DownloadButton("Save timeline as JSON", size="sm",
                                                     visible=False, elem_id="qa-save-tl-json")
                tl_status = gr.Markdown(elem_id="qa-timeline-status")
                # Articles per day and each event as a mark at its day (its line and outlets
                # on hover); the list below opens each event onto its quotes.
                chart = gr.ScatterPlot(
                    chart_frame(None), x="day", y="articles", color="kind",
                    color_map={DAY_MARK: "#94a3b8", EVENT_MARK: "#dc2626"},
                    colors_in_legend=[DAY_MARK, EVENT_MARK],
                    tooltip=["day", "kind", "event", "outlets", "quote"], height=340,
                    y_lim=[0, None],
                    x_title="day", y_title="articles", label="The story over time",
                    elem_id="qa-timeline-chart")
                tl_list = gr.HTML(events_html(None), elem_id="qa-timeline-list")
            with gr.Tab("Index", id="index"):
                with gr.Row(equal_height=False):
                    stats_md = gr.Markdown(table, elem_id="qa-stats")
                    refresh_btn = gr.Button("Refresh", size="sm", scale=0, min_width=90)
                status = gr.Markdown(elem_id="qa-status")
                with gr.Row(equal_height=False):
                    with gr.Column():
                        gr.Markdown("### Rebuild from a folder\nThe index will mirror the folder:"
                                    " new and changed articles are embedded, missing ones removed."
                                    " Questions are answered from the current index meanwhile.")
                        folder = gr.Textbox(
                            label=f"Folder or .json file under {settings.articles_root.resolve()}",
                            placeholder="articles/")
                        rebuild_btn = gr.Button("Rebuild", variant="primary")
                    with gr.Column():
                        gr.Markdown("### Add article files\nUploaded files (.txt .md .html "
                                    ".pdf .json .jsonl) are added to what the index already "
                                    "holds.")
                        uploads = gr.File(label="Article files", file_count="multiple",
                                          file_types=UPLOAD_TYPES, type="filepath", height=150)
                        add_btn = gr.Button("Add to index", variant="primary")
                    with gr.Column():
                        gr.Markdown(FETCH_ON if settings.ui_fetch else FETCH_OFF)
                        url_box = gr.Textbox(label="Web page or RSS/Atom feed URL",
                                             placeholder="https://…", elem_id="qa-url",
                                             interactive=settings.ui_fetch)
                        fetch_btn = gr.Button("Fetch and add", variant="primary",
                                              interactive=settings.ui_fetch)

        turns = gr.State([])
        pending = gr.State("")

        # --- chat ------------------------------------------------------------------------
        def start(text: str, state: list[dict[str, Any]]) -> tuple[Any, ...]:
            if not text.strip():
                return gr.skip(), gr.skip(), gr.skip(), "", gr.skip()
            state = [*state, {"question": text.strip()}]
            waiting = gr.update(value="", interactive=False, placeholder="Answering…")
            return waiting, state, render_chat(state), text.strip(), gr.update(interactive=False)

        def respond(text: str, state: list[dict[str, Any]], since: str, until: str,
                    outlets: list[str] | None) -> Iterator[tuple[Any, Any, Any]]:
            if not text:
                return
            history = [(t["question"], t["answer"]["text"]) for t in state if t.get("answer")]
            messages = render_chat(state)
            streamed = ""
            try:
                with gate.held():  # in line with the HTTP API's questions
                    for item in service.stream(text, history=history, since=since or "",
                                               until=until or "", outlets=outlets or ()):
                        if isinstance(item, Evidence):
                            if not item.snippets:
                                continue
                            status = html.escape(reading_status(item))
                            yield gr.skip(), [*messages, {"role": "assistant", "content":
                                              f'<span class="qa-status">{status}</span>'}], \
                                render_evidence(item, len(state))
                            continue
                        if isinstance(item, Answer):
                            state[-1] = {**state[-1], "answer": item.to_dict()}
                            break
                        if not item:  # text held back: nothing to show, but a chance to stop
                            yield gr.skip(), gr.skip(), gr.skip()
                            continue
                        streamed += item  # the model's words, shown as text like the answer
                        yield gr.skip(), [*messages, {"role": "assistant",
                                                      "content": as_text(streamed)}], gr.skip()
            except QAError as exc:
                state[-1] = {**state[-1], "error": str(exc)}
            yield state, render_chat(state), render_sources(state)

        start_args = {"fn": start, "inputs": [question, turns],
                      "outputs": [question, turns, chat, pending, ask_btn], "queue": False}
        ready = {"fn": lambda: (gr.update(interactive=True, placeholder=ASK_HINT),
                                gr.update(interactive=True)),
                 "outputs": [question, ask_btn], "queue": False, "api_visibility": "private"}
        respond_args = {"fn": respond,
                        "inputs": [pending, turns, ask_since, ask_until, ask_outlets],
                        "outputs": [turns, chat, sources], "concurrency_id": "llm",
                        "concurrency_limit": ANSWERING,
                        "show_progress": "minimal", "api_visibility": "private"}
        def saved(state: list[dict[str, Any]]) -> tuple[Any, Any]:
            done = [t for t in state if t.get("answer") or t.get("error")]
            if not done:
                return gr.update(visible=False, value=None), gr.update(visible=False, value=None)
            return (gr.update(visible=True, value=str(write_chat(done, "markdown"))),
                    gr.update(visible=True, value=str(write_chat(done, "json"))))

        save_args = {"fn": saved, "inputs": turns, "outputs": [save_md, save_json],
                     "queue": False, "api_visibility": "private"}
        for trigger in (question.submit, ask_btn.click):
            (trigger(**start_args, api_visibility="private").then(**respond_args).then(**ready)
             .then(**save_args))
        for trigger in (clear_btn.click, chat.clear):
            trigger(lambda: ([], [], render_sources([])), outputs=[turns, chat, sources],
                    queue=False, api_visibility="private").then(**save_args)

        # --- timeline ----------------------------------------------------------------------
        story = gr.State(None)
        hidden = gr.update(visible=False, value=None)

        def follow(text: str, since: str, until: str, outlets: str) -> Iterator[tuple[Any, ...]]:
            names = [o.strip() for o in outlets.split(",") if o.strip()]
            try:
                for snapshot in service.timeline(text, since=since, until=until,
                                                 outlets=names):
                    data = snapshot.to_dict()
                    if not snapshot.complete:
                        yield (data, progress_line(data), gr.skip(), events_html(data),
                               hidden, hidden)
                        continue
                    # The chart is drawn once, from the whole story, in the last update: Gradio
                    # may drop a value a quicker next one follows, and Vega redraws each
                    # asynchronously, so a run of them could leave an earlier one shown.
                    saves = [gr.update(visible=True, value=str(write_timeline(data, kind)))
                             if data["events"] else hidden for kind in ("markdown", "json")]
                    yield (data, progress_line(data), chart_frame(data), events_html(data),
                           *saves)
            except QAError as exc:
                yield None, f"⚠ {as_text(str(exc))}", chart_frame(None), events_html(None), \
                    hidden, hidden

        follow_args = {"fn": follow, "inputs": [topic, since_box, until_box, outlets_box],
                       "outputs": [story, tl_status, chart, tl_list, save_tl_md, save_tl_json],
                       "concurrency_id": "timeline", "concurrency_limit": 1,
                       "show_progress": "minimal", "api_visibility": "private"}
        following = [follow_btn.click(**follow_args), topic.submit(**follow_args)]
        stop_btn.click(lambda data: progress_line({**data, "stopped": True}) if data else "",
                       inputs=story, outputs=tl_status, cancels=following, queue=False,
                       api_visibility="private")

        # --- index -----------------------------------------------------------------------
        def refreshed(message: str = "") -> tuple[Any, ...]:
            text, details, ok = index_summary(service)
            return (message, details, f"# Article Q&A\n{text}", gr.update(visible=not ok),
                    gr.update(visible=ok), gr.update(choices=outlet_choices(service)))

        index_outputs = [status, stats_md, header, welcome, chat_row, ask_outlets]

        def rebuild(text: str, progress: gr.Progress = gr.Progress(track_tqdm=True)  # noqa: B008
                    ) -> tuple[Any, ...]:
            try:
                path = resolve_under_root(text, settings.articles_root)
                progress(0, desc=f"Reading {path.name}")
                report = service.ingest(path)
            except QAError as exc:
                return refreshed(f"⚠ {exc}")
            return refreshed(f"Rebuilt from `{path}`: {report.summary()}")

        def add_files(files: list[str] | None,
                      progress: gr.Progress = gr.Progress(track_tqdm=True)  # noqa: B008
                      ) -> tuple[Any, ...]:
            if not files:
                return refreshed("⚠ Choose one or more article files first.")
            count = f"{len(files)} file{'s' * (len(files) != 1)}"
            try:
                lib = stage_uploads(files, settings=settings, source=service.stats().source)
                progress(0, desc=f"Adding {count}")
                report = service.ingest(lib)
            except (QAError, OSError) as exc:
                return refreshed(f"⚠ {exc}")
            return refreshed(f"Added {count}: {report.summary()}")

        def add_url(text: str, progress: gr.Progress = gr.Progress(track_tqdm=True)  # noqa: B008
                    ) -> tuple[Any, ...]:
            if not settings.ui_fetch:  # the server would make the request: off unless asked for
                return refreshed("⚠ Fetching URLs from the chat window is off; the server's "
                                 "owner can turn it on with QA_UI_FETCH=1.")
            try:
                path, urls = split_sources([text.strip()] if text.strip() else [])
                if path is not None or not urls:
                    raise ConfigError("enter a web page or feed URL starting with http(s)://")
                progress(0, desc=f"Fetching {urls[0]}")
                report = service.ingest(urls=urls)
            except QAError as exc:
                return refreshed(f"⚠ {exc}")
            lines = "".join(f"\n- {'skipped' if p.skipped else 'note'}: {p}"
                            for p in report.problems[:20])
            return refreshed(f"Fetched `{urls[0]}`: {report.summary()}{lines}")

        building = {"outputs": index_outputs, "concurrency_id": "index", "show_progress_on": status}
        rebuild_btn.click(rebuild, inputs=folder, api_name="rebuild", **building)
        folder.submit(rebuild, inputs=folder, api_visibility="private", **building)
        add_btn.click(add_files, inputs=uploads, api_name="add_files", **building)
        fetch_btn.click(add_url, inputs=url_box, api_name="add_url", **building)
        url_box.submit(add_url, inputs=url_box, api_visibility="private", **building)
        refresh_btn.click(refreshed, outputs=index_outputs, api_name="stats", queue=False)
        app.load(refreshed, outputs=index_outputs, queue=False, api_visibility="private")

        # --- API -------------------------------------------------------------------------
        def ask(question: str, since: str = "", until: str = "",
                outlets: list[str] | None = None) -> Iterator[dict[str, Any]]:
            """Answer a question from the indexed articles (published ``since``..``until``,
            YYYY-MM-DD, by ``outlets``; empty: all). Yields the evidence first
            (``{"event": "evidence", "snippets": [...]}``), the text so far as it is written
            (``{"event": "text", "text": ...}``), then the checked answer (``"event":
            "answer"``): text with [n] markers, citations quoting the exact sentences."""
            try:
                text = ""
                with gate.held():
                    for item in service.stream(question, since=since, until=until,
                                               outlets=outlets or ()):
                        if isinstance(item, Evidence):
                            yield api_dict(item.to_dict())
                        elif isinstance(item, Answer):
                            yield api_answer(item)
                        elif item:
                            text += item
                            yield {"event": "text", "text": text}
            except QAError as exc:
                raise gr.Error(str(exc)) from None

        gr.api(ask, api_name="ask", concurrency_id="llm", concurrency_limit=ANSWERING)
    return app


def api_dict(data: Any) -> Any:
    """``data`` with every ``path`` key renamed ``article_path``: gradio_client downloads each
    dict holding a "path" string as a file, so none may."""
    if isinstance(data, dict):
        return {("article_path" if k == "path" else k): api_dict(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [api_dict(v) for v in data]
    return data


def api_answer(answer: Answer) -> dict[str, Any]:
    """``Answer.to_dict()`` for the ``/ask`` endpoint, marked ``"event": "answer"``."""
    return {"event": "answer", **api_dict(answer.to_dict())}
