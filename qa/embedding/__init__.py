"""Embedding: texts in, unit vectors out.

Enters: the packaged all-MiniLM-L6-v2 weights (or a model folder) and texts. Leaves: a llama-index
``BaseEmbedding`` on onnxruntime (``onnx_embed``, from the ONNX export ``onnx_export`` makes once)
or on torch, and ``EmbedderInfo``, the record of which model, backend and precision wrote a
vector. The types every backend shares (``ModelSpec``, ``EmbedderInfo``) live in ``spec``.
"""
