"""Saqshy core: settings, the store of record, and the search and jobs ports.

The product packages (``crawlers``, ``classifier``, ``triage_api``, ``review_ui``) build on it.
"""

__version__ = "0.1.0"
