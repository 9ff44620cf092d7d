"""The BM25 index built from term counts (index/lexical.py) scores exactly as bm25s's own index.

lexical.py computes bm25s's score matrix itself (from kept term counts, so a rebuild tokenises
only new passages) and hands it to bm25s through an overridden build hook: if a bm25s release
changes its formula or that hook, these tests say so.
"""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
import Stemmer

from newsdesk.index.lexical import LexicalIndex, TermCounts

TEXTS = [
    "The Treaty of Le Touquet moved British border checks to Calais, in France.",
    "Cats sleep for most of the day; a cat that sleeps dreams, researchers say.",
    "France and Britain signed the treaty in 2003, and it took effect in 2004.",
    "A dog chased the neighbour's cat across the border of the two gardens.",
    "The council's library page was restored within two hours of the attack.",
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


@pytest.mark.parametrize("query", QUERIES)
def test_index_from_term_counts_scores_as_bm25s_own_index(query):
    ours = LexicalIndex.build(TEXTS).scores(query)
    expected = bm25s_scores(TEXTS, query)
    assert expected.any(), "each query matches something, so equal scores mean something"
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("query", QUERIES)
def test_counts_carried_into_an_incremental_build_score_as_a_fresh_bm25s_index(query):
    # Keep passages 2, 0 and 4 of the first build, and add two new texts between them.
    first = TermCounts.of_texts(TEXTS[:3] + TEXTS[4:])
    fresh = ["A second cat slept through the border checks at Calais.", "Dogs do not read treaties."]
    rows = np.array([1, -1, 0, 3, -1])
    texts_now = [TEXTS[1], fresh[0], TEXTS[0], TEXTS[4], fresh[1]]

    carried = LexicalIndex.from_counts(first.with_rows(fresh, rows))

    np.testing.assert_allclose(carried.scores(query), bm25s_scores(texts_now, query), rtol=1e-6, atol=1e-7)
    assert carried.documents == len(texts_now)


def test_a_query_of_unknown_words_scores_zero_everywhere():
    assert not LexicalIndex.build(TEXTS).scores("zebra quantum").any()
