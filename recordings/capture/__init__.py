"""Capture: the services behind the telephony interface (``/rpi/v1/``).

The phone system tells us a call started, sends events, ends it and uploads the audio; this
module turns that into ``Call``/``CallEvent`` rows, a stored raw upload and, once both the end and
the audio have arrived, a ``Recording`` with one playback rendition. The contract is
``telephony-interface.md``; which events a mode allows and what audio is kept comes from
``recordings.policy`` (never decided here).

Every service runs in one transaction and locks the ``Call`` row (``select_for_update``) for its
read-modify-write, so concurrent replays of the same request cannot both apply. A refused request
raises :class:`RpiError` (HTTP status, snake_case code, human message) before anything is written.

Decisions taken where the spec is silent (the interface answers are the contract; these fill gaps):

- Field errors are ``400`` with code ``invalid_<field>`` (missing, wrong JSON type or bad value;
  the message says which). A body that is not a JSON object is ``malformed_json``.
- ``POST /calls`` again with the same ``call_id`` and the same fields (times compared as instants)
  answers ``200`` with the original answer. The same ``call_id`` with *different* fields is not a
  replay: ``409 call_id_conflict``, and nothing changes.
- ``user`` is the phone-system id (``pbx_id``) of a user of the key's tenant; none is
  ``404 unknown_user``. A deactivated user is known but has no product (``record`` false).
- ``local_number`` must be E.164 (``"anonymous"`` is for the remote party only).
- Numbers are exactly the E.164 that ``phonenumbers`` formats from them, of a possible number
  (``tenants.numbers.e164_from_phone_system``): no space, no trailing newline, no national
  ``0`` after the country code; anything else is ``400 invalid_<field>``, never stored.
- ``call_id``: 1-128 characters of ``A-Z a-z 0-9 . _ : @ -``, starting with a letter or digit,
  without ``..`` (``CALL_ID``); it is a path segment of every later request. Anything else
  (``/``, NUL, a newline, ``?``, ``#``, ``%``, a space) is ``400 invalid_call_id``, in the body of
  ``POST /calls`` and in the path of every other request.
- JSON bodies: at most ``JSON_MAX_BODY_BYTES`` (256 KiB by default; ``413 body_too_large``) and
  20 levels deep (``400 malformed_json``), checked before parsing (``hiprecorder.jsonbody``).
- Times lie in 2000 or later and have a UTC equivalent (``0001-01-01T00:00:00+23:59`` has none):
  otherwise ``400 invalid_<field>``. ``X-Audio-Offset-Ms`` is at most 2^31 - 1.
- Times must carry a UTC offset. "Now" allows ``CLOCK_SKEW`` (5 s) for the phone system's clock.
- An exact repeat of an accepted event answers ``200`` even after the call ended (a retried
  request); any other event after the end is ``409 call_ended``, checked before ``at``.
- ``end`` again with a different ``ended_at`` is ``409 call_ended``. ``ended_at`` must lie between
  ``started_at`` and now (``400 invalid_ended_at``).
- A call whose start answer was ``record: false`` refuses audio with ``409 not_recorded``
  (before the body is read). A call that ended without anything to keep (on demand without keep,
  user start without start) still takes its audio (the phone system captured it legitimately):
  the body is validated and hashed like any other, answered ``201``, and never stored.
- Upload replays: same bytes (SHA-256) again → ``200``; different bytes → ``409 audio_exists``.
- Blacklisted remote number at call start: ``record`` false, no audio taken, state ``discarded``
  (outcome ``blacklisted``) when the call ends. A number blacklisted while a Playback call was
  running is checked again at the end: the audio is then deleted and the state is ``discarded``.
- A call that ended and is kept but whose audio has not arrived yet stays ``in_progress``;
  it becomes ``processing`` once both have arrived.
- A recording that was deleted or expired reads back as ``deleted`` even if the lifecycle did not
  change the call's own state.
- Faults (issue 19): an accepted upload is deleted only if its row did not commit. A processing
  task that cannot be sent after the commit (broker down) leaves the call queued
  (``ProcessingOutbox``) and the request answers ``503`` (``hiprecorder.faults``); the phone
  system's replay sends it, and ``recordings.repair`` does if nobody replays. A call whose raw
  upload is gone ends ``failed`` with ``error_code`` ``audio_missing``.

The package, one job a module: ``inputs`` (the refusal and each field's check), ``calls`` (start,
events, end, the hand-off to processing, the read-back), ``uploads`` (the audio) and
``processing`` (upload to recording). Callers use the names below.
"""

from recordings.capture.calls import (
    Result,
    dispatch_processing,
    end_call,
    find_call,
    read_back,
    record_event,
    start_call,
)
from recordings.capture.inputs import AUDIO_MISSING, CALL_ID, RpiError, check_call_id, recordings_storage
from recordings.capture.processing import mark_failed, process_call
from recordings.capture.uploads import Spooled, clean_spool, precheck_upload, spool, store_upload

__all__ = [
    "AUDIO_MISSING",
    "CALL_ID",
    "Result",
    "RpiError",
    "Spooled",
    "check_call_id",
    "clean_spool",
    "dispatch_processing",
    "end_call",
    "find_call",
    "mark_failed",
    "precheck_upload",
    "process_call",
    "read_back",
    "record_event",
    "recordings_storage",
    "spool",
    "start_call",
    "store_upload",
]
