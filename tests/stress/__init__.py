"""The long reliability checks, run by `make stress` (pytest -m stress)."""
