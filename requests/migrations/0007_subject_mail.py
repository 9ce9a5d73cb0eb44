# Operations are added as the work that needs them lands.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0006_append_only"),
    ]

    operations = []
