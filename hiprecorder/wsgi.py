from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
# A web process imports the task modules when it first sends a task (hiprecorder.tasks), and
# Celery's Django fix-up runs Django's system checks before it does so, discarding their results:
# that builds the template engine with every app's tag libraries (REST framework's pulls in
# Pygments, Markdown and requests), ~10 MB in a telephony worker that renders no template. The
# checks run where they are read (`manage.py check --deploy`, `migrate`, a worker's start-up);
# Celery's `--skip-checks` option sets the same variable.
os.environ.setdefault("CELERY_SKIP_CHECKS", "true")
application = get_wsgi_application()

# Upload spools of a killed web worker (up to RPI_MAX_AUDIO_BYTES each) stay in the temporary
# folder: each starting web process removes those of processes that no longer exist.
from recordings.capture import clean_spool  # noqa: E402 (needs the application set up)

clean_spool()
