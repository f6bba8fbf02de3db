"""Phone numbers: the one place where a number given to us is judged and normalised to E.164.

Every input path that takes a phone number calls one of the two functions here, so the rule is
written once (issue 13, "strict input everywhere"):

- :func:`e164_from_phone_system`: the telephony interface's ``local_number``/``remote_number``.
  The phone system sends E.164 exactly (``+31612345678``); anything else is refused, including a
  number with a trailing newline (which a ``^...$`` regex would have let through: ``$`` matches
  before a final ``\\n``, and the blacklist then compared the number *with* the newline).
- :func:`normalise_input`: a number typed by a person (contact rules, the data-subject search):
  E.164 or national in the tenant's country, with the usual separators.

Both refuse what ``phonenumbers`` would not accept *in full*. ``phonenumbers.parse`` is lenient on
purpose: it drops leading and trailing characters that are not part of a number, reads letters as
keypad digits, converts other scripts' digits and splits off an extension. Each of those would let
two different inputs stand for one number (or one input for a number it does not say), so only
ASCII digits and the separators in :data:`SEPARATORS` are allowed, with at most a leading ``+``,
and a typed number must be *valid* (``phonenumbers.is_valid_number``), not merely possible (the
phone system's numbers need only be possible: see :func:`e164_from_phone_system`).
"""

from __future__ import annotations

import re

import phonenumbers
from django.utils.translation import gettext as _

ANONYMOUS = "anonymous"
#: What a person may type between the digits: space, hyphen, dot, brackets and slash.
SEPARATORS = " -.()/"
MAX_INPUT_LENGTH = 40
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")  # always with fullmatch: never ``$``
_TYPED = re.compile(r"\+?[0-9 ().\-/]+")


class InvalidNumber(ValueError):
    """A number that is refused; ``message`` says why in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _e164(parsed: phonenumbers.PhoneNumber, *, valid: bool) -> str | None:
    """E.164 of ``parsed`` if it is a number without extension that is valid (``valid``) or
    at least possible (right country code and length); else None."""
    judge = phonenumbers.is_valid_number if valid else phonenumbers.is_possible_number
    if parsed.extension or not judge(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def e164_from_phone_system(value: str) -> str:
    """``value`` if it is a possible number written exactly in E.164, else :class:`InvalidNumber`.

    *Possible*, not *valid*: the number comes from the carrier's network, not from a person, and
    refusing it would lose the call's recording whenever a range is newer than phonenumbers'
    metadata. What matters for the rules is that the text is exactly the canonical E.164 that
    phonenumbers makes of it, so it compares equal to a list entry of the same number.
    """
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise InvalidNumber(_("A number must be in E.164 form, e.g. +31612345678."))
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(_("%(number)s is not a phone number.") % {"number": value}) from None
    if _e164(parsed, valid=False) != value:
        raise InvalidNumber(_("%(number)s is not a valid phone number.") % {"number": value})
    return value


def normalise_input(raw: str, *, country: str) -> str:
    """A typed number (E.164, or national in ``country``) in E.164, or :class:`InvalidNumber`.

    Spaces at either end are ignored; any other character outside digits, a leading ``+`` and
    :data:`SEPARATORS` (a newline, a letter, an extension) refuses the number.
    """
    text = (raw or "").strip(" ")
    if not text:
        raise InvalidNumber(_("Enter a phone number."))
    if text.lower() == ANONYMOUS:
        raise InvalidNumber(_("Anonymous callers cannot be put on a list."))
    if len(text) > MAX_INPUT_LENGTH or not _TYPED.fullmatch(text) or not any(c.isdigit() for c in text):
        raise InvalidNumber(_("%(number)s is not a phone number.") % {"number": text})
    try:
        parsed = phonenumbers.parse(text, country.upper())
    except phonenumbers.NumberParseException:
        raise InvalidNumber(_("%(number)s is not a phone number.") % {"number": text}) from None
    e164 = _e164(parsed, valid=True)
    if e164 is None:
        raise InvalidNumber(_("%(number)s is not a valid phone number.") % {"number": text})
    return e164
