from django.db import migrations

PURPOSES = [
    ("model-training", "Model training", "Training or fine-tuning a machine-learning model"),
    ("model-evaluation", "Model evaluation", "Evaluating or benchmarking a model"),
    ("inference", "Inference", "Serving predictions from a trained model"),
    ("analytics", "Analytics", "Aggregate reporting and business intelligence"),
    ("fraud-prevention", "Fraud prevention", "Detecting and preventing fraud and abuse"),
    ("customer-support", "Customer support", "Answering customers' requests"),
    ("research", "Research", "Scientific or statistical research"),
    ("product-improvement", "Product improvement", "Improving the product's features"),
    ("marketing", "Marketing", "Direct marketing and advertising"),
    ("security", "Security", "Information security and incident response"),
    ("legal-compliance", "Legal compliance", "Meeting a legal obligation"),
    ("backup", "Backup and disaster recovery", "Copies kept to restore service"),
]


def load(apps, schema_editor):
    Purpose = apps.get_model("governance", "Purpose")
    for code, name, description in PURPOSES:
        Purpose.objects.update_or_create(code=code, defaults={"name": name, "description": description})


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
