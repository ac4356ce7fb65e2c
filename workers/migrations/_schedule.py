"""Shared by the schedule data migrations: get_or_create, so edits in the admin stick."""


def write_defaults(apps, only=None):
    from workers.schedule import default_schedule

    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, entry in default_schedule().items():
        if only is not None and name not in only:
            continue
        interval, _ = interval_model.objects.get_or_create(every=entry["every"], period="seconds")
        task_model.objects.get_or_create(
            name=name,
            defaults={
                "task": entry["task"],
                "interval": interval,
                "queue": entry["queue"],
                "expire_seconds": entry["every"],
            },
        )
