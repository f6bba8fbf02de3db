"""What the web process loads: only what serving requests needs (the memory of every web worker).

numpy (the level meter of audio processing), faster-whisper (transcription) and firebase-admin
(sending a push) are needed by the Celery worker only; the web process imports the same modules
(the telephony interface imports the audio pipeline to probe uploads, and sending a task imports
every task module), so they are imported where they are used. Checked in a fresh interpreter, as
gunicorn's worker starts: the WSGI application, every URL module and view (what ``reverse``
loads), the upload probe of a WAV and an Ogg/Opus file, and the first task sent.
"""

from __future__ import annotations

import json
from pathlib import Path

from recordings.audio import make_opus, make_wav
from tests.base import run_python

WEB_PROCESS = """
import json, sys
import hiprecorder.wsgi
from django.urls import get_resolver, resolve
get_resolver().reverse_dict  # imports every URL module and every view
resolve("/rpi/v1/calls/x/audio")
from recordings import audio
from recordings.audio import meter
for path, content_type in ((sys.argv[1], "audio/wav"), (sys.argv[2], "audio/ogg")):
    with open(path, "rb") as upload:
        audio.check_declared_type(audio.probe(upload), content_type)
from hiprecorder.tasks import registered_task
registered_task("recordings.tasks.process_call")  # an upload's commit: imports every task module
names = ("numpy", "firebase_admin", "pywebpush", "faster_whisper", "av", "rest_framework")
web = {name: name in sys.modules for name in names}
meter.Meter(8000)  # what processing does: the check below sees numpy when it is loaded
print(json.dumps({"web": web, "after_metering": "numpy" in sys.modules}))
"""


def test_the_web_process_does_not_import_numpy_or_firebase_admin(tmp_path: Path) -> None:
    wav = make_wav(tmp_path / "call.wav", seconds=2, kind="speech-like")
    ogg = make_opus(tmp_path / "call.ogg", 2)
    result = run_python(WEB_PROCESS, str(wav), str(ogg), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["web"] == {
        "numpy": False,
        "firebase_admin": False,
        "pywebpush": False,
        "faster_whisper": False,
        "av": True,
        "rest_framework": True,
    }
    assert loaded["after_metering"] is True


SENDER = """
import json, sys
from pathlib import Path
if sys.argv[1] == "web":
    import hiprecorder.wsgi
else:  # as the Celery worker's process starts: Django set up, no WSGI application
    import django
    django.setup()
from hiprecorder.tasks import registered_task
registered_task("recordings.tasks.process_call")  # what an upload's commit does first
names = ("recordings.transcripts.tasks", "faster_whisper", "ctranslate2", "numpy", "pygments")
loaded = {name: name in sys.modules for name in names}
transcribed = None
if sys.argv[1] == "worker":
    from recordings.transcripts import engine
    transcribed = engine.transcribe(Path(sys.argv[2]), language="en").audio_ms
    loaded["faster_whisper after transcribing"] = "faster_whisper" in sys.modules
print(json.dumps({"loaded": loaded, "transcribed_ms": transcribed}))
"""


def test_a_telephony_process_sending_a_task_loads_no_transcription_engine_or_templates(
    tmp_path: Path,
) -> None:
    """The first task an upload sends imports every task module (so the transcription task's
    module too) without faster-whisper, CTranslate2 or numpy, and without Django's system checks,
    which Celery's Django fix-up runs first in a worker and which build the template engine with
    every tag library (REST framework's loads Pygments). The worker still transcribes."""
    wav = make_wav(tmp_path / "call.wav", seconds=2, kind="speech-like")
    # CELERY_SKIP_CHECKS removed: a test that imported hiprecorder.wsgi earlier set it in this
    # process's environment; each child must start as gunicorn's or Celery's process does.
    fresh = {"CELERY_SKIP_CHECKS": ""}
    web = run_python(SENDER, "web", data_dir=tmp_path / "data", HIPRECORDER_SURFACE="telephony", **fresh)
    assert web.returncode == 0, web.stderr
    assert json.loads(web.stdout)["loaded"] == {
        "recordings.transcripts.tasks": True,
        "faster_whisper": False,
        "ctranslate2": False,
        "numpy": False,
        "pygments": False,
    }
    # The same send in a worker's process: the checks run (so the template tags load), and
    # transcribing imports the engine: the checks above can fail.
    worker = run_python(SENDER, "worker", str(wav), data_dir=tmp_path / "data", **fresh)
    assert worker.returncode == 0, worker.stderr
    answer = json.loads(worker.stdout)
    assert answer["loaded"]["pygments"] is True
    assert answer["loaded"]["faster_whisper"] is False
    assert answer["loaded"]["faster_whisper after transcribing"] is True
    assert answer["transcribed_ms"] == 2000
