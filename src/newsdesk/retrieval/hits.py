"""The records a search returns: its hits, and how far its best candidates stand out."""

from __future__ import annotations

from dataclasses import dataclass

from newsdesk.passages import Passage

MARGIN_RANK = 10


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # fused score; only its order matters
    dense: float  # cosine similarity of question and passage
    lexical: float  # BM25 score
    also_in: tuple[str, ...] = ()  # outlets of the same story's other copies (stories.py)


@dataclass(frozen=True)
class Margins:
    """How far the best candidate stands above the MARGIN_RANK-th: a question the articles cover
    has passages that stand out; one they don't matches many passages about equally (coverage.py).
    """

    dense: float  # cosine of the best dense candidate minus that of the MARGIN_RANK-th
    lexical: float  # the same for BM25, over the query words' total idf (0..~1)
