"""The vector store's codecs (fp32, fp16, sq8) and SegmentedVectors, several segments as one store."""

from __future__ import annotations

import numpy as np
import pytest

from newsdesk.index import vectors as vectors_module
from newsdesk.index.errors import IndexError_
from newsdesk.index.vectors import CODECS, SQ8_MIN_VECTORS, SegmentedVectors, VectorStore

SQ8_ROWS = SQ8_MIN_VECTORS + 2_000  # enough for "sq8" to quantise rather than keep float16


def unit_vectors(count: int, dimension: int = 64, seed: int = 0) -> np.ndarray:
    """Uniform on the sphere: neighbours barely stand out, the hardest case for a lossy codec."""
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(vectors @ query), kind="stable")[:k]


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_survives_a_round_trip_read_whole_or_mapped(tmp_path, index_type, codec):
    vectors = unit_vectors(SQ8_ROWS, 32)
    store = VectorStore.build(vectors, index_type, codec)
    assert (store.kind, store.codec, len(store), store.dimension) == (index_type, codec, SQ8_ROWS, 32)
    store.write(tmp_path / "index.faiss")
    queries = vectors[:20] + 0.05 * vectors[20:40]
    for again in (VectorStore.read(tmp_path / "index.faiss"),
                  VectorStore.read(tmp_path / "index.faiss", mmap=True)):
        assert (again.kind, again.codec, len(again), again.breadth) == (index_type, codec, SQ8_ROWS,
                                                                        store.breadth)
        for query in queries:
            assert list(again.search(query, 10)[0]) == list(store.search(query, 10)[0])
        assert np.array_equal(again.reconstruct(np.array([3, 999])), store.reconstruct(np.array([3, 999])))


def test_an_ivf_store_keeps_its_codec_through_a_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(vectors_module, "IVF_MIN_VECTORS", SQ8_ROWS)  # IVF at a test's size
    vectors = unit_vectors(SQ8_ROWS, 32)
    VectorStore.build(vectors, "ivf", "sq8").write(tmp_path / "ivf.faiss")
    store = VectorStore.read(tmp_path / "ivf.faiss", mmap=True)
    assert (store.kind, store.codec, len(store)) == ("ivf", "sq8", SQ8_ROWS)
    rows = np.arange(0, SQ8_ROWS, 600)
    assert np.mean([store.search(vectors[row], 1)[0][0] == row for row in rows]) >= 0.95
    assert np.abs(store.reconstruct(rows) - vectors[rows]).max() < 0.02  # the direct map is kept
    few = VectorStore.like(VectorStore.read(tmp_path / "ivf.faiss"), vectors[:100])  # no k-means
    assert (few.kind, few.codec, len(few)) == ("ivf", "sq8", 100)
    assert np.abs(few.reconstruct(np.arange(100)) - vectors[:100]).max() < 0.02


@pytest.mark.parametrize("codec, recall", [("fp16", 0.99), ("sq8", 0.95)])
def test_a_compressed_store_finds_nearly_the_exact_top_ten(codec, recall):
    # Recall thresholds: on uniform unit vectors (64 dims) a query's 10th and 11th best inner
    # products differ by ~0.003 on average; float16 moves a product by ~1e-4, so it almost never
    # swaps a pair (measured 1.000); SQ8 by up to ~3e-3, so it swaps some boundary pairs (measured
    # 0.981). A codec that ranked by anything but the inner product would score near 10/12,000.
    vectors = unit_vectors(SQ8_ROWS)
    store = VectorStore.build(vectors, "flat", codec)
    assert store.codec == codec
    queries = unit_vectors(100, seed=1)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = [len(set(store.search(q, 10)[0]) & set(truth)) / 10 for q, truth in zip(queries, exact)]
    assert np.mean(found) >= recall


def test_sq8_scores_stay_within_one_quantisation_step_a_dimension():
    vectors = unit_vectors(SQ8_ROWS)
    store = VectorStore.build(vectors, "flat", "sq8")
    query = unit_vectors(1, seed=2)[0]
    rows, scores = store.search(query, 50)
    steps = (vectors.max(axis=0) - vectors.min(axis=0)) / 255  # SQ8's ranges: the vectors' own
    assert np.all(np.abs(scores - vectors[rows] @ query) <= np.abs(query) @ steps)
    assert np.all(np.abs(store.reconstruct(rows) - vectors[rows]) <= steps + 1e-6)


def test_few_vectors_asked_for_as_sq8_are_kept_as_float16_untrained():
    vectors = unit_vectors(50)
    store = VectorStore.build(vectors, "flat", "sq8")
    assert store.codec == "fp16"
    assert np.abs(store.reconstruct(np.arange(50)) - vectors).max() < 1e-3
    assert VectorStore.build(vectors[:0], "flat", "sq8").search(vectors[0], 5)[0].size == 0


def test_a_store_built_like_a_trained_one_reuses_its_training():
    trained = VectorStore.build(unit_vectors(SQ8_ROWS), "flat", "sq8")
    new = unit_vectors(50, seed=3)
    store = VectorStore.like(trained, new)
    assert (store.codec, len(store), len(trained)) == ("sq8", 50, SQ8_ROWS)  # build() would keep fp16
    assert [store.search(v, 1)[0][0] for v in new] == list(range(50))


def test_a_mapped_store_cannot_lend_its_training(tmp_path):
    VectorStore.build(unit_vectors(SQ8_ROWS), "flat", "sq8").write(tmp_path / "index.faiss")
    with pytest.raises(IndexError_, match="read it without mmap"):
        VectorStore.like(VectorStore.read(tmp_path / "index.faiss", mmap=True), unit_vectors(5))
    assert VectorStore.like(VectorStore.read(tmp_path / "index.faiss"), unit_vectors(5)).codec == "sq8"


def test_an_unknown_codec_is_refused_with_the_codecs_there_are():
    with pytest.raises(IndexError_, match="use 'fp32', 'fp16' or 'sq8'"):
        VectorStore.build(unit_vectors(10), "flat", "pq")


# ---------------------------------------------------------------- several segments as one


def segments(sizes: list[int], index_type: str = "flat", codec: str = "fp32"):
    """Stores of consecutive slices of one set of vectors, and that whole set."""
    everything = unit_vectors(sum(sizes), 16, seed=5)
    starts = np.cumsum([0] + sizes)
    stores = [VectorStore.build(everything[a:b], index_type, codec) for a, b in zip(starts, starts[1:])]
    return stores, everything


def test_segments_search_like_one_store_of_all_their_vectors():
    stores, everything = segments([300, 0, 500, 40])
    joined, whole = SegmentedVectors(stores), VectorStore.build(everything)
    assert (len(joined), joined.dimension, joined.kind, joined.breadth) == (840, 16, "flat", None)
    rng = np.random.default_rng(0)
    for query in unit_vectors(20, 16, seed=6):
        for k in (1, 10):
            rows, scores = joined.search(query, k)
            expected_rows, expected_scores = whole.search(query, k)
            assert list(rows) == list(expected_rows)
            assert np.allclose(scores, expected_scores, atol=1e-6)
        # All rows: the same set, in the same order but where two products differ in the last
        # bits only (a segment's sums and the whole store's may round apart).
        rows, scores = joined.search(query, 1000)
        expected_rows, expected_scores = whole.search(query, 1000)
        assert sorted(rows) == list(range(840)) and np.allclose(scores, expected_scores, atol=1e-6)
        allowed = rng.random(840) < 0.1
        among = joined.search_among(query, 10, allowed)[0]
        assert list(among) == list(whole.search_among(query, 10, allowed)[0])
    rows = rng.integers(0, 840, 30)
    assert np.array_equal(joined.reconstruct(rows), everything[rows])


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_dead_rows_are_never_found(index_type):
    stores, everything = segments([400, 600], index_type)
    rng = np.random.default_rng(1)
    live = rng.random(1000) < 0.7
    joined = SegmentedVectors(stores, live)
    for row in np.flatnonzero(~live)[:20]:  # a dead row's own vector: it would come first
        rows, scores = joined.search(everything[row], 10)
        assert len(rows) == 10 and live[rows].all()
        assert list(rows) == [r for r in exact_top(everything, everything[row], 1000) if live[r]][:10]
        allowed = rng.random(1000) < 0.5
        allowed[row] = True
        rows, _ = joined.search_among(everything[row], 10, allowed)
        assert len(rows) == 10 and (live & allowed)[rows].all()
    assert sorted(joined.search(everything[0], 5000)[0]) == list(np.flatnonzero(live))  # every live row


def test_segments_with_nothing_searchable_find_nothing():
    query = unit_vectors(1, 16)[0]
    empty = SegmentedVectors([])
    assert (len(empty), empty.kind, empty.breadth) == (0, "flat", None)
    assert empty.search(query, 10)[0].size == 0
    assert empty.reconstruct(np.zeros(0, dtype=np.int64)).shape == (0, empty.dimension)
    stores, _ = segments([0, 30])
    all_dead = SegmentedVectors(stores, np.zeros(30, dtype=bool))
    assert all_dead.search(query, 10)[0].size == 0
    assert all_dead.search_among(query, 10, np.ones(30, dtype=bool))[0].size == 0
    assert SegmentedVectors(stores).search_among(query, 10, np.zeros(30, dtype=bool))[0].size == 0


def test_one_whole_segment_answers_as_its_store_does():
    stores, everything = segments([500], "hnsw")
    for joined in (SegmentedVectors(stores), SegmentedVectors(stores, np.ones(500, dtype=bool))):
        for query in everything[:10]:
            rows, scores = joined.search(query, 10)
            expected_rows, expected_scores = stores[0].search(query, 10)
            assert list(rows) == list(expected_rows) and np.array_equal(scores, expected_scores)


def test_segments_breadth_is_set_on_every_segment_and_read_from_the_largest():
    stores, _ = segments([100, 300, 200], "hnsw")
    stores.append(VectorStore.build(unit_vectors(50, 16), "flat"))
    joined = SegmentedVectors(stores)
    assert joined.kind == "hnsw"
    joined.breadth = 77
    assert joined.breadth == 77 and [s.breadth for s in stores] == [77, 77, 77, None]
    stores[1].breadth = 12
    assert joined.breadth == 12  # the 300-row segment's


def test_segments_refuse_flags_that_do_not_match_their_rows():
    stores, _ = segments([10, 20])
    with pytest.raises(ValueError, match="29 live flags for 30 rows"):
        SegmentedVectors(stores, np.ones(29, dtype=bool))
    with pytest.raises(ValueError, match="31 allowed flags for 30 rows"):
        SegmentedVectors(stores).search_among(unit_vectors(1, 16)[0], 5, np.ones(31, dtype=bool))
