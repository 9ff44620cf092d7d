"""The reranker seam: the Retriever hands its fused hits to a reranker and keeps the first k."""

from dataclasses import replace

from newsdesk.index.build import build_index
from newsdesk.index.store import load_generation
from newsdesk.retrieval.hybrid import RetrievalSettings, Retriever
from newsdesk.retrieval.rerank import KeepOrder, reranker_named

STORIES = {
    "harbour": ("Harbour bridge repairs", "The harbour bridge closed for repairs on Monday. "
                "Engineers found rust on the harbour bridge cables."),
    "bridge-vote": ("Council votes on bridge", "The council voted to fund a new bridge over the "
                    "river. The bridge will open in two years."),
    "library": ("Library opens", "A new library opened in the town centre with a bridge club "
                "meeting on Fridays."),
    "market": ("Market day", "The farmers market sold apples and pears all morning."),
}


class Reversed:
    """A reranker that puts the hybrid search's order upside down (and sees up to 10 hits)."""

    candidates = 10

    def __init__(self):
        self.seen: list[tuple[str, int]] = []

    def rerank(self, question, hits):
        self.seen.append((question, len(hits)))
        return list(reversed(hits))


def _generation(tmp_path, settings, fake_embedder):
    for name, (title, body) in STORIES.items():
        (settings.seeds[0] / f"{name}.txt").write_text(f"{title}\n\n{body}")
    build_index(settings, fake_embedder)
    return load_generation(settings.embeddings)


def test_the_shipped_reranker_keeps_the_hybrid_order(tmp_path, settings, fake_embedder):
    generation = _generation(tmp_path, settings, fake_embedder)
    assert isinstance(Retriever(generation, fake_embedder).reranker, KeepOrder)
    plain = Retriever(generation, fake_embedder, reranker=KeepOrder()).search("harbour bridge rust", 3)
    assert len(plain) == 3
    assert [h.score for h in plain] == sorted((h.score for h in plain), reverse=True)


def test_a_reranker_reorders_the_hits_and_the_retriever_keeps_its_first_k(tmp_path, settings,
                                                                          fake_embedder):
    generation = _generation(tmp_path, settings, fake_embedder)
    question = "harbour bridge rust"
    everything = Retriever(generation, fake_embedder).search(question, 10)
    assert 3 < len(everything) <= 10
    reranker = Reversed()
    hits = Retriever(generation, fake_embedder, reranker=reranker).search(question, 3)
    assert reranker.seen == [(question, len(everything))]  # it saw its 10 candidates, not k
    ids = [h.passage.passage_id for h in hits]
    assert ids == [h.passage.passage_id for h in reversed(everything)][:3]
    assert ids[0] != everything[0].passage.passage_id


def test_the_reranker_is_chosen_by_name_and_an_unknown_name_is_refused(tmp_path, settings,
                                                                        fake_embedder):
    import pytest

    generation = _generation(tmp_path, settings, fake_embedder)
    assert isinstance(reranker_named("none"), KeepOrder)
    with pytest.raises(ValueError, match="unknown reranker 'cross-encoder': use 'none'"):
        Retriever(generation, fake_embedder, replace(RetrievalSettings(), reranker="cross-encoder"))
