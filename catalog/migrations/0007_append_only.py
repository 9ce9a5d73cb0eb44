# Operations are added as the work that needs them lands.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_list_order_indexes"),
    ]

    operations = []
