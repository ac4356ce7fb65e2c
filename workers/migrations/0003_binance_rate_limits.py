from django.db import migrations


def add_binance_rate_limits(apps, schema_editor):
    from workers.migrations import _schedule

    _schedule.write_defaults(apps, only=("binance rate limits",))


class Migration(migrations.Migration):
    dependencies = [("workers", "0002_order_reconciliation")]

    operations = [migrations.RunPython(add_binance_rate_limits, migrations.RunPython.noop)]
