"""LLM: chat messages in, streamed text out.

Enters: messages and sampling settings. Leaves: tokens from any OpenAI-compatible endpoint
(``client``) or from the packaged Qwen2.5-Coder-1.5B GGUF served by llama.cpp on loopback, started
and stopped here (``local``). Knows nothing of articles, evidence or citations.
"""
