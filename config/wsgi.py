import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
_django = get_wsgi_application()

from config.middleware import refuse_non_text_charsets  # noqa: E402  (after Django setup)

application = refuse_non_text_charsets(_django)
