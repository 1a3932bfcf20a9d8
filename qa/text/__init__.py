"""Text rules every stage shares: sentences, words, names, languages.

Enters: plain strings. Leaves: sentence spans (``sentences``), stemmed content words and their
weights (``words``), full forms of names given in part (``names``), the language a question is
written in and the names and numbers of a sentence in another language (``languages``). Pure
functions, no I/O; the chunker, evidence selection and the citation checker cut and compare text
by the same rules.
"""
