"""Text rules every stage shares: sentences, words, names.

Enters: plain strings. Leaves: sentence spans (``sentences``), stemmed content words and their
weights (``words``), full forms of names given in part (``names``). Pure functions, no I/O; the
chunker, evidence selection and the citation checker cut and compare text by the same rules.
"""
