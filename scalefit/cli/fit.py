"""`scalefit fit` commands."""
