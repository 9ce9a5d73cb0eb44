"""The model registry API: models, their history, lineage and deployments (thin: services
write, selectors read)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.conditional import ConditionalMixin
from catalog.idempotency import IdempotentCreateMixin, idempotent
from catalog.models import Region
from catalog.paging import LocusOrdering, paged
from catalog.permissions import ActsWithPermission
from governance.checks.api import house_json, legal_json
from governance.ml import selectors, services
from governance.models import (
    ModelDeployment,
    Purpose,
    TrainedModel,
    TrainedModelChange,
    TrainingRun,
)
from governance.policy.trained import (
    EDPB_AI_MODELS,
    EDPB_AI_MODELS_VERIFIED,
    MODEL_ACTIONS,
    ModelDecision,
)

User = get_user_model()


class CanViewModels(permissions.BasePermission):
    message = "Your account has no Locus role that may read models."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("governance.view_trainedmodel"))


class ServingSerializer(serializers.Serializer):
    region = serializers.CharField(source="region.code")
    endpoint = serializers.CharField()


class TrainedModelSerializer(serializers.ModelSerializer):
    """A model's entry: training runs by id; its datasets and where it is served, read-only."""

    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), required=False
    )
    training_runs = serializers.PrimaryKeyRelatedField(
        many=True,
        allow_empty=False,
        queryset=TrainingRun.objects.all(),
        help_text="The runs it came from (ids)",
        error_messages={"empty": "Name at least one training run it came from"},
    )
    datasets = serializers.SerializerMethodField(help_text="Slugs of the data it was trained on")
    served_in = ServingSerializer(source="serving", many=True, read_only=True)

    class Meta:
        model = TrainedModel
        fields = [
            "id",
            "name",
            "version",
            "description",
            "uri",
            "owner",
            "training_runs",
            "datasets",
            "served_in",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []  # the service names a taken name and version

    def get_datasets(self, obj) -> list[str]:
        return [read.dataset.slug for read in selectors.training_datasets(obj)]

    def to_representation(self, instance):
        if not hasattr(instance, "serving"):
            instance = selectors.trained_models().get(pk=instance.pk)
        return super().to_representation(instance)

    def create(self, validated_data):
        return services.model_register(actor=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        return services.model_update(
            actor=self.context["request"].user, trained_model=instance, **validated_data
        )


class DeploymentSerializer(serializers.ModelSerializer):
    """A deployment, or a denied attempt at one, with the engine's answer."""

    model = serializers.IntegerField(source="trained_model_id", read_only=True)
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())
    purpose = serializers.SlugRelatedField(slug_field="code", queryset=Purpose.objects.all())
    scopes = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        required=False,
        max_length=20,
        write_only=True,
        help_text="What you declare about the recipient there (e.g. dpf-certified)",
    )
    legal = serializers.SerializerMethodField()
    house = serializers.SerializerMethodField()

    class Meta:
        model = ModelDeployment
        fields = [
            "id",
            "model",
            "region",
            "endpoint",
            "purpose",
            "scopes",
            "status",
            "outcome",
            "reason",
            "legal",
            "house",
            "causes",
            "policy_version",
            "requested_by_name",
            "created_at",
            "retired_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "outcome",
            "reason",
            "causes",
            "policy_version",
            "requested_by_name",
            "created_at",
            "retired_at",
        ]

    def get_legal(self, obj) -> dict[str, str]:
        return {
            "outcome": obj.legal_outcome,
            "reason": obj.legal_reason,
            "citation": obj.legal_citation,
        }

    def get_house(self, obj) -> dict[str, str]:
        return {"outcome": obj.house_outcome, "reason": obj.house_reason}


class ModelCheckSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=sorted(MODEL_ACTIONS))
    region = serializers.SlugRelatedField(slug_field="code", queryset=Region.objects.all())
    purpose = serializers.SlugRelatedField(slug_field="code", queryset=Purpose.objects.all())
    scopes = serializers.ListField(
        child=serializers.SlugField(max_length=40), required=False, max_length=20
    )


class ModelChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainedModelChange
        fields = ["revision", "action", "actor_name", "at", "changed_fields", "before", "after"]


def decision_json(answer: ModelDecision) -> dict[str, Any]:
    """The engine's answer for a model, with each training dataset's."""
    return {
        "outcome": answer.outcome,
        "reason": answer.reason,
        "legal": legal_json(answer.legal),
        "house": house_json(answer.house),
        "causes": list(answer.causes),
        "datasets": [
            {
                "dataset": slug,
                "outcome": d.outcome,
                "legal": legal_json(d.legal),
                "house": house_json(d.house),
            }
            for slug, d in answer.per_dataset
        ],
        "anonymity": {
            "presumed_anonymous": not answer.personal,
            "citation": EDPB_AI_MODELS,
            "verified": EDPB_AI_MODELS_VERIFIED,
        },
        "grants": list(answer.grant_ids),
        "policy_version": answer.policy_version,
    }


class TrainedModelViewSet(
    ConditionalMixin,
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Trained models: registered with the runs they came from, deployed where the engine
    allows. Any role reads; owners and privacy officers change and deploy."""

    serializer_class = TrainedModelSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewModels, ActsWithPermission]
    action_permissions = {"create": "governance.add_trainedmodel"}
    object_checks = {"update": services.can_change_model, "deploy": services.can_change_model}
    action_denials = {
        "update": "Only the model's owner or a privacy officer may change it",
        "deploy": "Only the model's owner or a privacy officer may deploy it",
    }
    filterset_fields = ["name", "version"]
    ordering_fields = ["name", "version", "created_at", "updated_at"]

    def get_queryset(self):
        return selectors.trained_models()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method == "POST" and self.action == "deploy":  # a deployment is a create
            self.post = idempotent(self.post, self._deployment_location)

    def _deployment_location(self, response: Response) -> str:
        found = response.data.get("id") if isinstance(response.data, dict) else None
        return f"/api/v1/model-deployments/{found}/" if found else ""

    @extend_schema(responses=ModelChangeSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        filter_backends=[LocusOrdering],
        ordering_fields=["revision", "at"],
    )
    def history(self, request, pk=None):
        """Every change to the model's entry and every deployment of it: who, when, what."""
        found = self.get_object()
        return paged(
            self,
            selectors.model_history(found.pk),
            lambda page: ModelChangeSerializer(page, many=True).data,
        )

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def lineage(self, request, pk=None):
        """Back to the data: the runs it came from and the datasets each read."""
        found = self.get_object()
        runs = [
            {
                "run": run.pk,
                "name": run.name,
                "verdict": run.verdict,
                "datasets": [
                    {"dataset": read.dataset.slug, "version": read.dataset_version}
                    for read in run.inputs.all()
                ],
            }
            for run in found.training_runs.all()
        ]
        return Response({"model": found.pk, "runs": runs})

    @extend_schema(request=DeploymentSerializer, responses={201: DeploymentSerializer})
    @action(detail=True, methods=["post"])
    def deploy(self, request, pk=None):
        """Deploy the model to a region to serve from. The engine judges it from the data it was
        trained on: the answer is 201 either way, `status` `active` or `denied` (recorded, with
        the law, the house rules and the training datasets that deny it in `causes`)."""
        found = self.get_object()
        body = DeploymentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        deployment, answer = services.model_deploy(
            actor=request.user,
            trained_model=found,
            region=data["region"],
            purpose=data["purpose"],
            endpoint=data.get("endpoint", ""),
            scopes=data.get("scopes", ()),
        )
        answer_body = dict(DeploymentSerializer(deployment).data)
        answer_body["decision"] = decision_json(answer)
        return Response(answer_body, status=status.HTTP_201_CREATED)

    @extend_schema(request=ModelCheckSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        """May the model be deployed (`deploy`) or serve inferences (`infer`) in a region? The
        answer is recorded; nothing is deployed."""
        found = self.get_object()
        body = ModelCheckSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        answer = services.model_check(
            actor=request.user,
            trained_model=found,
            action=data["action"],
            region=data["region"],
            purpose=data["purpose"],
            scopes=data.get("scopes", ()),
        )
        return Response(decision_json(answer))


class ModelDeploymentViewSet(ConditionalMixin, viewsets.ReadOnlyModelViewSet):
    """Deployments of models, serving, denied and retired; retire one with If-Match."""

    serializer_class = DeploymentSerializer
    permission_classes = [permissions.IsAuthenticated, CanViewModels]
    filterset_fields = {
        "status": ["exact"],
        "region__code": ["exact"],
        "trained_model": ["exact"],
    }
    ordering_fields = ["created_at", "status"]

    def get_queryset(self):
        return selectors.deployments()

    @extend_schema(request=None, responses=DeploymentSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        """Stop serving from this region (its model's owner or an officer); 409 unless serving."""
        deployment = services.deployment_retire(actor=request.user, deployment=self.get_object())
        return Response(DeploymentSerializer(deployment).data)
