"""Retrieval: hybrid dense + BM25 search over one generation, with a recency prior (stage 5)."""
