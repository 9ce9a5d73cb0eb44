# Operations are added as the work that needs them lands.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0003_list_order_indexes"),
    ]

    operations = []
