"""Deleting a person never touches the append-only timelines of exceptions and subject requests
(whose trigger refused the SET NULL, so the deletion failed): the actor is a reference without
a database constraint, and actor_name says who acted."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


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
        ("workflows", "0005_subject_verification"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="exceptionevent",
            name="actor",
            field=reference(related_name="+", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name="subjectevent",
            name="actor",
            field=reference(related_name="+", to=settings.AUTH_USER_MODEL),
        ),
    ]
