"""Retrieval (stage 5): hybrid dense + BM25 search over one index generation (hybrid.py), its
records (hits.py), the recency prior (recency.py) and the reranker seam (rerank.py)."""
