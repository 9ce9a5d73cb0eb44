# Verification by an unguessable token; wrong codes slow the next attempt instead of
# rejecting the request.

import secrets

from django.db import migrations, models

import requests.models.subjects


def give_every_request_a_token(apps, schema_editor):
    """Requests made before tokens existed get their own (one query per request, once)."""
    SubjectRequest = apps.get_model("workflows", "SubjectRequest")
    for pk in SubjectRequest.objects.filter(verify_token__isnull=True).values_list("pk", flat=True):
        SubjectRequest.objects.filter(pk=pk).update(verify_token=secrets.token_urlsafe(24))


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0004_connector_approval"),
    ]

    operations = [
        migrations.AddField(
            model_name="subjectrequest",
            name="verify_token",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(give_every_request_a_token, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="subjectrequest",
            name="verify_token",
            field=models.CharField(
                default=requests.models.subjects.new_verify_token,
                editable=False,
                max_length=64,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="subjectrequest",
            name="verify_failures",
            field=models.PositiveIntegerField(
                default=0, editable=False, help_text="Wrong codes since the last success or unlock"
            ),
        ),
        migrations.AddField(
            model_name="subjectrequest",
            name="verify_wait_until",
            field=models.DateTimeField(
                blank=True, editable=False, help_text="No code is checked or sent before", null=True
            ),
        ),
        migrations.AddField(
            model_name="subjectrequest",
            name="codes_resent",
            field=models.PositiveSmallIntegerField(
                default=0, editable=False, help_text="New codes asked for since the last unlock"
            ),
        ),
        migrations.AlterField(
            model_name="subjectrequest",
            name="verification",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("verified", "Verified"),
                    ("locked", "Locked: no code is taken until an officer unlocks"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
    ]
