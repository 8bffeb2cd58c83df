"""Business logic over the store of record. Routes, spiders and CLI commands call these."""
