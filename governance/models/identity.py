"""Who a person is at an identity provider: the link that single sign-on finds them by."""

from django.conf import settings
from django.db import models


class ExternalIdentity(models.Model):
    """A person's account at an OpenID Connect provider (issuer + `sub`, never the e-mail
    address, which the provider may reassign), with the roles and jurisdictions its claims gave
    at the last sign-in: those are the ones a later sign-in may take away again."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities"
    )
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255, help_text="The provider's `sub` claim")
    granted_roles = models.JSONField(default=list, blank=True, editable=False)
    granted_jurisdictions = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "external identities"
        ordering = ["issuer", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_external_identity")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
