"""Keyword alerts: words or phrases a customer admin watches for in what was said.

The admin keeps a list per tenant (Manage → Keyword alerts; :func:`add_alert`,
:func:`remove_alert`, both audited). When a transcript is stored
(``recordings.transcripts.service``), :func:`apply_alerts` puts an automatic label named after
each alert the redacted text holds; the home list's "keyword alerts" filter shows the recordings
with one, through the list's own visibility (``Recording.objects.visible_to``).

Matching (:func:`matches`): whole words and whole phrases, ignoring letter case and accents
("Klácht" finds "klacht", "klachten" does not find "klacht"). Dutch compounds are not split:
"klacht" does not find "klachtenlijn"; add the compound as an alert of its own. Changing the list
applies to transcripts stored from then on; labels already put stay (a person removes them as any
label), and older recordings are not searched again.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from recordings.models import KeywordAlert, Label, Recording
from tenants.models import Tenant, User
from tenants.scoping import service_scope
from tenants.services.base import audit_change

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.http import HttpRequest

PHRASE_MAX = 40  # an alert's label carries the phrase: Label.name's length
ALERTS_MAX = 100  # per tenant
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """``text`` in lower case without accents (``"Één Klácht"`` -> ``"een klacht"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def words(text: str) -> list[str]:
    """The words of ``text``, folded; punctuation separates words and is dropped."""
    return _WORD.findall(fold(text))


def matches(text: str, alerts: Iterable[KeywordAlert]) -> list[KeywordAlert]:
    """The alerts whose phrase ``text`` holds as whole words, in the alerts' order."""
    said = f" {' '.join(words(text))} "
    return [alert for alert in alerts if f" {alert.folded} " in said]


def clean_phrase(raw: str) -> tuple[str, str]:
    """The phrase as shown (spaces folded) and as matched, or ValidationError saying why not."""
    phrase = " ".join((raw or "").split())
    if not phrase:
        raise ValidationError({"phrase": _("Write a word or a phrase.")})
    if len(phrase) > PHRASE_MAX:
        raise ValidationError(
            {"phrase": _("A keyword alert has at most %(max)d characters.") % {"max": PHRASE_MAX}}
        )
    folded = " ".join(words(phrase))
    if not folded:
        raise ValidationError({"phrase": _("A keyword alert needs at least one letter or digit.")})
    if len(folded) > PHRASE_MAX:  # "ß" folds to "ss"
        raise ValidationError(
            {"phrase": _("A keyword alert has at most %(max)d characters.") % {"max": PHRASE_MAX}}
        )
    return phrase, folded


def _require_admin(acting_user: User, tenant: Tenant) -> None:
    if not acting_user.is_customer_admin or acting_user.tenant_id != tenant.pk:
        raise PermissionDenied(_("Only the customer admin manages keyword alerts."))


def add_alert(
    *, tenant: Tenant, phrase: str, acting_user: User, request: HttpRequest | None = None
) -> KeywordAlert:
    """Watch for ``phrase`` in the tenant's transcripts from now on. A phrase already on the list
    (in any case or accents) is refused, naming the alert it duplicates."""
    _require_admin(acting_user, tenant)
    phrase, folded = clean_phrase(phrase)
    with transaction.atomic(), service_scope(tenant):
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one change of the list at a time
        existing = KeywordAlert.objects.filter(folded=folded).first()
        if existing is not None:
            raise ValidationError(
                {"phrase": _("“%(phrase)s” is already on the list.") % {"phrase": existing.phrase}}
            )
        if KeywordAlert.objects.count() >= ALERTS_MAX:
            raise ValidationError(
                {"phrase": _("The list holds at most %(max)d keyword alerts.") % {"max": ALERTS_MAX}}
            )
        try:
            with transaction.atomic():
                alert = KeywordAlert.objects.create(
                    tenant=tenant, phrase=phrase, folded=folded, created_by=acting_user
                )
        except IntegrityError:  # cannot happen under the tenant's lock; never half-applied
            raise ValidationError(
                {"phrase": _("“%(phrase)s” is already on the list.") % {"phrase": phrase}}
            ) from None
        audit_change(acting_user, "manage.keyword_alert.create", alert, request, phrase=phrase)
    return alert


def remove_alert(*, alert: KeywordAlert, acting_user: User, request: HttpRequest | None = None) -> None:
    """Stop watching for the alert's phrase. Labels it put already stay on their recordings."""
    tenant = alert.tenant
    _require_admin(acting_user, tenant)
    with transaction.atomic(), service_scope(tenant):
        audit_change(acting_user, "manage.keyword_alert.delete", alert, request, phrase=alert.phrase)
        KeywordAlert.objects.filter(pk=alert.pk).delete()


def apply_alerts(*, recording: Recording, text: str) -> list[Label]:
    """Put an automatic label on ``recording`` for each alert its (redacted) transcript ``text``
    holds; a label of that name already there (put by a person) is left as it is. Run inside the
    transaction that stores the transcript, in the recording's tenant scope."""
    found = matches(text, KeywordAlert.objects.filter(tenant_id=recording.tenant_id))
    added = []
    for alert in found:
        same = Lower(Value(alert.phrase))
        if recording.labels.annotate(lname=Lower("name")).filter(lname=same).exists():
            continue
        try:
            with transaction.atomic():
                added.append(
                    Label.objects.create(
                        tenant_id=recording.tenant_id, recording=recording, name=alert.phrase, automatic=True
                    )
                )
        except IntegrityError:  # a person put the same label meanwhile
            continue
    return added
