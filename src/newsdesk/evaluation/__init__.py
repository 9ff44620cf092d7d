"""Evaluation: question sets asked through the library, the baselines, and the issue suite."""
