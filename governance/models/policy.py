"""Governance: purposes, locality rules, transfer grants, training runs and locality decisions."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.append_only import append_only_reference
from catalog.fields import TEXT, BoundedTextField
from catalog.models import (
    AppendOnly,
    Country,
    Dataset,
    Jurisdiction,
    PersonalDataCategory,
    Region,
    Sensitivity,
)


class Action(models.TextChoices):
    STORE = "store", "Store"
    PROCESS = "process", "Process"
    TRAIN = "train", "Train"
    TRANSFER = "transfer", "Transfer"
    ACCESS = "access", "Access"
    # A trained model's: put it in a region to serve, answer queries there (governance.ml).
    DEPLOY = "deploy", "Deploy a model"
    INFER = "infer", "Serve a model's inferences"


class Outcome(models.TextChoices):
    ALLOW = "allow", "Allow"
    ALLOW_WITH_GRANT = "allow_with_grant", "Allow with grant"
    DENY = "deny", "Deny"


class LegalOutcome(models.TextChoices):
    """What the law says of a transfer (governance.policy.law)."""

    ALLOW = "allow", "Lawful"
    NOT_ENCODED = "not_encoded", "No transfer rule encoded"
    NEEDS_MECHANISM = "needs_mechanism", "Needs a transfer mechanism"
    DENY = "deny", "Unlawful"


class HouseOutcome(models.TextChoices):
    """What the organisation's own rules say (officers' rules, declared regions)."""

    ALLOW = "allow", "Allowed by the house rules"
    DENY = "deny", "Denied by the house rules"


class Purpose(models.Model):
    """A registered purpose of processing; checks and grants name one."""

    code = models.SlugField(primary_key=True, max_length=60)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class LocalityRule(models.Model):
    """A privacy officer's rule: data matching these conditions may go only to, or never to, these places."""

    class Effect(models.TextChoices):
        ALLOW_ONLY = "allow_only", "Only to these places"
        DENY = "deny", "Never to these places"

    name = models.CharField(max_length=200)
    description = BoundedTextField(max_length=TEXT, blank=True)
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Matches datasets stored under it or whose data subjects are under it",
    )
    sensitivity = models.CharField(max_length=20, choices=Sensitivity.choices, blank=True)
    category = models.ForeignKey(
        PersonalDataCategory, on_delete=models.PROTECT, null=True, blank=True
    )
    term = models.ForeignKey(
        "governance.Term",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rules_using",
        help_text="An approved glossary term: matches datasets holding any of its categories",
    )
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, null=True, blank=True, related_name="locality_rules"
    )
    actions = models.JSONField(default=list, blank=True, help_text="Empty: every action")
    unless_techniques = models.JSONField(
        default=list,
        blank=True,
        help_text="Work that declares all of these techniques (e.g. federated, "
        "secure_aggregation) is outside this rule. Empty: the rule speaks of all work",
    )
    effect = models.CharField(max_length=20, choices=Effect.choices)
    regions = models.ManyToManyField(Region, blank=True, related_name="locality_rules")
    countries = models.ManyToManyField(Country, blank=True, related_name="locality_rules")
    priority = models.IntegerField(default=100, help_text="Higher is considered first")
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return self.name


class LocalityRuleVersion(AppendOnly):
    """One version of a locality rule, kept when it is created, changed or deleted."""

    # References that deleting the rule or the person leaves alone (the row is append-only).
    rule = append_only_reference(LocalityRule, related_name="versions")
    rule_ref = models.PositiveBigIntegerField(
        db_index=True, help_text="The rule's id, kept after deletion"
    )
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=10)
    snapshot = models.JSONField()
    actor = append_only_reference(settings.AUTH_USER_MODEL)
    actor_name = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rule_ref", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule_ref", "version"], name="rule_version_unique")
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_ref} v{self.version}"


class TransferMechanism(models.TextChoices):
    ADEQUACY = "adequacy", "Adequacy decision (certified or in-scope recipient)"
    SCC = "scc", "Standard contractual clauses (GDPR Art. 46(2)(c))"
    BCR = "bcr", "Binding corporate rules (GDPR Art. 47)"
    ART49 = "art49", "Art. 49 derogation"
    PIPL_STANDARD_CONTRACT = "pipl_standard_contract", "PIPL standard contract (Art. 38(1)(3))"
    PIPL_CERTIFICATION = "pipl_certification", "PIPL certification (Art. 38(1)(2))"
    PIPL_SECURITY_ASSESSMENT = (
        "pipl_security_assessment",
        "CAC security assessment (PIPL Art. 38(1)(1))",
    )
    CONSENT = "consent", "Explicit consent"
    OTHER = "other", "Other lawful route"


class TransferGrant(models.Model):
    """The effective permission an approved exception creates: these datasets may go there, then."""

    datasets = models.ManyToManyField(Dataset, related_name="transfer_grants")
    destination_regions = models.ManyToManyField(Region, related_name="transfer_grants")
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, null=True, blank=True, help_text="Empty: any purpose"
    )
    mechanism = models.CharField(max_length=40, choices=TransferMechanism.choices)
    mechanism_detail = models.CharField(
        max_length=200, blank=True, help_text="e.g. SCC module 2, or which Art. 49 derogation"
    )
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_by_name = models.CharField(max_length=150)
    reference = models.CharField(max_length=100, blank=True, help_text="The exception it came from")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoke_reason = BoundedTextField(max_length=TEXT, blank=True)

    class Meta:
        ordering = ["-valid_from", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("valid_from")), name="grant_until_after_from"
            )
        ]

    def __str__(self) -> str:
        return f"Grant #{self.pk} ({self.get_mechanism_display()})"


class TrainingRun(models.Model):
    """A training run registered by a pipeline, with its locality verdict."""

    class Mode(models.TextChoices):
        CENTRALIZED = "centralized", "Centralized"
        FEDERATED = "federated", "Federated"

    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.CENTRALIZED)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT)
    justification = BoundedTextField(max_length=TEXT, blank=True)
    compute_regions = models.ManyToManyField(Region, related_name="training_runs")
    verdict = models.CharField(max_length=20, choices=Outcome.choices)
    model_name = models.CharField(max_length=200, blank=True, help_text="The model it produces")
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="What the run declares about the recipients where it computes (e.g. "
        "appi-private-sector), answering the scope question of a partial adequacy decision",
    )
    techniques = models.JSONField(
        default=list, blank=True, help_text="How it trains (catalog.techniques), as declared"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "external_id"],
                condition=~models.Q(external_id=""),
                name="training_run_external_id_once_per_account",
            )
        ]

    def __str__(self) -> str:
        return self.name


class TrainingRunDataset(models.Model):
    """A dataset a training run reads, at a version."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="training_inputs")
    dataset_version = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "dataset"], name="training_input_unique")
        ]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.dataset_id}@{self.dataset_version or 'latest'}"


class LocalityDecision(AppendOnly):
    """One answer of the policy engine, as given: append-only."""

    class Context(models.TextChoices):
        CHECK = "check", "Locality check"
        TRAINING_PLAN = "training_plan", "Training run registration"
        TRAINING_READ = "training_read", "Training run read"
        TELEMETRY = "telemetry", "Telemetry"
        PLAN = "plan", "Infrastructure plan check"
        MODEL_DEPLOY = "model_deploy", "Model deployment"
        MODEL_CHECK = "model_check", "Model check"

    at = models.DateTimeField(help_text="The time the work happens (what the rules were judged at)")
    decided_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # References that deleting their targets leaves alone (the row is append-only); the slug,
    # the actor's name and the rule text say what was decided for whom.
    dataset = append_only_reference(Dataset, related_name="locality_decisions")
    dataset_slug = models.CharField(max_length=120, db_index=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    region_code = models.CharField(max_length=60)
    country = models.CharField(max_length=2)
    purpose = models.CharField(max_length=60)
    actor = append_only_reference(settings.AUTH_USER_MODEL)
    actor_name = models.CharField(max_length=150)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    rule = models.CharField(max_length=120)
    reason = models.TextField()
    # The two halves of the answer, apart: the final outcome is the stricter. Empty on answers
    # recorded before the law and the house rules were told apart.
    legal_outcome = models.CharField(max_length=20, choices=LegalOutcome.choices, blank=True)
    legal_rule = models.CharField(max_length=120, blank=True)
    legal_reason = models.TextField(blank=True)
    legal_citation = models.CharField(max_length=300, blank=True)
    legal_regime = models.CharField(max_length=20, blank=True, help_text="The jurisdiction")
    house_outcome = models.CharField(max_length=10, choices=HouseOutcome.choices, blank=True)
    house_rule = models.CharField(max_length=120, blank=True)
    house_reason = models.TextField(blank=True)
    scopes = models.JSONField(
        default=list, blank=True, help_text="What the caller declared about the recipient"
    )
    techniques = models.JSONField(
        default=list, blank=True, help_text="The privacy techniques the work declared, as declared"
    )
    grant = append_only_reference(TransferGrant)
    policy_version = models.CharField(max_length=60)
    context = models.CharField(max_length=20, choices=Context.choices, default=Context.CHECK)
    training_run = append_only_reference(TrainingRun, related_name="decisions")
    trained_model = append_only_reference("governance.TrainedModel", related_name="decisions")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["outcome", "decided_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.outcome} {self.dataset_slug} @ {self.region_code}"
