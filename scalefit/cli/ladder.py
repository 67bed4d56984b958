"""`scalefit ladder` commands."""
