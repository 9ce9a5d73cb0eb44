"""The glossary API: terms by slug, search, review steps as actions, history and proposals."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.conditional import ConditionalMixin
from catalog.errors import StateConflict
from catalog.idempotency import IdempotentCreateMixin
from catalog.models import Dataset, PersonalDataCategory
from catalog.paging import LocusOrdering, paged
from catalog.permissions import ActsWithPermission
from governance.glossary import content, selectors, services
from governance.models import LocalityRule, Term, TermRevision, TermVersion
from governance.policy.selectors import MAX_REPLAY_DAYS, REPLAY_DAYS


class CanUseGlossary(permissions.BasePermission):
    """Every role reads. Writes are gated by ActsWithPermission; reviews also by the services."""

    message = "Your account has no Locus role."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("governance.view_term"))


class TermSerializer(serializers.ModelSerializer):
    related: serializers.SlugRelatedField[Term] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    steward: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    datasets: serializers.SlugRelatedField[Dataset] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    rules: serializers.PrimaryKeyRelatedField[LocalityRule] = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True
    )
    categories: serializers.SlugRelatedField[PersonalDataCategory] = serializers.SlugRelatedField(
        slug_field="code",
        many=True,
        read_only=True,
        help_text="The machine-readable definition: personal-data category codes",
    )
    rules_using: serializers.PrimaryKeyRelatedField[LocalityRule] = (
        serializers.PrimaryKeyRelatedField(
            many=True, read_only=True, help_text="The locality rules that match by this term"
        )
    )
    url = serializers.SerializerMethodField(help_text="The term's page: a stable address")
    open_proposal = serializers.SerializerMethodField()

    class Meta:
        model = Term
        fields = [
            "slug",
            *content.CONTENT_FIELDS,
            "rules_using",
            "status",
            "version",
            "deprecation_reason",
            "created_by_name",
            "created_at",
            "updated_at",
            "url",
            "open_proposal",
        ]
        read_only_fields = fields

    def get_url(self, term) -> str:
        return reverse("governance:glossary-term", args=[term.slug])

    def get_open_proposal(self, term) -> int | None:
        proposals = getattr(term, "open_proposals", None)
        if proposals is None:
            proposals = list(term.revisions.filter(status=TermRevision.Status.PROPOSED))
        return proposals[0].pk if proposals else None


class TermWriteSerializer(serializers.Serializer):
    """A term as a proposer writes it; the services check the rest (case-insensitive names)."""

    name = serializers.CharField(max_length=content.MAX_NAME)
    definition = serializers.CharField(max_length=content.MAX_DEFINITION)
    categories = serializers.SlugRelatedField(
        slug_field="code",
        many=True,
        queryset=PersonalDataCategory.objects.all(),
        required=False,
        help_text="The machine-readable definition (e.g. health, genetic): what locality rules "
        "that name the term match",
        error_messages={"does_not_exist": "No personal-data category has the code {value}"},
    )
    synonyms = serializers.ListField(
        child=serializers.CharField(max_length=content.MAX_NAME),
        max_length=content.MAX_SYNONYMS,
        required=False,
    )
    related = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Term.objects.all(), required=False
    )
    steward = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.all(),
        required=False,
        allow_null=True,
        help_text="The person who keeps the term true: their username",
    )
    datasets = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Dataset.objects.all(), required=False
    )
    rules = serializers.PrimaryKeyRelatedField(
        many=True, queryset=LocalityRule.objects.all(), required=False
    )
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Why, for the reviewer"
    )


class ProposalSerializer(serializers.ModelSerializer):
    term: serializers.SlugRelatedField[Term] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = TermRevision
        fields = [
            "id",
            "term",
            "base_version",
            "proposed",
            "note",
            "status",
            "proposer_name",
            "reviewer_name",
            "comment",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class TermVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TermVersion
        fields = ["version", "action", "snapshot", "proposer_name", "actor_name", "at"]
        read_only_fields = fields


class ReviewSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    proposal = serializers.IntegerField(
        required=False, help_text="The proposal you reviewed; refused if another is open now"
    )


class RejectSerializer(ReviewSerializer):
    comment = serializers.CharField(max_length=5000, help_text="Why; the proposer reads it")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DeprecateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)


class ReplayParams(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_REPLAY_DAYS, default=REPLAY_DAYS)


def _valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def state_conflict(why: str) -> OpenApiResponse:
    """A step the term's state does not allow, or a lost race: 409, as every workflow answers."""
    return OpenApiResponse(description=f"{why}, or it changed meanwhile: reload it and try again")


REVIEW_CONFLICT = state_conflict(
    "Nothing about the term awaits review (`status`), or `proposal` is not the one open now"
)
APPROVE_CONFLICT = state_conflict(
    "Nothing about the term awaits review (`status`), `proposal` is not the one open now, or "
    "locality rules match by the term and the change leaves it no category (`categories`)"
)


# PUT and PATCH alike: a draft changes in place, an approved term gets a proposal (202).
change_schema = extend_schema(
    request=TermWriteSerializer,
    responses={
        200: TermSerializer,
        202: ProposalSerializer,
        409: OpenApiResponse(
            description="The term is neither a draft nor approved (deprecated, or in review), "
            "or a change to it already awaits review (`status`); or locality rules match by it "
            "and the change leaves it no category (`categories`)"
        ),
    },
    description="A draft is changed in place (by its proposer). An approved term is not: "
    "the change becomes a proposal (202) and the term keeps its text until it is approved.",
)


class TermViewSet(
    ConditionalMixin,
    IdempotentCreateMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """The shared glossary. Changes to approved terms are proposals that another person approves."""

    serializer_class = TermSerializer
    permission_classes = [permissions.IsAuthenticated, CanUseGlossary, ActsWithPermission]
    ordering_fields = ["name", "slug", "status", "updated_at"]
    action_permissions = {
        "create": "governance.add_term",
        "update": "governance.change_term",
        "approve": "governance.approve_term",
        "reject": "governance.approve_term",
        "deprecate": "governance.deprecate_term",
        "replay": "governance.view_localitydecision",
    }
    action_denials = {
        "create": "Only privacy officers and data owners propose glossary terms.",
        "update": "Only privacy officers and data owners propose glossary terms.",
        "approve": "Only privacy officers review glossary changes.",
        "reject": "Only privacy officers review glossary changes.",
        "deprecate": "Only privacy officers deprecate terms.",
        "replay": "Your account may not read locality decisions.",
    }
    lookup_field = "slug"
    filterset_fields = ["status"]

    def get_queryset(self):
        return selectors.terms()

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return selectors.term_search(queryset, self.request.query_params.get("q", ""))

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Search name, synonyms, definition")]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=TermWriteSerializer, responses={201: TermSerializer})
    def create(self, request, *args, **kwargs):
        data = _valid(TermWriteSerializer, request)
        term = services.term_create(actor=request.user, **data)
        return Response(self._term(term), status=status.HTTP_201_CREATED)

    @change_schema
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @change_schema
    def update(self, request, *args, **kwargs):
        term = self.get_object()
        serializer = TermWriteSerializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        result = services.term_change(actor=request.user, term=term, **serializer.validated_data)
        if isinstance(result, TermRevision):
            return Response(ProposalSerializer(result).data, status=status.HTTP_202_ACCEPTED)
        return Response(self._term(result))

    def _term(self, term: Term) -> dict:
        return TermSerializer(selectors.terms().get(pk=term.pk)).data

    @extend_schema(
        request=NoteSerializer,
        responses={200: ProposalSerializer, 409: state_conflict("The term is not a draft")},
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, slug=None):
        """Send a draft for review (its proposer)."""
        revision = services.term_submit(
            actor=request.user, term=self.get_object(), **_valid(NoteSerializer, request)
        )
        return Response(ProposalSerializer(revision).data)

    @extend_schema(request=ReviewSerializer, responses={200: TermSerializer, 409: APPROVE_CONFLICT})
    @action(detail=True, methods=["post"])
    def approve(self, request, slug=None):
        """Publish the open proposal; 403 for the person who proposed it."""
        term = services.term_approve(
            actor=request.user, term=self.get_object(), **_valid(ReviewSerializer, request)
        )
        return Response(self._term(term))

    @extend_schema(request=RejectSerializer, responses={200: TermSerializer, 409: REVIEW_CONFLICT})
    @action(detail=True, methods=["post"])
    def reject(self, request, slug=None):
        """Turn the open proposal down, saying why; a new term goes back to draft."""
        term = services.term_reject(
            actor=request.user, term=self.get_object(), **_valid(RejectSerializer, request)
        )
        return Response(self._term(term))

    @extend_schema(
        request=None,
        responses={
            200: TermSerializer,
            409: state_conflict("Nothing about the term awaits review"),
        },
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, slug=None):
        """The proposer takes their open proposal back."""
        term = services.term_withdraw(actor=request.user, term=self.get_object())
        return Response(self._term(term))

    @extend_schema(
        request=DeprecateSerializer,
        responses={
            200: TermSerializer,
            409: state_conflict(
                "The term is not approved (`status`), or locality rules match by it (`rules`)"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def deprecate(self, request, slug=None):
        """Retire an approved term, saying why (privacy officers)."""
        term = services.term_deprecate(
            actor=request.user, term=self.get_object(), **_valid(DeprecateSerializer, request)
        )
        return Response(self._term(term))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "minimum": 1, "maximum": MAX_REPLAY_DAYS},
                description=f"Decisions of the last N days (default {REPLAY_DAYS})",
            )
        ],
        responses={
            200: OpenApiTypes.OBJECT,
            409: OpenApiResponse(description="No change to this approved term awaits review"),
        },
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def replay(self, request, slug=None):
        """What approving the open change would flip: the recorded decisions of the last days
        re-judged with the rules that match by the term using the proposed definition."""
        params = ReplayParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        term = self.get_object()
        result = selectors.proposal_replay(
            term, selectors.open_proposal(term), days=params.validated_data["days"]
        )
        if result is None:
            raise StateConflict({"status": "No change to this approved term awaits review"})
        return Response(result)

    @extend_schema(responses=TermVersionSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[LocusOrdering],
        ordering_fields=["version", "at"],
    )
    def versions(self, request, slug=None):
        """Every published version, newest first."""
        versions = selectors.term_versions(self.get_object())
        return paged(self, versions, lambda page: TermVersionSerializer(page, many=True).data)

    @extend_schema(responses=ProposalSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[LocusOrdering],
        ordering_fields=["created_at", "decided_at", "status"],
    )
    def proposals(self, request, slug=None):
        """Every proposal made for the term and how it was decided, newest first."""
        proposals = selectors.term_proposals(self.get_object())
        return paged(self, proposals, lambda page: ProposalSerializer(page, many=True).data)
