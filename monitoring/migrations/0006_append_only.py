# Operations are added as the work that needs them lands.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0005_event_lighter_keys"),
    ]

    operations = []
