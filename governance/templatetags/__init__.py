"""Template tags and filters of the governance app."""
