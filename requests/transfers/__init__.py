"""Transfer exceptions: request, review, approval into a grant, activation, expiry.

Every step goes through `services.exception_transition`, which checks the one table of allowed
steps (`workflow.TRANSITIONS`), moves the status with a compare-and-swap, writes the timeline
and the ledger in the same transaction, and tells people after the commit. An approval creates
the transfer grant in that same transaction: the grant and the status move together or not at
all.
"""
