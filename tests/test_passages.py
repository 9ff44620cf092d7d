from conftest import SEED, SEED_ID
from fakes import FakeEmbedder

from newsdesk.articles import parse_article
from newsdesk.passages import Chunker, ChunkerSettings, sentence_spans


def chunker(tokens=60, overlap=1):
    return Chunker(ChunkerSettings(tokens, overlap), FakeEmbedder().token_offsets)


def test_sentences_do_not_break_after_titles_and_initials():
    text = "Texas Lt. Gov. Dan Patrick spoke. Mr. Sarkozy said no! U.S. officials agreed? Yes."
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == ["Texas Lt. Gov. Dan Patrick spoke.", "Mr. Sarkozy said no!",
                         "U.S. officials agreed?", "Yes."]


def test_passage_offsets_slice_the_article_text_exactly():
    article = parse_article(SEED_ID, SEED.read_text())
    passages = chunker().passages_for(article)
    assert len(passages) > 3
    for passage in passages:
        assert article.text[passage.char_start:passage.char_end] == passage.text
        assert passage.passage_id.startswith(SEED_ID + "#")


def test_passages_skip_the_title_and_tags_lines_but_keep_the_standfirst():
    article = parse_article(SEED_ID, SEED.read_text())
    joined = " ".join(p.text for p in chunker(tokens=256).passages_for(article))
    assert "Brexit, Calais, renegotiation" not in joined
    assert joined.startswith("There are concerns")


def test_every_passage_fits_the_window_with_its_title():
    embedder = FakeEmbedder()
    settings = ChunkerSettings(passage_tokens=40, overlap_sentences=1)
    long_sentence = " ".join(f"word{i}" for i in range(300)) + "."
    article = parse_article("long", "A title\n\n" + long_sentence + " Short one. Another short one.")
    chunks = Chunker(settings, embedder.token_offsets).passages_for(article)
    for passage in chunks:
        tokens = len(embedder.token_offsets([passage.embedding_text()])[0])
        assert tokens + 2 <= 40, passage.text
    covered = " ".join(p.text for p in chunks)
    assert "word0 " in covered and "word299" in covered


def test_neighbouring_passages_share_one_sentence():
    article = parse_article(SEED_ID, SEED.read_text())
    first, second = chunker(tokens=80, overlap=1).passages_for(article)[1:3]  # [0] is the standfirst
    assert second.char_start < first.char_end  # the overlap


def test_real_tokenizer_counts_keep_passages_under_256(real_embedder):
    article = parse_article(SEED_ID, SEED.read_text())
    passages = Chunker(ChunkerSettings(), real_embedder.token_offsets).passages_for(article)
    tokenizer = real_embedder.tokenizer
    for passage in passages:
        assert len(tokenizer(passage.embedding_text())["input_ids"]) <= 256


# ---------------------------------------------------------------- unbounded work from one article (issue 13.3)


def _check_bounded(article, passages, cap=2000):
    assert passages
    for passage in passages:
        assert len(passage.text) <= cap
        assert article.text[passage.char_start:passage.char_end] == passage.text


def test_a_word_of_megabytes_is_cut_into_passages_of_at_most_the_character_cap():
    # One token to the model ([UNK]), so the token budget alone let it through whole.
    article = parse_article("word", "A title\n\n" + "x" * 5_000_000)
    passages = chunker().passages_for(article)
    _check_bounded(article, passages)
    assert sum(len(p.text) for p in passages) == 5_000_000


def test_long_words_in_a_sentence_are_cut_at_spaces_within_the_cap():
    words = " ".join(f"{n}" + "y" * 27_000 for n in range(180)) + ". The end."
    article = parse_article("words", "A title\n\n" + words)
    passages = chunker().passages_for(article)
    _check_bounded(article, passages)
    assert passages[-1].text.endswith("The end.")


def test_a_passage_of_ordinary_sentences_stays_under_the_cap_too():
    settings = ChunkerSettings(passage_tokens=256, overlap_sentences=1, passage_chars=300)
    sentences = " ".join(f"Sentence number {n} says something about the harbour." for n in range(60))
    article = parse_article("many", "A title\n\n" + sentences)
    passages = Chunker(settings, FakeEmbedder().token_offsets).passages_for(article)
    _check_bounded(article, passages, cap=300)
    assert all(p.text.endswith(".") for p in passages)  # whole sentences still


def test_invisible_characters_count_as_whitespace_for_blocks_and_sentences():
    zero_width = "Title\n\n" + "\u200b\n\n" * 500_000 + "Real news. \u200bAnother sentence.\u2060\n\n\ufeff"
    article = parse_article("zw", zero_width)
    assert article.paragraphs() == [(zero_width.index("Real"), zero_width.index(".\u2060") + 1)]
    passages = chunker().passages_for(article)
    assert [p.text for p in passages] == ["Real news. \u200bAnother sentence."]
    text = "One.\u200bTwo.\u200b\u200b Three."
    assert [text[s:e] for s, e in sentence_spans(text)] == ["One.", "Two.", "Three."]


def test_the_chunker_settings_say_the_cap_so_a_change_rebuilds():
    settings = ChunkerSettings()
    assert settings.as_dict()["passage_chars"] == 2000 and settings.as_dict()["version"] == 2
