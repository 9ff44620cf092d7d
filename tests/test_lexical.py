"""BM25 over segments (index/lexical.py) scores exactly as bm25s's own index over the same texts.

lexical.py computes Lucene's BM25 itself, from term counts kept per segment and statistics
summed over all segments, so an index can grow by adding segments: if a bm25s release changes
its formula, or a split or a merge changes what a passage scores, these tests say so.
"""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
import Stemmer

from newsdesk.index.lexical import Lexical, SegmentTerms

TEXTS = [
    "The Treaty of Le Touquet moved British border checks to Calais, in France.",
    "Cats sleep for most of the day; a cat that sleeps dreams, researchers say.",
    "France and Britain signed the treaty in 2003, and it took effect in 2004.",
    "A dog chased the neighbour's cat across the border of the two gardens.",
    "The council's library page was restored within two hours of the attack.",
    "Border checks at Calais slowed lorries for hours; a treaty review is due in 2025.",
    "The library lends dogs' books and cats' books alike.",
]
QUERIES = ["treaty border", "cats sleeping", "France treaty 2003", "dog", "library hours restored",
           "border border border checks"]


def bm25s_scores(texts: list[str], query: str) -> np.ndarray:
    """Scores of bm25s's own index over the texts, tokenised as newsdesk tokenises them."""
    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25()  # defaults: method "lucene", k1 1.5, b 0.75, as lexical.py assumes
    reference.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    words = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False,
                           show_progress=False)[0]
    words = [w for w in words if w in reference.vocab_dict]
    if not words:
        return np.zeros(len(texts), dtype=np.float32)
    return np.asarray(reference.get_scores(words), dtype=np.float32)


def assert_scores_equal(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("query", QUERIES)
def test_one_segment_scores_as_bm25s_own_index(query):
    expected = bm25s_scores(TEXTS, query)
    assert expected.any(), "each query matches something, so equal scores mean something"
    assert_scores_equal(Lexical([SegmentTerms.of_texts(TEXTS)]).scores(query), expected)


@pytest.mark.parametrize("query", QUERIES)
def test_texts_split_over_segments_score_as_one_segment_of_them_all(query):
    # Statistics are collection-wide: "treaty" is rare in the whole but common in one segment.
    split = Lexical([SegmentTerms.of_texts(TEXTS[:2]), SegmentTerms.of_texts(TEXTS[2:3]),
                     SegmentTerms.of_texts(TEXTS[3:])])
    assert_scores_equal(split.scores(query), bm25s_scores(TEXTS, query))


def test_statistics_are_summed_over_segments():
    whole = Lexical([SegmentTerms.of_texts(TEXTS)])
    split = Lexical([SegmentTerms.of_texts(TEXTS[:3]), SegmentTerms.of_texts(TEXTS[3:])])
    assert split.documents == whole.documents == len(TEXTS)
    assert split.average_length == whole.average_length
    for term in ("treati", "border", "cat", "zebra"):
        assert split.document_frequency(term) == whole.document_frequency(term)
        assert split.idf(term) == pytest.approx(whole.idf(term))
    assert split.document_frequency("border") == 3


@pytest.mark.parametrize("query", QUERIES)
def test_a_merge_scores_as_a_segment_of_the_kept_texts(query):
    first, second = SegmentTerms.of_texts(TEXTS[:4]), SegmentTerms.of_texts(TEXTS[4:])
    keep_first, keep_second = np.array([2, 0]), np.array([2, 0])  # reordered, some dropped
    kept = [TEXTS[2], TEXTS[0], TEXTS[6], TEXTS[4]]

    merged = SegmentTerms.merged([(first, keep_first), (second, keep_second)])
    fresh = SegmentTerms.of_texts(kept)

    assert merged.columns.keys() == fresh.columns.keys(), "terms only dropped passages used are gone"
    assert_scores_equal(Lexical([merged]).scores(query), Lexical([fresh]).scores(query))
    assert_scores_equal(Lexical([merged]).scores(query), bm25s_scores(kept, query))


def test_deleted_passages_score_zero_but_still_count_in_the_statistics():
    segments = [SegmentTerms.of_texts(TEXTS[:3]), SegmentTerms.of_texts(TEXTS[3:])]
    live = np.ones(len(TEXTS), dtype=bool)
    live[[0, 5]] = False  # the two passages with both "border" and "treaty"

    everything = Lexical(segments).scores("treaty border")
    alive = Lexical(segments, live).scores("treaty border")

    assert everything[[0, 5]].all() and not alive[[0, 5]].any()
    np.testing.assert_array_equal(alive[live], everything[live])
    assert Lexical(segments, live).document_frequency("border") == 3


def test_a_live_mask_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        Lexical([SegmentTerms.of_texts(TEXTS)], np.ones(3, dtype=bool))


def test_a_segment_read_back_is_memory_mapped_and_scores_the_same(tmp_path):
    written = SegmentTerms.of_texts(TEXTS)
    written.write(tmp_path / "segment")
    read = SegmentTerms.read(tmp_path / "segment")

    for values in (read.indptr, read.rows, read.counts, read.lengths):
        assert isinstance(values.base, np.memmap) and not values.flags.writeable  # the file's pages
    assert read.counts.dtype == np.uint8 and read.rows.dtype == np.uint8, "narrowest types kept"
    assert read.columns == written.columns
    for query in QUERIES:
        assert_scores_equal(Lexical([read]).scores(query), bm25s_scores(TEXTS, query))


def test_a_query_of_unknown_words_scores_zero_everywhere():
    assert not Lexical([SegmentTerms.of_texts(TEXTS)]).scores("zebra quantum").any()


def test_no_segments_score_nothing():
    lexical = Lexical([])
    assert lexical.documents == 0 and len(lexical.scores("treaty")) == 0
