"""A mail backend for journeys: the live server and the worker write each message to a file in
LOCUS_TEST_MAILDIR, where the test reads what a data subject would receive."""

import os

from django.core.mail.backends import filebased


class EmailBackend(filebased.EmailBackend):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("file_path", os.environ["LOCUS_TEST_MAILDIR"])
        super().__init__(*args, **kwargs)
