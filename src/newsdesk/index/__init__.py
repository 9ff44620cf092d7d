"""Index (stage 4): generations built from passages — build.py (planning and running a build),
store.py (the on-disk format, locking, loading), vectors.py (the vector store), lexical.py
(BM25), ray_build.py (the Ray build), errors.py.

Nothing is re-exported here: import from the module that holds a name, so importing one part
(the errors, say) does not load numpy, FAISS or bm25s.
"""
