"""Dataset history is append-only in the database too: a trigger refuses UPDATE and DELETE on
PostgreSQL, and its references no longer change when a dataset or a person is deleted."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from catalog.append_only import AppendOnlyTrigger


def reference(**kwargs):
    return models.ForeignKey(
        blank=True,
        db_constraint=False,
        null=True,
        on_delete=django.db.models.deletion.DO_NOTHING,
        **kwargs,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_list_order_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="datasetchange",
            name="actor",
            field=reference(to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="datasetchange",
            name="dataset",
            field=reference(related_name="changes", to="catalog.dataset"),
        ),
        AppendOnlyTrigger("DatasetChange"),
    ]
