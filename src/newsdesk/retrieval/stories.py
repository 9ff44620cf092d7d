"""One citation per story: a story's copies (index/duplicates.py) share one slot of the top k.

Of a story's articles among a search's candidates, only one keeps its passages: the one whose
best passage scores highest, and of copies that score alike (identical wire copy) the earliest
published, the original a reader should be sent to. The other copies' passages leave the
candidates before the top k are cut, so their slots go to other stories, and the cited hit names
the other copies' outlets ("also in").

Not simply the earliest: a "copy" can be an update that keeps the first version's background
but reports newer news (the DART mission previewed, then its crash), and the question's date
(the recency prior) already says which version it asks about. On RealTimeQA dev, citing the
earliest copy always lost two questions' gold articles that way (docs/duplicates.md).
"""

from __future__ import annotations

from newsdesk.index.duplicates import StoryGroups
from newsdesk.index.generation import Generation
from newsdesk.retrieval.filters import outlet_of


def one_per_story(fused: dict[int, float], generation: Generation) -> dict[int, float]:
    """The candidates (passage row -> score) with, of each story, the passages of the copy it is
    cited from only."""
    stories, passages = generation.stories, generation.passages
    if not len(stories):
        return fused
    best: dict[str, dict[str, float]] = {}  # story -> its articles among the candidates -> best score
    for row, score in fused.items():
        article_id = passages.article_id(row)
        story = stories.story_of(article_id)
        if story is not None:
            scores = best.setdefault(story, {})
            scores[article_id] = max(score, scores.get(article_id, score))
    if not best:
        return fused
    cited = {story: _cited(stories, story, scores) for story, scores in best.items()}
    kept = {}
    for row, score in fused.items():
        article_id = passages.article_id(row)
        story = stories.story_of(article_id)
        if story is None or cited[story] == article_id:
            kept[row] = score
    return kept


def also_in(article_id: str, generation: Generation) -> tuple[str, ...]:
    """The outlets of the article's other copies, earliest first, without its own outlet."""
    articles = generation.articles  # cards only: no article's text is read
    own = outlet_of(articles.card(article_id).url)
    outlets = (outlet_of(articles.card(copy).url) for copy in generation.stories.copies(article_id)
               if copy in articles)
    return tuple(dict.fromkeys(o for o in outlets if o is not None and o != own))


def _cited(stories: StoryGroups, story: str, scores: dict[str, float]) -> str:
    """The best-scoring copy; of copies that tie, the earliest."""
    order = (story, *stories.copies(story))
    return max(scores, key=lambda article_id: (scores[article_id], -order.index(article_id)))
