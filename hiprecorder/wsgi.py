from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
application = get_wsgi_application()

# Upload spools of a killed web worker (up to RPI_MAX_AUDIO_BYTES each) stay in the temporary
# folder: each starting web process removes those of processes that no longer exist.
from recordings.capture import clean_spool  # noqa: E402 (needs the application set up)

clean_spool()
