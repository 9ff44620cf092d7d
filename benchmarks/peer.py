"""Benchmark 5: txtai, side by side on the same passages, model and hybrid search."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from indexing import build_seconds
from records import Row, Run
from serving import time_each

from newsdesk.settings import Settings
from newsdesk.embeddings import load_embedder
from newsdesk.index.store import load_generation
from newsdesk.retrieval.hybrid import Retriever


def run_peer(run: Run, texts: Sequence[str], questions: Sequence[str], embeddings: Path,
             newsdesk_build_seconds: float, where: str) -> None:
    from txtai import Embeddings

    settings = Settings(embeddings=embeddings, backend="torch")
    peer = Embeddings(path=settings.resolved_model_path, method="sentence-transformers",
                      content=True, hybrid=True)
    peer.transform("warm up the model")  # loads it, so indexing time excludes the model load
    started = time.perf_counter()
    peer.index((n, text, None) for n, text in enumerate(texts))
    peer_seconds = time.perf_counter() - started

    for question in questions[:10]:
        peer.search(question, 5)
    peer_latency = time_each(lambda q: peer.search(q, 5), questions)
    retriever = Retriever(load_generation(embeddings), load_embedder(settings))
    for question in questions[:10]:
        retriever.search(question, 5)
    ours = time_each(lambda q: retriever.search(q, 5), questions)

    run.details[f"peer_{where}"] = {"txtai_index_s": peer_seconds, "passages": len(texts),
                                    "txtai_search": vars(peer_latency), "newsdesk_search": vars(ours)}
    index_ratio = peer_seconds / newsdesk_build_seconds
    query_ratio = peer_latency.p50 / ours.p50
    run.add(
        Row("5 peer", f"txtai index, hybrid ({where}, torch)", len(texts) / peer_seconds,
            "passages/s", note=f"{peer_seconds:.0f} s"),
        Row("5 peer", "txtai index time / newsdesk index time", index_ratio, "×", "> 1×",
            index_ratio > 1),
        Row("5 peer", f"txtai hybrid search p50, k=5 ({where})", peer_latency.p50, "ms",
            note=f"p95 {peer_latency.p95:.0f} ms"),
        Row("5 peer", f"newsdesk hybrid search p50, k=5 ({where})", ours.p50, "ms",
            note=f"p95 {ours.p95:.0f} ms"),
        Row("5 peer", "txtai search p50 / newsdesk search p50", query_ratio, "×", "> 1×",
            query_ratio > 1),
    )
    int8_seconds = build_seconds(embeddings.parent).get("onnx-int8")
    if int8_seconds:
        ratio = peer_seconds / int8_seconds
        run.add(Row("5 peer", "txtai index time / newsdesk index time (onnx-int8)", ratio, "×",
                    "> 1×", ratio > 1, "same passages; txtai runs the torch model"))

