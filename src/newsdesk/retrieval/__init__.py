"""Retrieval (stage 5): hybrid dense + BM25 search over one index generation (hybrid.py), its
records (hits.py), the recency prior (recency.py), the filters by date and outlet (filters.py)
and the reranker seam (rerank.py)."""
