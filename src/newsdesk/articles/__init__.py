"""Articles: reading seed files and JSONL corpora into typed `Article` records (stage 1).

records.py holds the record and what reading reports; one module reads each kind of input
(text.py: .txt/.md, corpus.py: JSONL); folders.py walks the seeds paths and hands each file to
its reader; dates.py reads a publication date.
"""

from newsdesk.articles.folders import read_articles
from newsdesk.articles.records import Article, InputNote, InputProblem, ReadResult
from newsdesk.articles.text import parse_article

__all__ = ["Article", "InputNote", "InputProblem", "ReadResult", "parse_article", "read_articles"]
