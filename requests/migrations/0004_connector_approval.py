# Connectors run only in the version a privacy officer approved. Errors kept on tasks before
# errors were redacted may quote the subject: they are replaced by a note.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

EARLIER_ERROR = (
    "An earlier connector error was removed (it may have quoted the subject's identifiers); "
    "run the connector again to see a redacted one"
)


def forget_earlier_errors(apps, schema_editor):
    """Task errors written before redaction existed; the timeline's cannot be rewritten."""
    tasks = apps.get_model("workflows", "SubjectTask")
    tasks.objects.filter(automatic=True).exclude(last_error="").update(last_error=EARLIER_ERROR)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0003_list_order_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetconnector",
            name="version",
            field=models.PositiveIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name="datasetconnector",
            name="approved_version",
            field=models.PositiveIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="datasetconnector",
            name="approved_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="datasetconnector",
            name="approved_by_name",
            field=models.CharField(blank=True, editable=False, max_length=150),
        ),
        migrations.AddField(
            model_name="datasetconnector",
            name="approved_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(forget_earlier_errors, migrations.RunPython.noop),
    ]
