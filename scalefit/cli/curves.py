"""`scalefit curves` commands."""
