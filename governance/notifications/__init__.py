"""Telling people: in-app notifications with an e-mail copy (services), and the pages and API
where people read theirs (views)."""
