from django.db import migrations


def create_default_schedule(apps, schema_editor):
    from workers.schedule import default_schedule

    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, entry in default_schedule().items():
        interval, _ = interval_model.objects.get_or_create(every=entry["every"],
                                                           period="seconds")
        task_model.objects.get_or_create(name=name, defaults={
            "task": entry["task"], "interval": interval, "queue": entry["queue"],
            "expire_seconds": entry["every"]})


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(create_default_schedule, migrations.RunPython.noop)]
