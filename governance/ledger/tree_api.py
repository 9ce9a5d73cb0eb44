"""The decision log's Merkle tree over the API: inclusion and consistency proofs (RFC 9162) and
the latest signed tree head. Proofs and heads hold hashes only, so every Locus role may ask: a
pipeline that holds a receipt checks its own decision is in the log."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import CanUseGovernance
from governance.ledger.tree import (
    consistency_proof,
    inclusion_proof,
    latest_tree_head,
)

HEX_HASH = r"^[0-9a-f]{64}$"


class TreeHeadSerializer(serializers.Serializer):
    """A signed tree head, exactly as signed (its `at` is the signed string)."""

    size = serializers.IntegerField(help_text="How many entries the tree holds")
    # The metaclass moves declared fields off the class, so Field.root stays the property.
    root = serializers.CharField(help_text="RFC 9162 Merkle tree hash (MTH), hex")  # type: ignore[assignment]
    at = serializers.CharField(help_text="When it was signed (ISO 8601, as signed)")
    algorithm = serializers.CharField()
    key_id = serializers.CharField()
    public_key = serializers.CharField(help_text="The log's Ed25519 public key (base64)")
    signature = serializers.CharField(help_text="Ed25519 signature (base64)")


class InclusionQuery(serializers.Serializer):
    leaf_hash = serializers.RegexField(
        HEX_HASH, help_text="The receipt's leaf hash: SHA-256(0x00 || entry bytes), hex"
    )
    tree_size = serializers.IntegerField(
        min_value=1, required=False, help_text="A signed tree head's size (default: the latest)"
    )


class ConsistencyQuery(serializers.Serializer):
    first = serializers.IntegerField(min_value=0, help_text="The earlier tree head's size")
    second = serializers.IntegerField(
        min_value=1, required=False, help_text="The later tree head's size (default: the latest)"
    )


InclusionProofSerializer = inline_serializer(
    "InclusionProof",
    {
        "leaf_hash": serializers.CharField(),
        "leaf_index": serializers.IntegerField(help_text="0-based: the entry of sequence + 1"),
        "tree_size": serializers.IntegerField(),
        "audit_path": serializers.ListField(child=serializers.CharField()),
        "tree_head": TreeHeadSerializer(),
    },
)
ConsistencyProofSerializer = inline_serializer(
    "ConsistencyProof",
    {
        "first": serializers.IntegerField(),
        "second": serializers.IntegerField(),
        "consistency_path": serializers.ListField(child=serializers.CharField()),
        "first_tree_head": TreeHeadSerializer(allow_null=True),
        "tree_head": TreeHeadSerializer(),
    },
)


def _query(serializer_class: type[serializers.Serializer], params) -> dict:
    """The query parameters, validated: a 400 naming each refused one."""
    query = serializer_class(data=params)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


class InclusionProofView(APIView):
    """The audit path that shows an entry (by its receipt's leaf hash) is in the tree."""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]
    # A leaf the tree does not hold (yet: the sequencer adds entries after they are written).
    error_statuses = {404: "No entry with this leaf hash is in the tree (yet), or no tree yet"}

    @extend_schema(
        parameters=[InclusionQuery],
        responses={200: InclusionProofSerializer},
    )
    def get(self, request):
        query = _query(InclusionQuery, request.query_params)
        try:
            return Response(inclusion_proof(query["leaf_hash"], query.get("tree_size")))
        except ValueError as exc:
            raise ValidationError({"tree_size": [str(exc)]}) from exc
        except LookupError as exc:
            raise NotFound(str(exc)) from exc


class ConsistencyProofView(APIView):
    """The proof that a later tree head extends an earlier one (nothing before was changed)."""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]

    @extend_schema(
        parameters=[ConsistencyQuery],
        responses={200: ConsistencyProofSerializer},
    )
    def get(self, request):
        query = _query(ConsistencyQuery, request.query_params)
        first, second = query["first"], query.get("second")
        if second is not None and first > second:
            raise ValidationError({"first": ["must not be larger than second"]})
        try:
            return Response(consistency_proof(first, second))
        except ValueError as exc:
            field = "second" if second is not None else "first"
            raise ValidationError({field: [str(exc)]}) from exc


class LatestTreeHeadView(APIView):
    """The latest signed tree head: publish it; later heads must be consistent with it."""

    permission_classes = [permissions.IsAuthenticated, CanUseGovernance]

    @extend_schema(responses={200: TreeHeadSerializer})
    def get(self, request):
        return Response(latest_tree_head())
