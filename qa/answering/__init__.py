"""Answering: passages in, a cited and checked ``Answer`` out.

Enters: the question, retrieved passages and an LLM. Leaves: ``qa.models.Answer`` with numbered
citations. ``evidence`` picks the snippets the model sees, ``prompts`` fills the prompt files,
``answer`` drives the model, ``answer_rules`` says what makes a reply an answer, ``citations``
checks each sentence against what it cites, ``asks`` says what kind of answer the question
needs, ``shared_name`` finds the name several articles agree on, ``refusal`` recognises and
words refusals, ``hop_coverage`` measures how much of each named article was read, ``reading``
is the optional model-read support check, ``languages`` answers a question in another language
than the articles' (English question for retrieval, checked translation of the answer).
"""
