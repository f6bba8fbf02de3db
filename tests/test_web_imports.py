"""What the web process loads: only what serving requests needs (the memory of every web worker).

numpy (the level meter of audio processing) and firebase-admin (sending a push) are needed by the
Celery worker only; the web process imports the same modules (the telephony interface imports the
audio pipeline to probe uploads), so they are imported where they are used. Checked in a fresh
interpreter, as gunicorn's worker starts: the WSGI application, every URL module and view (what
``reverse`` loads), and the upload probe of a WAV and an Ogg/Opus file.
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
web = {
    name: name in sys.modules for name in ("numpy", "firebase_admin", "pywebpush", "av", "rest_framework")
}
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
        "av": True,
        "rest_framework": True,
    }
    assert loaded["after_metering"] is True
