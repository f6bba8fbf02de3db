"""A phone system in Python for the demo, the benchmarks and the tests: ``sounds`` makes call
audio (speech by espeak-ng, else tones; WAV and Ogg/Opus), ``calls`` plans calls of every mode and
drives them through the telephony interface over HTTP (``manage.py simulate_calls``)."""
