"""Retrieval: a question in, ranked passages out.

Enters: the question and the store. Leaves: ``ScoredChunk`` passages, best first. ``plan`` reads
the question's hops (the outlets, days and claims it names) by rules; ``retrieve`` runs hybrid
retrieval (BM25 and vectors, fused) per hop over the store. No model reads text here.
"""
