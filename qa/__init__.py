"""article-qa: answers from a folder of news articles, citing the exact passages.

Public API::

    from qa import answer, build_index
    build_index("articles/")
    result = answer("Who said Ukraine will join NATO?")
    print(result.text, [c.title for c in result.citations])
"""

import os as _os

# Offline everywhere qa is imported: nothing may phone home or download at run time.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}.items():
    _os.environ.setdefault(_name, _value)

from qa.config import Settings  # noqa: E402
from qa.errors import (  # noqa: E402
    CitationError,
    ConfigError,
    IngestError,
    LLMError,
    ModelError,
    NoIndexError,
    QAError,
    StoreError,
)
from qa.faces.api import answer, build_index, stream_answer, timeline  # noqa: E402
from qa.faces.llamaindex import ArticleRetriever  # noqa: E402
from qa.models import (  # noqa: E402
    Answer,
    Article,
    Chunk,
    Citation,
    IndexReport,
    ScoredChunk,
    Timeline,
    TimelineEvent,
)
from qa.service import QAService  # noqa: E402

__all__ = [
    "Answer",
    "Article",
    "ArticleRetriever",
    "Chunk",
    "Citation",
    "CitationError",
    "ConfigError",
    "IndexReport",
    "IngestError",
    "LLMError",
    "ModelError",
    "NoIndexError",
    "QAError",
    "QAService",
    "ScoredChunk",
    "Settings",
    "StoreError",
    "Timeline",
    "TimelineEvent",
    "answer",
    "build_index",
    "stream_answer",
    "timeline",
]
