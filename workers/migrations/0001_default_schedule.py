from django.db import migrations


def create_default_schedule(apps, schema_editor):
    from workers.migrations import _schedule

    _schedule.write_defaults(
        apps, only=("health sweep", "heartbeat sweep", "stale sweep", "cleanup")
    )


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_default_schedule, migrations.RunPython.noop)]
