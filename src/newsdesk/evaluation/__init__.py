"""Evaluation: the records and metrics (metrics.py), question sets asked through the library
(run.py), the baselines (baselines.py), and the issue suite (suite.py)."""
