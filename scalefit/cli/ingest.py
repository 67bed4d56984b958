"""`scalefit ingest` and `scalefit runs` (owned by the readers)."""
