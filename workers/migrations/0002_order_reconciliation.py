from django.db import migrations


def add_order_reconciliation(apps, schema_editor):
    from workers.migrations import _schedule

    _schedule.write_defaults(apps, only=("order reconciliation",))


class Migration(migrations.Migration):
    dependencies = [("workers", "0001_default_schedule")]

    operations = [migrations.RunPython(add_order_reconciliation, migrations.RunPython.noop)]
