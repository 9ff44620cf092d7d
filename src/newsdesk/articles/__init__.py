"""Articles: reading seed files and JSONL corpora into typed `Article` records (stage 1)."""
