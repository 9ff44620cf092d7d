"""One citation per story: a story's copies (index/duplicates.py) share one slot of the top k.

Of a story's articles among a search's candidates, only the earliest published keeps its
passages (the original, not the re-publication, is what a reader should be sent to); the other
copies' passages leave the candidates before the top k are cut, so their slots go to other
stories, and the cited hit names the other copies' outlets ("also in"). The earliest copy's
passages keep their own scores: copies are near-identical text, so they score alike, and a
score borrowed from another article's passage would rank a passage on text it does not hold.
"""

from __future__ import annotations

from newsdesk.index.duplicates import StoryGroups
from newsdesk.index.generation import Generation
from newsdesk.retrieval.filters import outlet_of


def one_per_story(fused: dict[int, float], generation: Generation) -> dict[int, float]:
    """The candidates (passage row -> score) without those of articles whose story has an
    earlier copy among the candidates."""
    stories, passages = generation.stories, generation.passages
    if not len(stories):
        return fused
    cited: dict[str, str] = {}  # story -> the earliest of its articles among the candidates
    for row in fused:
        article_id = passages.article_id(row)
        story = stories.story_of(article_id)
        if story is not None:
            held = cited.get(story)
            cited[story] = article_id if held is None else _earlier(stories, story, held, article_id)
    if not cited:
        return fused
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


def _earlier(stories: StoryGroups, story: str, first: str, second: str) -> str:
    order = (story, *stories.copies(story))
    return first if order.index(first) <= order.index(second) else second
