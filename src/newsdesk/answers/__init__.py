"""Answers: what a question means in its conversation, how sure the articles cover it, and the
cited answer — extractive, written by an LLM, or streamed (stage 6)."""
