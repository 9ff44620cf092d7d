"""`newsdesk` with the tests' bag-of-words embedder in place of the model, in a process of its
own, as a user runs it:

    python tests/fake_newsdesk.py serve --embeddings DIR --port N

Each load of the (fake) model appends a line to the file FAKE_MODEL_LOADS names, when set, so a
test can tell whether a command loaded the model at all (`newsdesk index` with nothing new must not).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LOADS = "FAKE_MODEL_LOADS"


def use_fake_embedder() -> None:
    """newsdesk.embeddings' factories hand out the fake (before service.py imports them)."""
    import newsdesk.embeddings
    from fakes import FakeEmbedder
    from newsdesk.embeddings.on_demand import ModelFacts, OnDemandEmbedder

    def load(settings=None) -> FakeEmbedder:
        if os.environ.get(LOADS):
            with open(os.environ[LOADS], "a", encoding="utf-8") as record:
                record.write("loaded\n")
        return FakeEmbedder()

    facts = ModelFacts(FakeEmbedder.identity, FakeEmbedder.max_tokens, FakeEmbedder.backend)
    newsdesk.embeddings.load_embedder = load
    newsdesk.embeddings.embedder_on_demand = lambda settings: OnDemandEmbedder(facts, load)


if __name__ == "__main__":
    use_fake_embedder()
    from newsdesk.cli import main

    sys.exit(main(sys.argv[1:]))
