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
