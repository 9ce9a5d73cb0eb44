"""Consent records: the collecting systems' batches of given and withdrawn consent, the current
state derived from them, and what a withdrawal does to the models trained on the data."""
