"""Near-duplicate stories: planted copies are grouped and unrelated articles are not
(index/duplicates.py), and a search cites each story once, from its earliest copy, naming the
other copies' outlets (retrieval/stories.py)."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from newsdesk.articles import Article
from newsdesk.index.build import build_index
from newsdesk.index.duplicates import NUM_PERM, StoryGroups, StorySketches
from newsdesk.service import Newsdesk
from newsdesk.settings import Settings

_SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "ve", "zu", "bo", "de", "fi", "gu"]
VOCABULARY = [a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES]


def story_words(seed: int, count: int = 300) -> list[str]:
    """A made-up story: count words drawn at random, different for every seed."""
    chooser = random.Random(seed)
    return [chooser.choice(VOCABULARY) for _ in range(count)]


def lightly_edited(words: list[str], seed: int) -> list[str]:
    """The words with ten of them changed and a sentence added: a wire story as another outlet
    ran it."""
    chooser = random.Random(seed)
    edited = list(words)
    for position in chooser.sample(range(len(words)), 10):
        edited[position] = chooser.choice(VOCABULARY)
    return edited + ["reporting", "by", "our", "correspondent", "in", "the", "capital"]


def article(article_id: str, words: list[str], published: str | None = None, url: str | None = None) -> Article:
    return Article(id=article_id, title=article_id, text=" ".join(words), url=url, published=published)


def groups_of(articles: list[Article], published: dict[str, date] | None = None) -> StoryGroups:
    return StoryGroups.of([StorySketches.of_articles(articles)], None, published or {})


# ---------------------------------------------------------------- finding the groups


def test_a_lightly_edited_copy_is_the_same_story_and_unrelated_articles_are_not():
    original = story_words(1)
    quoted = story_words(2)[:260] + original[100:140]  # another story quoting 40 of its words
    articles = [article("original", original), article("copy", lightly_edited(original, 7)),
                article("quoting", quoted), article("other", story_words(3))]
    groups = groups_of(articles)
    assert groups.groups() == [("copy", "original")]  # no dates: ordered by id
    assert groups.story_of("original") == groups.story_of("copy") == "copy"
    assert groups.story_of("quoting") is None and groups.story_of("other") is None
    assert groups.copies("other") == ()


def test_copies_are_ordered_earliest_first_undated_last():
    words = story_words(4)
    articles = [article(name, lightly_edited(words, n)) for n, name in enumerate("abcd")]
    published = {"a": date(2023, 3, 5), "b": date(2023, 3, 1), "c": date(2023, 3, 3)}  # d: undated
    groups = groups_of(articles, published)
    assert groups.groups() == [("b", "c", "a", "d")]
    assert groups.story_of("d") == "b"
    assert groups.copies("c") == ("b", "a", "d")


def test_wire_copies_across_many_outlets_form_one_group_and_separate_stories_stay_apart():
    articles, expected = [], []
    for story in range(5):
        words = story_words(100 + story)
        copies = [f"s{story}-{outlet}" for outlet in range(3)]
        articles += [article(name, lightly_edited(words, 1000 * story + n)) for n, name in enumerate(copies)]
        expected.append(tuple(sorted(copies)))
    articles += [article(f"alone-{n}", story_words(500 + n)) for n in range(20)]
    assert sorted(groups_of(articles).groups()) == expected


def test_articles_without_a_body_are_not_one_story():
    articles = [article("empty-1", []), article("empty-2", []), article("words", story_words(5))]
    assert len(groups_of(articles)) == 0


def test_the_body_alone_is_compared_not_the_title_before_it():
    words = story_words(6)
    headed = Article(id="headed", title="A long title", text="A long title\n\n" + " ".join(words),
                     body_start=len("A long title\n\n"))
    other = Article(id="other", title="A long title", text="A long title\n\n" + " ".join(story_words(8)),
                    body_start=len("A long title\n\n"))
    assert groups_of([headed, article("plain", words), other]).groups() == [("headed", "plain")]


# ---------------------------------------------------------------- segments: live ids, merges, files


def test_only_live_articles_are_grouped_and_a_later_segments_sketch_replaces_an_earlier_one():
    words = story_words(9)
    first = StorySketches.of_articles([article("a", words), article("b", lightly_edited(words, 1))])
    # A later segment holds a changed "b" (now another story) and a new copy "c".
    second = StorySketches.of_articles([article("b", story_words(10)), article("c", lightly_edited(words, 2))])
    assert StoryGroups.of([first, second], None, {}).groups() == [("a", "c")]
    assert len(StoryGroups.of([first, second], {"a", "b"}, {})) == 0  # "c" deleted: "a" is alone


def test_sketches_are_written_and_read_back_and_selected_in_the_order_asked(tmp_path):
    articles = [article(f"id-{n}", story_words(n)) for n in range(4)]
    sketches = StorySketches.of_articles(articles)
    assert sketches.signatures.shape == (4, NUM_PERM) and sketches.signatures.dtype == np.uint32
    sketches.write(tmp_path)
    read = StorySketches.read(tmp_path)
    assert read.ids == sketches.ids
    assert np.array_equal(read.signatures, sketches.signatures)
    chosen = read.select(["id-3", "gone", "id-1"])
    assert chosen.ids == ("id-3", "id-1")
    assert np.array_equal(chosen.signatures, sketches.signatures[[3, 1]])


def test_a_sketch_is_the_same_in_every_process():
    # Segments written by different builds are compared: the hash may not be Python's salted hash().
    words = story_words(11)
    assert StorySketches.of_articles([article("x", words)]).signatures[0, :3].tolist() == \
        StorySketches.of_articles([article("y", words)]).signatures[0, :3].tolist()


# ---------------------------------------------------------------- one citation per story

QUESTION = "What did the harbour council decide about the bridge toll?"
ANSWER_LINE = "The harbour council decided the bridge toll will rise, the harbour council said of the bridge toll."


@pytest.fixture
def copies_corpus(tmp_path) -> Path:
    """Story "wire" as three outlets ran it (cnn's id sorts first, usatoday's copy is the
    earliest), and six other stories that also answer the question, less strongly."""
    words = story_words(20)
    records = []
    for n, (doc_id, url, day) in enumerate([("a-cnn", "https://www.cnn.com/wire", "2023-03-02"),
                                            ("b-usa", "https://www.usatoday.com/wire", "2023-03-01"),
                                            ("c-bbc", "https://www.bbc.co.uk/wire", "2023-03-03")]):
        body = lightly_edited(words, n)
        text = "\n\n".join([ANSWER_LINE * 2, " ".join(body[:150]), " ".join(body[150:])])
        records.append({"doc_id": doc_id, "title": "Wire story", "text": text, "url": url,
                        "publish_date": day})
    for n in range(6):
        body = story_words(40 + n)
        text = "\n\n".join([ANSWER_LINE, " ".join(body[:150]), " ".join(body[150:])])
        records.append({"doc_id": f"other-{n}", "title": f"Other {n}", "text": text,
                        "url": f"https://www.theweek.co.uk/{n}", "publish_date": "2023-03-04"})
    corpus = tmp_path / "seeds" / "copies.jsonl"
    corpus.parent.mkdir()
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return corpus


@pytest.fixture
def desk(tmp_path, copies_corpus, fake_embedder) -> Newsdesk:
    settings = Settings(seeds=(copies_corpus.parent,), embeddings=tmp_path / "embeddings",
                        abstain_below=0.0, passage_tokens=64, overlap_sentences=0)
    build_index(settings, fake_embedder)
    return Newsdesk(settings, embedder=fake_embedder)


def test_the_index_groups_the_planted_copies(desk):
    desk.ask(QUESTION, 5)  # loads the generation
    assert desk.generation.stories.groups() == [("b-usa", "a-cnn", "c-bbc")]


def test_a_story_is_cited_once_from_its_earliest_copy_with_the_others_outlets(desk):
    citations = desk.ask(QUESTION, 5).citations
    wire = [c for c in citations if c.title == "Wire story"]
    assert {c.article_id for c in wire} == {"b-usa"}
    assert all(c.also_in == ["cnn.com", "bbc.co.uk"] for c in wire)
    assert all(c.also_in == [] for c in citations if c.title != "Wire story")


def test_the_slots_copies_would_take_go_to_other_stories(desk):
    desk.ask(QUESTION, 5)
    desk.generation.stories = StoryGroups.empty()  # the same index with the copies ungrouped
    ungrouped = {c.article_id for c in desk.ask(QUESTION, 5).citations}
    assert {"a-cnn", "b-usa", "c-bbc"} <= ungrouped  # without groups the copies crowd the top 5
    desk.generation.stories = groups_of([desk.generation.articles[a] for a in desk.generation.articles],
                                        desk.generation.published)
    grouped = {c.article_id for c in desk.ask(QUESTION, 5).citations}
    assert len({a for a in grouped if a.startswith("other-")}) > len({a for a in ungrouped if a.startswith("other-")})
