"""Redaction of identifiers in transcript text, before it is stored. Pure functions.

Found and replaced by a tag: citizen service numbers (BSN, the eleven test), IBANs (mod 97),
payment card numbers (Luhn) always; phone numbers and e-mail addresses when the tenant asks.
Numbers count whether written as digits (with spaces, dots or dashes between groups) or spoken
digit by digit as Whisper writes them ("een twee drie", "one two three"). Redaction runs over the
joined text of all segments, so a number split over two segments is found too
(:func:`redact_segments`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers

BSN = "[BSN]"
IBAN = "[IBAN]"
CARD = "[CARD]"
PHONE = "[PHONE]"
EMAIL = "[EMAIL]"

DIGIT_WORDS = {
    "nul": "0", "een": "1", "één": "1", "twee": "2", "drie": "3", "vier": "4", "vijf": "5",
    "zes": "6", "zeven": "7", "acht": "8", "negen": "9",
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_WORD = "|".join(sorted((re.escape(w) for w in DIGIT_WORDS), key=len, reverse=True))
_TOKEN = rf"(?:\d+|(?:{_WORD})\b)"
# A run of digit tokens, separated by spaces, dots, dashes or commas (as speech is punctuated).
_DIGIT_RUN = re.compile(rf"(?<![\w]){_TOKEN}(?:[\s.,\-]*{_TOKEN})*", re.IGNORECASE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){10,30}\b", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+\b")
_IBAN_LENGTHS = {"NL": 18, "BE": 16, "DE": 22, "FR": 27, "GB": 22, "ES": 24, "IT": 27, "LU": 20, "AT": 20}


@dataclass(frozen=True)
class Policy:
    """What a tenant redacts besides BSN, IBAN and card numbers (always)."""

    phone_numbers: bool = False
    email_addresses: bool = False
    region: str = "NL"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    tag: str


def is_bsn(digits: str) -> bool:
    """Nine digits (eight with a leading zero implied) passing the eleven test."""
    if not digits.isdigit() or len(digits) not in (8, 9):
        return False
    digits = digits.zfill(9)
    if int(digits) == 0:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0


def is_luhn(digits: str) -> bool:
    """Luhn check of a payment card number (13 to 19 digits)."""
    if not digits.isdigit() or not 13 <= len(digits) <= 19 or int(digits) == 0:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def is_iban(text: str) -> bool:
    """An IBAN (spaces allowed) whose length fits its country and whose mod 97 check holds."""
    iban = text.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _digits_of(run: str) -> str:
    return "".join(
        DIGIT_WORDS[t.lower()] if not t.isdigit() else t
        for t in re.findall(rf"\d+|(?:{_WORD})\b", run, re.IGNORECASE)
    )


def find(text: str, policy: Policy = Policy()) -> list[Span]:
    """The spans of ``text`` to redact, in order, not overlapping."""
    spans: list[Span] = []

    def add(start: int, end: int, tag: str) -> None:
        if not any(s.start < end and start < s.end for s in spans):
            spans.append(Span(start, end, tag))

    for match in _IBAN.finditer(text):
        # The greedy match may run into the next word: the longest prefix that checks out.
        raw = match.group()
        for cut in range(len(raw), 14, -1):
            if (cut == len(raw) or raw[cut] == " ") and is_iban(raw[:cut]):
                add(match.start(), match.start() + cut, IBAN)
                break
    if policy.email_addresses:
        for match in _EMAIL.finditer(text):
            add(match.start(), match.end(), EMAIL)
    for match in _DIGIT_RUN.finditer(text):
        digits = _digits_of(match.group())
        if is_bsn(digits):
            add(match.start(), match.end(), BSN)
        elif is_luhn(digits):
            add(match.start(), match.end(), CARD)
    if policy.phone_numbers:
        for found in phonenumbers.PhoneNumberMatcher(
            text, policy.region, leniency=phonenumbers.Leniency.VALID
        ):
            add(found.start, found.end, PHONE)
    return sorted(spans, key=lambda s: s.start)


def redact(text: str, policy: Policy = Policy()) -> tuple[str, int]:
    """``text`` with every span of :func:`find` replaced by its tag, and how many there were."""
    spans = find(text, policy)
    out, at = [], 0
    for span in spans:
        out.append(text[at : span.start])
        out.append(span.tag)
        at = span.end
    out.append(text[at:])
    return "".join(out), len(spans)


def redact_segments(texts: Sequence[str], policy: Policy = Policy()) -> tuple[list[str], int]:
    """Redact segment texts as one text (joined by a space), so that a number spoken across two
    segments is found; a span's tag goes in the segment where it starts, its rest in the next
    segments is removed."""
    joined = " ".join(texts)
    bounds, at = [], 0
    for t in texts:
        bounds.append((at, at + len(t)))
        at += len(t) + 1
    spans = find(joined, policy)
    out: list[str] = []
    for start, end in bounds:
        parts, pos = [], start
        for span in spans:
            if span.end <= start or span.start >= end:
                continue
            parts.append(joined[pos : max(pos, span.start)])
            if span.start >= start:
                parts.append(span.tag)
            pos = min(end, span.end)
        parts.append(joined[pos:end])
        out.append(re.sub(r"\s{2,}", " ", "".join(parts)).strip())
    return out, len(spans)


def redacted_times(
    segments: Sequence[tuple[str, Sequence[tuple[int, int, str]]]], policy: Policy = Policy()
) -> list[tuple[int, int]]:
    """The audio times ``(start_ms, end_ms)`` of what :func:`redact_segments` redacts, from the
    words' times: ``segments`` are ``(text, [(start_ms, end_ms, word), ...])`` with the words in
    order as they appear in the text. Every word a redacted span touches counts whole; the times
    are merged where they overlap. Words the text does not show are skipped."""
    texts = [text for text, _words in segments]
    joined = " ".join(texts)
    placed: list[tuple[int, int, int, int]] = []  # (char start, char end, start_ms, end_ms)
    at = 0
    for text, words in segments:
        cursor = 0
        for start_ms, end_ms, word in words:
            word = word.strip()
            found = text.find(word, cursor) if word else -1
            if found < 0:
                continue
            placed.append((at + found, at + found + len(word), start_ms, end_ms))
            cursor = found + len(word)
        at += len(text) + 1
    times: list[tuple[int, int]] = []
    for span in find(joined, policy):
        touched = [(s, e) for a, b, s, e in placed if a < span.end and span.start < b]
        if touched:
            times.append((min(s for s, _e in touched), max(e for _s, e in touched)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(times):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
