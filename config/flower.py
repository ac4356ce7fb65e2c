"""Flower, never open: ``python -m config.flower [flower options]`` (Procfile, compose).

The user:password pairs are settings.FLOWER_BASIC_AUTH: production refuses to start without
them (config/production.py), development generates one into ``var/flower_basic_auth``
(``make run`` prints it). They reach Flower through its environment, which it reads itself,
never on the command line, where ``ps`` would show them; ``--basic-auth`` given on the
command line is refused, so the settings are the one place they come from.
``FLOWER_UNAUTHENTICATED_API`` (an open API) is dropped, and so is
``PROMETHEUS_MULTIPROC_DIR``: Flower's own metrics stay in its memory, apart from ours.

``python -m config.flower credentials`` prints the user:password pairs (dev convenience).
"""

from __future__ import annotations

import os
import sys

DROPPED = ("FLOWER_UNAUTHENTICATED_API", "PROMETHEUS_MULTIPROC_DIR")


class FlowerRefused(SystemExit):
    pass


def flower_command(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command and environment Flower is started with; refuses to run it open."""
    from django.conf import settings

    from config.production import flower_basic_auth_problem

    if any(arg.split("=", 1)[0] in ("--basic-auth", "--basic_auth") for arg in argv):
        raise FlowerRefused(
            "Flower: give FLOWER_BASIC_AUTH in the environment or .env, not "
            "--basic-auth on the command line"
        )
    auth = settings.FLOWER_BASIC_AUTH
    problem = flower_basic_auth_problem(auth)
    if problem:
        raise FlowerRefused(f"Flower does not run open: {problem}")
    env = {name: value for name, value in os.environ.items() if name not in DROPPED}
    env["FLOWER_BASIC_AUTH"] = auth
    return [sys.executable, "-m", "celery", "-A", "config", "flower", *argv], env


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if argv[:1] == ["credentials"]:
        from django.conf import settings

        print(settings.FLOWER_BASIC_AUTH)
        return
    command, env = flower_command(argv)
    os.execvpe(command[0], command, env)  # noqa: S606  (becomes Flower: no shell, no args)


if __name__ == "__main__":
    main(sys.argv[1:])
