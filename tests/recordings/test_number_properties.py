"""Property: every phone-number input path refuses what ``phonenumbers`` would not accept in full,
and stores exactly the E.164 it makes of what it does accept (issue 13, "strict input").

"Accept in full" is the oracle below, written from phonenumbers and the contract, not from our
code: ``phonenumbers.parse`` is lenient (it drops leading and trailing junk such as a newline,
reads letters as keypad digits, converts other scripts' digits and splits off extensions), so a
number is accepted in full only when nothing of the input was dropped or reinterpreted:

- from the phone system (``remote_number``/``local_number``): the text is already the E.164 that
  phonenumbers formats from it, of a *possible* number (telephony-interface.md: E.164 only);
- typed by a person (contact rules in the API and the portal): ASCII digits and the separators
  `` -.()/`` only, ``+`` only in front, and a *valid* number without extension.

A refused number is never stored. Adding a path: one entry in :data:`TYPED_PATHS` or the
telephony tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import phonenumbers
import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recordings import rules
from recordings.models import Call, ContactRule
from tenants.scoping import tenant_scope
from tests.api.helpers import client_for
from tests.base import Personas
from tests.recordings.rpi_support import Pbx

PNF = phonenumbers.PhoneNumberFormat
REGIONS = ["NL", "BE", "DE", "GB", "US", "FR", "IT", "AR"]
TYPES = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
JUNK = [*"\n\r\t\x00 +-()./#*;,xXeE:٣０", "ext", "ext. ", "tel:", "1", "0", "9"]
SEPARATORS = set(" -.()/")
_ids = itertools.count(1)


# --- the oracle --------------------------------------------------------------------------------


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def accepted_from_phone_system(text: str) -> str | None:
    """The E.164 the phone system's path must store for ``text``, or None: it must refuse it."""
    parsed = _parse(text, None)
    if parsed is None or parsed.extension or not phonenumbers.is_possible_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, PNF.E164)
    # E.164 itself caps a number at 15 digits; phonenumbers' "possible" lengths for some regions
    # go past it (Japan's "+81 0010 …", 16 digits), which the interface refuses.
    if len(e164) > 16:
        return None
    return text if e164 == text else None


def accepted_typed(text: str, region: str) -> str | None:
    """The E.164 a typed-number path must store for ``text``, or None: it must refuse it."""
    text = text.strip(" ")
    if not text or len(text) > 40 or not any(c in "0123456789" for c in text):
        return None
    if any(not (c in "0123456789" or c in SEPARATORS or c == "+") for c in text) or "+" in text[1:]:
        return None  # phonenumbers would drop or reinterpret part of it
    parsed = _parse(text, region)
    if parsed is None or parsed.extension or not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PNF.E164)


# --- what to try -------------------------------------------------------------------------------


def _example(region: str, kind: int, fmt: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    return phonenumbers.format_number(number, fmt)


def _mutate(text: str, position: int, how: int, junk: str) -> str:
    position %= len(text) + 1
    if how == 0:  # insert junk
        return text[:position] + junk + text[position:]
    if how == 1:  # drop a character
        return text[:position] + text[position + 1 :]
    if how == 2:  # change a digit
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        if not digits:
            return text
        i = digits[position % len(digits)]
        return text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :]
    return junk + text + junk  # around it


formats = st.sampled_from([PNF.E164, PNF.INTERNATIONAL, PNF.NATIONAL])
examples = st.builds(_example, st.sampled_from(REGIONS), st.sampled_from(TYPES), formats)
e164_examples = st.builds(_example, st.sampled_from(REGIONS), st.sampled_from(TYPES), st.just(PNF.E164))
junk = st.sampled_from(JUNK)
mutations = st.tuples(st.integers(0, 25), st.integers(0, 3), junk)
typed_numbers = st.one_of(
    examples,
    st.builds(lambda base, m: _mutate(base, *m), examples, mutations),
    st.text(alphabet=st.sampled_from(list("0123456789 +-().") + JUNK[:8]), max_size=18),
)
pbx_numbers = st.one_of(
    e164_examples,
    st.builds(lambda base, m: _mutate(base, *m), e164_examples, mutations),
    st.builds(lambda digits: "+" + digits, st.text(alphabet="0123456789", min_size=0, max_size=17)),
)
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_the_oracle_tells_the_two_apart() -> None:
    """The oracle itself: it accepts the spec's examples and refuses the issue's bypass."""
    assert accepted_from_phone_system("+31612345678") == "+31612345678"
    assert accepted_from_phone_system("+31201111111\n") is None
    assert accepted_typed("06 12345678", "NL") == "+31612345678"
    assert accepted_typed("+31201111111\n", "NL") is None
    assert accepted_typed("+31 20 111 1111 ext. 5", "NL") is None


# --- the telephony interface -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["remote_number", "local_number"])
@PROPERTY
@given(text=pbx_numbers)
def test_telephony_numbers(pbx: Pbx, personas: Personas, field: str, text: str) -> None:
    expected = accepted_from_phone_system(text)
    event("accepted" if expected else "refused")
    call_id = f"prop-{next(_ids)}"
    response = pbx.start(personas.users["always"].pbx_id, call_id=call_id, **{field: text})
    with tenant_scope(personas.tenant_a):
        stored = Call.objects.filter(pbx_call_id=call_id).values_list(field, flat=True).first()
    if expected is None:
        assert response.status_code == 400, (text, response.content)
        assert response.json()["error"]["code"] == f"invalid_{field}"
        assert stored is None
    else:
        assert response.status_code == 201, (text, response.content)
        assert stored == expected


# --- numbers typed by a person -----------------------------------------------------------------


def _api_add(personas: Personas, text: str) -> int:
    client = client_for(personas.playback["days_30"])
    return client.post("/api/v1/rules", {"list_type": "blacklist", "number": text}, format="json").status_code


def _api_change(personas: Personas, text: str) -> int:
    user = personas.playback["days_30"]
    rule = rules.add_rule(user=user, list_type="whitelist", number="+32470123456")  # not generated
    response = client_for(user).patch(f"/api/v1/rules/{rule.pk}", {"number": text}, format="json")
    if response.status_code != 200:
        with tenant_scope(personas.tenant_a):
            assert ContactRule.objects.get(pk=rule.pk).number == "+32470123456"  # unchanged
            ContactRule.objects.filter(pk=rule.pk).delete()  # leaves no row for the check below
    return response.status_code


def _portal_add(personas: Personas, text: str) -> int:
    client = Client()
    client.force_login(personas.admin)
    url = reverse("manage_user_rules", args=[personas.playback["days_30"].pk])
    return client.post(url, {"list_type": "blacklist", "number": text, "name": "", "note": ""}).status_code


def _subject_search(personas: Personas, text: str) -> int:
    """The data-subject export: nothing is stored, so an accepted number is a 200 (an empty CSV)."""
    client = Client()
    client.force_login(personas.admin)
    return client.get(reverse("privacy:subject_csv"), {"number": text}).status_code


# path: (how to send a number, the status when accepted, whether an accepted number is stored)
TYPED_PATHS: dict[str, tuple[Callable[[Personas, str], int], int, bool]] = {
    "POST /api/v1/rules": (_api_add, 201, True),
    "PATCH /api/v1/rules/{id}": (_api_change, 200, True),
    "portal: Manage → user → contact rules": (_portal_add, 302, True),
    "portal: Manage → privacy → data subject (CSV)": (_subject_search, 200, False),
}


@pytest.mark.parametrize("path", list(TYPED_PATHS))
@PROPERTY
@given(text=typed_numbers)
def test_typed_numbers(personas: Personas, path: str, text: str) -> None:
    send, ok, stores = TYPED_PATHS[path]
    expected = accepted_typed(text, personas.tenant_a.country)
    event("accepted" if expected else "refused")
    status = send(personas, text)
    with tenant_scope(personas.tenant_a):
        stored = list(
            ContactRule.objects.filter(user=personas.playback["days_30"]).values_list("number", flat=True)
        )
        ContactRule.objects.all().delete()  # the next example starts with empty lists
    if expected is None:
        assert status == 400, (path, text, status)
        assert stored == []
    else:
        assert status == ok, (path, text, status)
        assert stored == ([expected] if stores else [])
