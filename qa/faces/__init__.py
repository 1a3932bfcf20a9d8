"""Faces: the thin ways in, all driving ``qa.service.QAService``.

``cli`` (the ``qa`` command), ``ui`` and ``render`` (the Gradio chat window), ``api``
(``qa.answer``, ``qa.stream_answer``, ``qa.build_index``), ``llamaindex`` (``ArticleRetriever``
for llama-index pipelines), ``eval`` and ``metrics`` (the benchmark harnesses and their scores).
Nothing below imports a face.
"""
