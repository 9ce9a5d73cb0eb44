"""Models as catalog assets: a trained model, the runs it came from, where it is deployed."""

from django.conf import settings
from django.db import models

from catalog.append_only import append_only_reference
from catalog.fields import TEXT, BoundedTextField
from catalog.models import AppendOnly, Region
from governance.models.policy import LegalOutcome, Outcome, Purpose, TrainingRun


class TrainedModel(models.Model):
    """A trained model: its version, its artefact, its owner and the runs that trained it."""

    name = models.CharField(max_length=200)
    version = models.CharField(max_length=60, help_text="The model's version, e.g. 2.1.0")
    description = BoundedTextField(max_length=TEXT, blank=True)
    uri = models.CharField(
        "artefact URI", max_length=500, help_text="Where the artefact is stored, e.g. s3://..."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_models"
    )
    training_runs = models.ManyToManyField(TrainingRun, related_name="trained_models")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="trained_model_version_once")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class TrainedModelChange(AppendOnly):
    """One change to a model's entry (or a deployment of it): who, when, before and after."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        DEPLOYED = "deployed", "Deployed"
        DEPLOY_DENIED = "deploy_denied", "Deployment denied"
        RETIRED = "retired", "Deployment retired"

    trained_model = append_only_reference(TrainedModel, related_name="changes")
    model_ref = models.PositiveBigIntegerField(db_index=True, help_text="Kept after deletion")
    model_repr = models.CharField(max_length=270)
    revision = models.PositiveIntegerField()
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = append_only_reference(settings.AUTH_USER_MODEL)
    actor_name = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    changed_fields = models.JSONField(default=list)

    class Meta:
        ordering = ["model_ref", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_ref", "revision"], name="trained_model_change_revision_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model_repr} r{self.revision} ({self.action})"


class ModelDeployment(models.Model):
    """Where a model is (or was asked to be) deployed and served: one region, with the engine's
    answer. A denied deployment is kept too: it says who asked, and why not."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Serving"
        DENIED = "denied", "Denied"
        RETIRED = "retired", "Retired"

    trained_model = models.ForeignKey(
        TrainedModel, on_delete=models.CASCADE, related_name="deployments"
    )
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="model_deployments")
    endpoint = models.CharField(max_length=500, blank=True, help_text="Where it is served")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT)
    status = models.CharField(max_length=10, choices=Status.choices, editable=False)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    reason = models.TextField()
    legal_outcome = models.CharField(max_length=20, choices=LegalOutcome.choices, blank=True)
    legal_reason = models.TextField(blank=True)
    legal_citation = models.CharField(max_length=300, blank=True)
    house_outcome = models.CharField(max_length=10, blank=True)
    house_reason = models.TextField(blank=True)
    causes = models.JSONField(
        default=list, blank=True, help_text="Slugs of the training datasets that deny it"
    )
    policy_version = models.CharField(max_length=60)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["trained_model", "status"])]

    def __str__(self) -> str:
        return f"{self.trained_model} @ {self.region_id} ({self.status})"
