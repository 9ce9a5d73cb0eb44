"""Rule versions and locality decisions are append-only in the database too: a trigger refuses
UPDATE and DELETE on PostgreSQL, and their references no longer change when what they name (a
person, a dataset, a rule, a grant, a training run) is deleted."""

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
        ("governance", "0007_ledger_head"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="localitydecision",
            name="actor",
            field=reference(to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="localitydecision",
            name="dataset",
            field=reference(related_name="locality_decisions", to="catalog.dataset"),
        ),
        migrations.AlterField(
            model_name="localitydecision",
            name="grant",
            field=reference(to="governance.transfergrant"),
        ),
        migrations.AlterField(
            model_name="localitydecision",
            name="training_run",
            field=reference(related_name="decisions", to="governance.trainingrun"),
        ),
        migrations.AlterField(
            model_name="localityruleversion",
            name="actor",
            field=reference(to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="localityruleversion",
            name="rule",
            field=reference(related_name="versions", to="governance.localityrule"),
        ),
        AppendOnlyTrigger("LocalityRuleVersion"),
        AppendOnlyTrigger("LocalityDecision"),
    ]
