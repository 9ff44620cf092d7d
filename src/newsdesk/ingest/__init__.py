"""Ingest: keeping the index current by itself — saved.py (articles written into the seeds
durably), inbox.py (the ingest API's folder), watch.py (the watched seeds and their settled
builds), fetch.py (polite HTTP), feeds.py (RSS/Atom feeds and their pages).

Everything here ends in the seeds: a full rebuild from them reproduces whatever was ingested.
"""
