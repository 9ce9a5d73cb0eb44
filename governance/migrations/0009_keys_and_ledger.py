# Operations are added as the work that needs them lands.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0008_append_only"),
    ]

    operations = []
