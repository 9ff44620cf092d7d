import pytest
from conftest import SEED_ID

from newsdesk.index import lexical
from newsdesk.settings import Settings

from newsdesk.index.build import build_index
from newsdesk.index.errors import IndexLocked
from newsdesk.index.store import current_name, load_generation, write_lock


def add_article(folder, name, title, body):
    (folder / f"{name}.txt").write_text(f"{title}\n\n{body}")


def test_first_build_embeds_everything_and_writes_a_manifest(settings, fake_embedder):
    report = build_index(settings, fake_embedder)
    assert (report.new, report.changed, report.removed, report.unchanged) == (1, 0, 0, 0)
    generation = load_generation(settings.embeddings)
    manifest = generation.manifest
    assert manifest["model"]["identity"] == fake_embedder.identity
    assert manifest["model"]["dimension"] == fake_embedder.dimension
    assert manifest["chunker"]["passage_tokens"] == settings.passage_tokens
    assert set(manifest["articles"]) == {SEED_ID}
    assert len(manifest["articles"][SEED_ID]["hash"]) == 32
    assert len(generation.vectors) == len(generation.passages) == report.passages_embedded


def test_only_new_and_changed_articles_are_embedded(settings, seeds, fake_embedder):
    build_index(settings, fake_embedder)
    add_article(seeds, "second", "Second story", "A new bridge opened in Leeds today.")
    fake_embedder.embedded.clear()
    report = build_index(settings, fake_embedder)
    assert (report.new, report.changed, report.removed, report.unchanged) == (1, 0, 0, 1)
    assert all("Leeds" in text for text in fake_embedder.embedded)
    assert report.summary().startswith("1 new, 0 changed, 0 removed, 1 unchanged")

    add_article(seeds, "second", "Second story", "The bridge in Leeds closed again.")
    fake_embedder.embedded.clear()
    report = build_index(settings, fake_embedder)
    assert (report.new, report.changed, report.unchanged) == (0, 1, 1)
    assert all("closed again" in text for text in fake_embedder.embedded)


def test_removed_articles_are_dropped_and_nothing_to_do_writes_nothing(settings, seeds, fake_embedder):
    add_article(seeds, "second", "Second story", "A new bridge opened in Leeds today.")
    build_index(settings, fake_embedder)
    (seeds / "second.txt").unlink()
    report = build_index(settings, fake_embedder)
    assert report.removed == 1 and report.passages_embedded == 0
    assert set(load_generation(settings.embeddings).articles) == {SEED_ID}
    again = build_index(settings, fake_embedder)
    assert not again.wrote and again.unchanged == 1


def test_incremental_index_equals_a_clean_build(settings, seeds, tmp_path, fake_embedder):
    build_index(settings, fake_embedder)
    add_article(seeds, "second", "Second story", "A new bridge opened in Leeds today. It is long.")
    build_index(settings, fake_embedder)
    clean = settings.with_(embeddings=tmp_path / "clean")
    build_index(clean, fake_embedder)
    a, b = load_generation(settings.embeddings), load_generation(clean.embeddings)
    assert _live_passages(a) == _live_passages(b)  # rows are in segment order: compared by id
    same = ("format", "model", "chunker", "index_type", "counts")
    assert {k: a.manifest[k] for k in same} == {k: b.manifest[k] for k in same}
    assert [s["name"] for s in a.manifest["segments"]] == ["gen-000001", "gen-000002"]


def test_changing_a_chunker_setting_or_model_rebuilds_everything(settings, fake_embedder):
    build_index(settings, fake_embedder)
    report = build_index(settings.with_(passage_tokens=120), fake_embedder)
    assert report.new == 1 and "chunker changed" in report.rebuilt_reason
    fake_embedder.identity = "another-model"
    report = build_index(settings.with_(passage_tokens=120), fake_embedder)
    assert report.new == 1 and "model changed" in report.rebuilt_reason


def test_an_index_from_the_previous_chunker_keeps_serving_then_rebuilds_once(settings, fake_embedder):
    """Version 2 of the chunker (a character cap, invisible characters as whitespace): an index
    written by version 1 still loads, the next build re-embeds it all once, later ones are
    incremental again."""
    import json

    from newsdesk.index.store import current_folder

    build_index(settings, fake_embedder)
    manifest_path = current_folder(settings.embeddings) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["chunker"] = {k: v for k, v in manifest["chunker"].items() if k != "passage_chars"}
    manifest["chunker"]["version"] = 1
    manifest_path.write_text(json.dumps(manifest))
    assert load_generation(settings.embeddings).passages
    report = build_index(settings, fake_embedder)
    assert report.new == 1 and report.rebuilt_reason == "chunker changed"
    again = build_index(settings, fake_embedder)
    assert again.unchanged == 1 and again.passages_embedded == 0 and not again.rebuilt_reason


def test_full_flag_re_embeds_everything(settings, fake_embedder):
    build_index(settings, fake_embedder)
    report = build_index(settings, fake_embedder, full=True)
    assert report.new == 1 and report.passages_embedded > 0


def test_an_incremental_build_scores_words_as_a_full_build_does(settings, seeds, fake_embedder,
                                                                tmp_path, monkeypatch):
    build_index(settings, fake_embedder)
    add_article(seeds, "second", "Second story", "A new bridge opened in Leeds today. Calais too.")
    add_article(seeds, "third", "Third story", "Ferries from Calais were cancelled by the strike.")
    build_index(settings, fake_embedder)
    tokenised = []
    real_tokenize = lexical.tokenize
    monkeypatch.setattr(lexical, "tokenize", lambda texts: tokenised.extend(texts) or real_tokenize(texts))
    add_article(seeds, "fourth", "Fourth story", "Calais and Dover agreed on new passport checks.")
    build_index(settings, fake_embedder)
    assert len(tokenised) == 1 and "Dover" in tokenised[0]  # only the new passage is tokenised

    full = Settings(seeds=settings.seeds, embeddings=tmp_path / "full")
    build_index(full, fake_embedder)
    incremental, rebuilt = (load_generation(s.embeddings) for s in (settings, full))
    assert len(incremental.segments) == 3 and len(rebuilt.segments) == 1
    for query in ("Calais passport checks", "bridge Leeds", "strike ferries", "treaty"):
        scored = [{p.passage_id: score for p, score in zip(g.passages, g.lexical.scores(query))}
                  for g in (incremental, rebuilt)]
        assert scored[0] == pytest.approx(scored[1], abs=1e-5)  # collection-wide statistics


def test_a_failed_build_leaves_the_served_generation_whole(settings, seeds, fake_embedder, monkeypatch):
    build_index(settings, fake_embedder)
    before = current_name(settings.embeddings)
    add_article(seeds, "second", "Second story", "A new bridge opened in Leeds today.")

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("newsdesk.index.lexical.SegmentTerms.write", explode)
    with pytest.raises(RuntimeError):
        build_index(settings, fake_embedder)
    assert current_name(settings.embeddings) == before
    assert set(load_generation(settings.embeddings).articles) == {SEED_ID}
    monkeypatch.undo()
    report = build_index(settings, fake_embedder)  # and the next build cleans up and completes
    assert report.new == 1
    leftovers = [p.name for p in (settings.embeddings / "generations").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_a_second_writer_is_refused_with_a_clear_message(settings, fake_embedder):
    settings.embeddings.mkdir(parents=True)
    with write_lock(settings.embeddings):
        with pytest.raises(IndexLocked, match="being indexed"):
            build_index(settings, fake_embedder)


def test_old_generations_are_pruned_once_no_segment_of_theirs_is_served(settings, seeds, fake_embedder):
    build_index(settings, fake_embedder)
    (seeds / f"{SEED_ID}.txt").unlink()  # its segment is dropped: nothing in it is live
    for n in range(4):
        add_article(seeds, f"extra{n}", f"Extra {n}", f"Body number {n}.")
        build_index(settings, fake_embedder)
    names = sorted(p.name for p in (settings.embeddings / "generations").iterdir())
    served = [s["name"] for s in load_generation(settings.embeddings).manifest["segments"]]
    assert served == ["gen-000002", "gen-000003", "gen-000004", "gen-000005"]
    assert names == served  # gen-000001's segment is gone from every kept generation


def test_small_segments_are_merged_and_deleted_rows_dropped(settings, seeds, fake_embedder):
    from newsdesk.index.merge import MERGE_FACTOR

    build_index(settings, fake_embedder)
    for n in range(MERGE_FACTOR):
        add_article(seeds, f"extra{n}", f"Extra {n}", f"Body number {n} about Calais.")
        build_index(settings, fake_embedder)
    (seeds / "extra3.txt").unlink()
    build_index(settings, fake_embedder)
    generation = load_generation(settings.embeddings)
    assert len(generation.segments) < MERGE_FACTOR  # ten one-passage segments became one
    assert set(generation.articles) == {SEED_ID} | {f"extra{n}" for n in range(MERGE_FACTOR)} - {"extra3"}
    clean = load_generation(_clean_build(settings, fake_embedder))
    assert _live_passages(generation) == _live_passages(clean)


def _live_passages(generation) -> dict:
    """passage id: (its text, its stored vector rounded) for every live row."""
    import numpy as np

    live = generation.live if generation.live is not None else np.ones(len(generation.passages), bool)
    rows = np.flatnonzero(live)
    vectors = generation.vectors.reconstruct(rows)
    return {generation.passages[row].passage_id: (generation.passages[row].text, tuple(np.round(v, 3)))
            for row, v in zip(rows, vectors)}


def _clean_build(settings, embedder):
    clean = settings.with_(embeddings=settings.embeddings.parent / "clean")
    build_index(clean, embedder)
    return clean.embeddings


def _clustered_unit_vectors(count: int, dimension: int = 64):
    import numpy as np

    generator = np.random.default_rng(0)
    centres = generator.standard_normal((300, dimension)).astype(np.float32)
    vectors = centres[generator.integers(0, 300, count)]
    vectors += 0.3 * generator.standard_normal(vectors.shape).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_flat_vector_store_finds_exact_neighbours_and_survives_a_round_trip(tmp_path):
    import numpy as np

    from newsdesk.index.vectors import VectorStore

    vectors = _clustered_unit_vectors(500)
    store = VectorStore.build(vectors, "flat")
    assert store.kind == "flat" and len(store) == 500 and store.breadth is None
    query = vectors[17] + 0.01 * vectors[3]
    exact = np.argsort(-(vectors @ query), kind="stable")[:10]
    rows, scores = store.search(query, 10)
    assert list(rows) == list(exact)
    assert np.allclose(scores, (vectors @ query)[exact], atol=1e-5)
    assert np.allclose(store.reconstruct(np.array([4, 250])), vectors[[4, 250]])
    store.write(tmp_path / "index.faiss")
    again = VectorStore.read(tmp_path / "index.faiss")
    assert again.kind == "flat" and len(again) == 500
    assert list(again.search(query, 10)[0]) == list(rows)
    assert len(store.search(query, 1000)[0]) == 500  # at most what it holds
    assert len(VectorStore.build(vectors[:0], "flat").search(query, 10)[0]) == 0


def test_an_unknown_index_type_is_refused_with_the_types_there_are():
    from newsdesk.index.errors import IndexError_
    from newsdesk.index.vectors import VectorStore

    with pytest.raises(IndexError_, match="use 'flat', 'ivf' or 'hnsw'"):
        VectorStore.build(_clustered_unit_vectors(10), "annoy")


def test_an_hnsw_vector_store_is_built_with_its_search_breadth_and_finds_stored_vectors(tmp_path):
    import numpy as np

    from newsdesk.index.vectors import HNSW_SEARCH_BREADTH, VectorStore

    vectors = _clustered_unit_vectors(2000)
    VectorStore.build(vectors, "hnsw").write(tmp_path / "index.faiss")
    store = VectorStore.read(tmp_path / "index.faiss")
    assert store.kind == "hnsw" and store.breadth == HNSW_SEARCH_BREADTH and len(store) == 2000
    rows = np.random.default_rng(1).integers(0, len(vectors), 20)
    found = [store.search(vectors[row], 1)[0][0] for row in rows]
    assert np.mean(np.array(found) == rows) >= 0.95


def test_the_ivf_vector_store_finds_stored_vectors_and_survives_a_round_trip(tmp_path):
    import numpy as np

    from newsdesk.index.vectors import IVF_MIN_VECTORS, IVF_PROBES, VectorStore

    vectors = _clustered_unit_vectors(IVF_MIN_VECTORS)
    VectorStore.build(vectors, "ivf").write(tmp_path / "ivf.faiss")
    store = VectorStore.read(tmp_path / "ivf.faiss")
    assert store.kind == "ivf" and store.breadth == IVF_PROBES and len(store) == IVF_MIN_VECTORS
    rows = np.random.default_rng(0).integers(0, len(vectors), 20)
    found = [store.search(vectors[row], 1)[0][0] for row in rows]
    assert np.mean(np.array(found) == rows) >= 0.95
    assert np.allclose(store.reconstruct(rows[:1])[0], vectors[rows[0]])  # IVF keeps a direct map
    assert VectorStore.build(vectors[:100], "ivf").kind == "flat"  # too few to train


def test_the_merge_policy_merges_a_full_level_below_the_cap_and_rewrites_mostly_deleted_segments():
    from newsdesk.index.merge import MAX_MERGED_PASSAGES, MERGE_FACTOR, due

    def segment(name, passages, deleted=0):
        return {"name": name, "passages": passages, "deleted": [], "deleted_passages": deleted}

    big = [segment(f"big{n}", 150_000) for n in range(MERGE_FACTOR)]  # one level, over the cap merged
    small = [segment(f"small{n}", 12) for n in range(MERGE_FACTOR - 1)]
    assert MERGE_FACTOR * 150_000 > MAX_MERGED_PASSAGES
    assert due(big + small) == []
    assert due(big + small + [segment("one more", 15)]) == [s["name"] for s in small] + ["one more"]
    assert due(big + [segment("gutted", 1_000, deleted=600)]) == ["gutted"]


def test_a_seed_file_that_has_not_changed_is_not_read_again(settings, seeds, fake_embedder, monkeypatch):
    import newsdesk.articles.folders as folders

    build_index(settings, fake_embedder)
    add_article(seeds, "second", "Second story", "A new bridge opened in Leeds today.")
    read = []
    original = folders._read_one_source
    monkeypatch.setattr(folders, "_read_one_source", lambda path, result: read.append(path.name) or original(path, result))
    report = build_index(settings, fake_embedder)
    assert read == ["second.txt"] and (report.new, report.unchanged) == (1, 1)


def test_a_line_inserted_above_a_corpus_article_does_not_embed_it_again(settings, tmp_path, fake_embedder):
    import json

    corpus = tmp_path / "corpus.jsonl"
    record = lambda n: json.dumps({"id": f"c{n}", "title": f"Story {n}", "text": f"Body of story {n}. It rained."})
    corpus.write_text("\n".join(record(n) for n in (1, 2)) + "\n")
    settings = settings.with_(seeds=(corpus,))
    build_index(settings, fake_embedder)
    corpus.write_text("\n".join(record(n) for n in (0, 1, 2)) + "\n")
    report = build_index(settings, fake_embedder)
    assert (report.new, report.changed, report.unchanged, report.passages_embedded) == (1, 0, 2, 1)
    corpus.write_text(record(2) + "\n")
    report = build_index(settings, fake_embedder)
    assert (report.removed, report.unchanged) == (2, 1)
    assert set(load_generation(settings.embeddings).articles) == {"c2"}


def test_an_id_already_in_a_file_not_read_again_is_a_duplicate_and_the_first_is_kept(settings, seeds, fake_embedder):
    build_index(settings, fake_embedder)
    corpus = seeds / "more.jsonl"  # new, so read; the seed's own file is not
    corpus.write_text('{"id": "%s", "title": "Same id", "text": "Another text with the same id."}\n' % SEED_ID)
    report = build_index(settings, fake_embedder)
    assert [p.reason for p in report.problems] == [f"duplicate article id {SEED_ID!r} (already in "
                                                   f"{seeds / (SEED_ID + '.txt')})"]
    assert report.changed == 0 and load_generation(settings.embeddings).articles[SEED_ID].title != "Same id"


def test_an_index_of_the_earlier_format_is_upgraded_by_the_next_build_without_embedding(
        settings, seeds, fake_embedder):
    import json

    from newsdesk.index.errors import OldFormat

    add_article(seeds, "second", "Second story", "A new bridge opened in Leeds today.")
    build_index(settings, fake_embedder)
    before = _live_passages(load_generation(settings.embeddings))
    # The format-1 layout: one generation holding every article, with the same passages.npz and
    # vectors.npy, and the manifest's articles keyed by id with their hashes.
    folder = settings.embeddings / "generations" / current_name(settings.embeddings)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest = {**{k: manifest[k] for k in ("model", "chunker", "built_at", "generation")}, "format": 1,
                "articles": {i: {"hash": e["hash"], "passages": e["passages"]} for i, e in manifest["articles"].items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OldFormat, match="run `newsdesk index` once to upgrade it"):
        load_generation(settings.embeddings)
    report = build_index(settings, fake_embedder)
    assert (report.passages_embedded, report.unchanged, report.new) == (0, 2, 0)
    upgraded = load_generation(settings.embeddings)
    assert upgraded.manifest["format"] == 2 and _live_passages(upgraded) == before
