"""Access reviews: periodic campaigns in which owners confirm or revoke access to their data."""
