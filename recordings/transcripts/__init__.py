"""Transcripts of recordings: speech to text in the worker (``engine``), redaction of Dutch
identifiers before anything is stored (``redaction``), the service that stores them (``service``)
and the Celery task on its own queue (``tasks``)."""
