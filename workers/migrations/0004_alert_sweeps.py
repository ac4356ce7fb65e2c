from django.db import migrations


def add_alert_sweeps(apps, schema_editor):
    from workers.migrations import _schedule

    _schedule.write_defaults(apps, only=("alerts streams", "alerts orders"))


class Migration(migrations.Migration):
    dependencies = [("workers", "0003_binance_rate_limits")]

    operations = [migrations.RunPython(add_alert_sweeps, migrations.RunPython.noop)]
