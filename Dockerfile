FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY core core
# not paper/: the paper exchange is a dev and test tool (compose's dev profile mounts it)
COPY exchanges exchanges
COPY connections connections
COPY orders orders
COPY workers workers
COPY dashboard dashboard
COPY manage.py ./
RUN pip install --no-cache-dir .
ENV DJANGO_SETTINGS_MODULE=config.settings
