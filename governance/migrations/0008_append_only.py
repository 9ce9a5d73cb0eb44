# Operations are added as the work that needs them lands.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0007_ledger_head"),
    ]

    operations = []
