"""Sources: files and web addresses in, ``Article`` records out.

Enters: a folder or file of articles (.txt, .md, .html, .json records, .pdf), page and feed URLs,
folder events. Leaves: ``qa.models.Article`` (title, source, date, url, body) with near-duplicates
folded (``articles``), ``IngestProblem`` for what could not be read, and which indexed files were
deleted since (``deleted``). Parsing formats, encodings, feeds and PDFs, fetching and watching are
done by libraries (trafilatura, charset-normalizer, pdfminer.six, feedparser, httpx, watchfiles);
this stage maps their output onto articles. It knows nothing of chunks or stores.
"""
