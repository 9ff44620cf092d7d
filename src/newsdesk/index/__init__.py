"""Index: index generations built from passages — the build, the on-disk store, the vector and BM25
indexes, and the Ray build (stage 4)."""
