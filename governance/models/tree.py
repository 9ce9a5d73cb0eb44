"""The decision log's Merkle tree (RFC 9162): the queue appends write to without a lock, the
tree's complete subtrees, and the signed tree heads the sequencer makes at each batch."""

from django.db import models

from catalog.models import AppendOnly


class LedgerQueued(models.Model):
    """An entry appended but not yet sequenced: its canonical bytes and leaf hash.

    Inserted in the appender's transaction without any shared lock; the sequencer moves it into
    the chain and the tree and deletes it in one transaction, so it is sequenced exactly once.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(max_length=150)
    kind = models.CharField(max_length=60)
    subjects = models.TextField(blank=True)
    payload = models.BinaryField()
    leaf_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"queued {self.kind} {self.leaf_hash[:12]}"


class LedgerTreeNode(AppendOnly):
    """The hash of one complete subtree: leaves [index * 2**level, (index + 1) * 2**level).

    Level 0 holds the leaf hashes (leaf i is the entry of sequence i + 1). Any proof reads
    O(log n) of these rows by their (level, index) key.
    """

    level = models.PositiveSmallIntegerField()
    index = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["level", "index"], name="ledger_tree_node_position")
        ]
        indexes = [models.Index(fields=["hash"], name="ledger_tree_node_hash")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class LedgerTreeHead(AppendOnly):
    """A signed tree head: the tree's size and root hash at a time, signed with the log key."""

    size = models.PositiveBigIntegerField(unique=True)
    root = models.CharField(max_length=64)
    at = models.DateTimeField()
    algorithm = models.CharField(max_length=20)
    key_id = models.CharField(max_length=64)
    public_key = models.CharField(max_length=200)
    signature = models.CharField(max_length=200)

    class Meta:
        ordering = ["-size"]

    def __str__(self) -> str:
        return f"tree head @{self.size}"
