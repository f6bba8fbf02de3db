"""Redaction of identifiers (recordings.transcripts.redaction): valid ones go, near-misses stay."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from recordings.transcripts import redaction
from recordings.transcripts.redaction import Policy, redact, redact_segments

SPOKEN_NL = ["nul", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen"]


def _bsn_check(first8: str) -> str | None:
    total = sum(int(d) * w for d, w in zip(first8, range(9, 1, -1), strict=True))
    last = total % 11
    return None if last == 10 else str(last)


@st.composite
def bsns(draw: st.DrawFn) -> str:
    first8 = draw(st.text(alphabet=string.digits, min_size=8, max_size=8).filter(lambda s: s[0] != "0"))
    check = _bsn_check(first8)
    return first8 + (check if check is not None else draw(st.nothing()))


def _luhn_complete(body: str) -> str:
    for last in string.digits:
        if redaction.is_luhn(body + last):
            return body + last
    raise AssertionError(body)


cards = (
    st.text(alphabet=string.digits, min_size=15, max_size=15)
    .filter(lambda s: s[0] in "3456")
    .map(_luhn_complete)
)


@st.composite
def nl_ibans(draw: st.DrawFn) -> str:
    bank = draw(st.text(alphabet=string.ascii_uppercase, min_size=4, max_size=4))
    account = draw(st.text(alphabet=string.digits, min_size=10, max_size=10))
    numeric = "".join(str(int(c, 36)) for c in bank + account + "NL00")
    return f"NL{98 - int(numeric) % 97:02d}{bank}{account}"


def _change_one_digit(number: str, data: st.DataObject) -> str:
    at = data.draw(st.sampled_from([i for i, c in enumerate(number) if c.isdigit()]))
    other = data.draw(st.sampled_from([d for d in string.digits if d != number[at]]))
    return number[:at] + other + number[at + 1 :]


@given(bsns())
def test_a_valid_bsn_is_redacted_written_or_grouped(bsn: str) -> None:
    assert redaction.is_bsn(bsn)
    assert redact(f"mijn bsn is {bsn}, dank u")[0] == "mijn bsn is [BSN], dank u"
    grouped = f"{bsn[:4]}.{bsn[4:6]}.{bsn[6:]}"
    assert redact(f"nummer {grouped} graag")[0] == "nummer [BSN] graag"


@given(bsns())
def test_a_bsn_spoken_digit_by_digit_is_redacted(bsn: str) -> None:
    spoken = " ".join(SPOKEN_NL[int(d)] for d in bsn)
    assert redact(f"Het is {spoken}.")[0] == "Het is [BSN]."


@given(bsns(), st.data())
def test_a_bsn_with_one_digit_wrong_is_kept(bsn: str, data: st.DataObject) -> None:
    wrong = _change_one_digit(bsn, data)
    assert redact(f"nummer {wrong}") == (f"nummer {wrong}", 0)


@given(nl_ibans())
def test_a_valid_iban_is_redacted_with_or_without_spaces(iban: str) -> None:
    assert redaction.is_iban(iban)
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    assert redact(f"rekening {iban} alstublieft")[0] == "rekening [IBAN] alstublieft"
    assert redact(f"rekening {spaced} alstublieft")[0] == "rekening [IBAN] alstublieft"


@given(nl_ibans(), st.data())
def test_an_iban_with_one_digit_wrong_is_kept(iban: str, data: st.DataObject) -> None:
    wrong = iban[:4] + _change_one_digit(iban[4:], data)
    assert redact(f"rekening {wrong}") == (f"rekening {wrong}", 0)


@given(cards)
def test_a_valid_card_number_is_redacted(card: str) -> None:
    grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    assert redact(f"card {card} ok")[0] == "card [CARD] ok"
    assert redact(f"card {grouped} ok")[0] == "card [CARD] ok"


@given(cards, st.data())
def test_a_card_number_with_one_digit_wrong_is_kept(card: str, data: st.DataObject) -> None:
    wrong = _change_one_digit(card, data)
    assert redact(f"card {wrong}") == (f"card {wrong}", 0)


@given(bsns(), st.integers(min_value=1, max_value=8))
def test_a_number_split_over_two_segments_is_redacted_in_both(bsn: str, cut: int) -> None:
    texts, count = redact_segments([f"mijn nummer is {bsn[:cut]}", f"{bsn[cut:]} dank u"])
    assert count == 1
    assert texts == ["mijn nummer is [BSN]", "dank u"]


def test_phone_numbers_and_e_mail_addresses_only_when_the_tenant_asks() -> None:
    text = "bel 06 12345678 of mail jan@example.nl"
    assert redact(text) == (text, 0)
    assert redact(text, Policy(phone_numbers=True))[0] == "bel [PHONE] of mail jan@example.nl"
    assert redact(text, Policy(email_addresses=True))[0] == "bel 06 12345678 of mail [EMAIL]"


def test_ordinary_numbers_and_words_are_kept() -> None:
    text = "Een ogenblik, ik stuur twee offertes van 1250 euro op 12 maart."
    assert redact(text) == (text, 0)
