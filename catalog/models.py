"""The geography-tagged data catalog: jurisdictions, regions, datasets, lineage, history."""

from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from catalog.append_only import append_only_reference
from catalog.fields import LONG_TEXT, BoundedTextField


class Regime(models.TextChoices):
    GDPR = "gdpr", "GDPR (EU/EEA)"
    UK_GDPR = "uk_gdpr", "UK GDPR"
    FADP = "fadp", "Swiss FADP"
    CCPA = "ccpa", "CCPA/CPRA (California)"
    VCDPA = "vcdpa", "VCDPA (Virginia)"
    CPA = "cpa", "CPA (Colorado)"
    OCPA = "ocpa", "OCPA (Oregon)"
    LGPD = "lgpd", "LGPD (Brazil)"
    PIPL = "pipl", "PIPL (China)"
    DPDP = "dpdp", "DPDP Act (India)"
    PIPEDA = "pipeda", "PIPEDA (Canada)"
    APPI = "appi", "APPI (Japan)"
    PIPA = "pipa", "PIPA (Republic of Korea)"
    PDPA_SG = "pdpa_sg", "PDPA (Singapore)"
    PRIVACY_ACT_AU = "privacy_act_au", "Privacy Act 1988 (Australia)"
    OTHER = "other", "Other"


class DeadlineUnit(models.TextChoices):
    CALENDAR_MONTHS = "months", "calendar months"
    CALENDAR_DAYS = "days", "calendar days"
    BUSINESS_DAYS = "business_days", "business days"
    NONE = "none", "no fixed period"


class Sensitivity(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class LawfulBasis(models.TextChoices):
    NOT_PERSONAL = "not_personal", "Not personal data"
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTERESTS = "vital_interests", "Vital interests"
    PUBLIC_TASK = "public_task", "Public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Legitimate interests"


class Country(models.Model):
    """A country or territory, by its ISO 3166-1 code."""

    code = models.CharField(
        primary_key=True, max_length=2, validators=[RegexValidator(r"^[A-Z]{2}$")]
    )
    iso3 = models.CharField(max_length=3, unique=True)
    name = models.CharField(max_length=100)
    latitude = models.FloatField()
    longitude = models.FloatField()
    in_eea = models.BooleanField(default=False, help_text="A member of the European Economic Area")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "countries"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Jurisdiction(models.Model):
    """A body of data-protection law and the places it covers, with its subject-request clock."""

    code = models.SlugField(primary_key=True, max_length=20)
    name = models.CharField(max_length=120)
    regime = models.CharField(max_length=20, choices=Regime.choices)
    countries = models.ManyToManyField(Country, related_name="jurisdictions", blank=True)
    dsr_deadline_amount = models.PositiveIntegerField(
        default=0, help_text="Time to answer a data-subject request (0 with unit 'none')"
    )
    dsr_deadline_unit = models.CharField(
        max_length=20, choices=DeadlineUnit.choices, default=DeadlineUnit.NONE
    )
    dsr_extension_amount = models.PositiveIntegerField(default=0)
    dsr_extension_unit = models.CharField(
        max_length=20, choices=DeadlineUnit.choices, default=DeadlineUnit.NONE
    )
    dsr_acknowledge_business_days = models.PositiveIntegerField(null=True, blank=True)
    dsr_citation = models.CharField(max_length=300, blank=True)
    transfer_rules = models.TextField(blank=True, help_text="How personal data may leave it")
    transfer_citation = models.CharField(max_length=300, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AdequacyDecision(models.Model):
    """A decision that a country protects personal data adequately, in force between two dates."""

    class Scope(models.TextChoices):
        FULL = "full", "Full"
        PARTIAL = "partial", "Partial: a named sector (e.g. commercial organisations)"
        CERTIFIED = "certified", "Certified organisations only (e.g. the Data Privacy Framework)"

    decided_by = models.ForeignKey(
        Jurisdiction, on_delete=models.PROTECT, related_name="adequacy_decisions"
    )
    country = models.ForeignKey(
        Country, on_delete=models.PROTECT, related_name="adequacy_decisions"
    )
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.FULL)
    scope_code = models.SlugField(
        max_length=40,
        blank=True,
        help_text="Who is in scope of a partial or certified decision, as a locality check names "
        "its recipient (e.g. dpf-certified, pipeda-commercial); empty for a full decision",
    )
    scope_description = models.CharField(max_length=300, blank=True)
    instrument = models.CharField(max_length=200)
    effective_from = models.DateField()
    effective_until = models.DateField(null=True, blank=True)
    citation = models.CharField(max_length=300)
    verified = models.BooleanField(
        default=False,
        help_text="Checked against the instrument's own text or the regulator's official page",
    )
    source = models.CharField(max_length=300, blank=True, help_text="The address that was read")
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["country__name", "effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True)
                | Q(effective_until__gt=models.F("effective_from")),
                name="adequacy_until_after_from",
            )
        ]

    def __str__(self) -> str:
        return f"{self.decided_by_id} adequacy: {self.country_id} ({self.instrument})"


class Region(models.Model):
    """A place where storage or compute lives, in one country and under one jurisdiction."""

    class Provider(models.TextChoices):
        AWS = "aws", "Amazon Web Services"
        GCP = "gcp", "Google Cloud"
        AZURE = "azure", "Microsoft Azure"
        ALIBABA = "alibaba", "Alibaba Cloud"
        OCI = "oci", "Oracle Cloud"
        ONPREM = "onprem", "On-premises site"

    code = models.CharField(
        max_length=60,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9]+:[a-z0-9][a-z0-9-]*$", "Use provider:name")],
        help_text="provider:name, e.g. aws:eu-west-1 or onprem:fra1",
    )
    provider = models.CharField(max_length=20, choices=Provider.choices)
    name = models.CharField(max_length=120)
    city = models.CharField(max_length=80, blank=True)
    country = models.ForeignKey(Country, on_delete=models.PROTECT, related_name="regions")
    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.PROTECT, related_name="regions")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class PersonalDataCategory(models.Model):
    """One entry of the small taxonomy of personal data (contact, health, biometric...)."""

    code = models.SlugField(primary_key=True, max_length=40)
    name = models.CharField(max_length=80)
    special = models.BooleanField(
        default=False,
        help_text="Special-category or sensitive personal data (GDPR Art. 9, PIPL Art. 28)",
    )
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "personal data categories"

    def __str__(self) -> str:
        return self.name


TAG_NAME_MAX_LENGTH = 50


class Tag(models.Model):
    """A free label on datasets."""

    name = models.SlugField(max_length=TAG_NAME_MAX_LENGTH, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Dataset(models.Model):
    """A dataset: where it is stored, under which law, how sensitive, who owns it, where it may go."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120, unique=True)
    description = BoundedTextField(max_length=LONG_TEXT, blank=True)
    uri = models.CharField(
        max_length=500,
        blank=True,
        help_text="How pipelines name it: a URI or an OpenLineage namespace/name",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_datasets"
    )
    steward = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stewarded_datasets",
    )
    storage_region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="stored_datasets"
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        on_delete=models.PROTECT,
        related_name="stored_datasets",
        help_text="The law it is stored under; must cover the storage region's country",
    )
    sensitivity = models.CharField(max_length=20, choices=Sensitivity.choices)
    personal_data_categories = models.ManyToManyField(
        PersonalDataCategory, related_name="datasets", blank=True
    )
    subject_jurisdictions = models.ManyToManyField(
        Jurisdiction,
        related_name="subject_datasets",
        blank=True,
        help_text="Where the data subjects are",
    )
    lawful_basis = models.CharField(
        max_length=30, choices=LawfulBasis.choices, default=LawfulBasis.NOT_PERSONAL
    )
    retention_days = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    allowed_processing_regions = models.ManyToManyField(
        Region,
        related_name="processable_datasets",
        blank=True,
        help_text="Where it may be processed; empty means only where it is stored",
    )
    tags = models.ManyToManyField(Tag, related_name="datasets", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["uri"]),
            models.Index(fields=["sensitivity"]),
            # The catalog's list order: a page is read off the index, not sorted from every row.
            models.Index(fields=["name", "id"], name="dataset_list_order"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(retention_days__gte=1), name="dataset_retention_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def holds_personal_data(self) -> bool:
        return self.lawful_basis != LawfulBasis.NOT_PERSONAL


class DatasetUserObjectPermission(UserObjectPermissionBase):
    """guardian's direct foreign-key permission table for datasets (cheap joins on a large table)."""

    content_object = models.ForeignKey(Dataset, on_delete=models.CASCADE)


class DatasetGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Dataset, on_delete=models.CASCADE)


class LineageEdge(models.Model):
    """Data flows from upstream to downstream through a transformation."""

    upstream = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="downstream_edges")
    downstream = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="upstream_edges")
    transformation = models.CharField(max_length=300, blank=True)
    techniques = models.JSONField(
        default=list,
        blank=True,
        help_text="How the downstream dataset was produced from the upstream one "
        "(catalog.techniques: e.g. synthetic, anonymisation, differential_privacy)",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream"], name="lineage_edge_unique"),
            models.CheckConstraint(
                condition=~Q(upstream=models.F("downstream")), name="lineage_edge_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.upstream_id} -> {self.downstream_id}"


class AppendOnlyQuerySet(models.QuerySet):
    """A queryset that refuses bulk changes: history is corrected by new rows, never rewritten."""

    def update(self, **kwargs):
        raise PermissionError(f"{self.model.__name__} rows are append-only")

    def delete(self):
        raise PermissionError(f"{self.model.__name__} rows are append-only")

    def bulk_create(self, objs, *args, update_conflicts: bool = False, **kwargs):
        if update_conflicts:
            raise PermissionError(f"{self.model.__name__} rows are append-only: no upserts")
        return super().bulk_create(objs, *args, **kwargs)


class AppendOnly(models.Model):
    """A row that is written once: saving it again or deleting it is refused."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A new instance carrying an existing primary key would UPDATE that row: refuse any pk.
        if not self._state.adding or self.pk is not None:
            raise PermissionError(f"{type(self).__name__} rows are append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{type(self).__name__} rows are append-only")


class DatasetChange(AppendOnly):
    """One version of a dataset's catalog entry: who changed it, when, before and after."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        DELETED = "deleted", "Deleted"

    # References that deleting the dataset or the person leaves alone (the row is append-only);
    # dataset_slug and actor_name say who and what.
    dataset = append_only_reference(Dataset, related_name="changes")
    dataset_slug = models.CharField(max_length=120, db_index=True)
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    actor = append_only_reference(settings.AUTH_USER_MODEL)
    actor_name = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    changed_fields = models.JSONField(default=list)

    class Meta:
        ordering = ["dataset_slug", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset_slug", "version"], name="dataset_change_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dataset_slug} v{self.version} ({self.action})"


class Revision(models.Model):
    """A counter per kind of policy input; a change bumps it so every process rebuilds its index."""

    key = models.SlugField(primary_key=True, max_length=40)
    value = models.PositiveBigIntegerField(default=0)
    # A fresh random stamp with every bump: a counter value seen inside a transaction that
    # rolled back can come again, its stamp never does.
    stamp = models.CharField(max_length=16, default="")

    def __str__(self) -> str:
        return f"{self.key}@{self.value}"


class IdempotencyRecord(models.Model):
    """The first answer to a create sent with an `Idempotency-Key`, per person and key, kept
    IDEMPOTENCY_KEY_HOURS to answer its retries (catalog.idempotency)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the path and body")
    status = models.PositiveSmallIntegerField(default=0)
    response = models.JSONField(default=dict)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


# The law's facts live in their own module; importing them here registers them with the app.
from catalog.law import (  # noqa: E402, F401
    BreachClock,
    ConsentLaw,
    DestinationRestriction,
    LocalisationDuty,
    SubjectRights,
    TransferLaw,
    TransferModel,
)
