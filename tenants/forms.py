"""Forms of the management environment (input shape only; the rules live in tenants.services)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.audit.readable import KINDS, KINDS_BY_KEY, USER_TARGET
from tenants.models import PlaybackTier, RecordingMode, Role, Team, Tenant, User


class PersonChoiceField(forms.ModelChoiceField):
    """A person, named so that two Jan Jansens differ: "Jan Jansen (jjansen)"."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.picker_label)


class PersonField(forms.CharField):
    """A person of ``people`` (set by the form) typed in: their username or phone-system id, their
    full name when only one person has it, or their id (links). A short input instead of a list
    of every person: a tenant of 1,000 people would render 1,000 options on every page. Cleans
    to the :class:`User`, or None when empty."""

    people: QuerySet[User]
    SHOWN = 5  # people named in the error when a name matches several

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 150)
        kwargs.setdefault("widget", forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
        super().__init__(**kwargs)
        self.people = User.objects.none()

    def clean(self, value: Any) -> User | None:
        text = super().clean(value).strip()
        if not text:
            return None
        try:
            matches = self.people.filter(pk=uuid.UUID(text))
        except ValueError:
            matches = self.people.filter(Q(username__iexact=text) | Q(pbx_id=text))
        found = list(matches.order_by("username")[: self.SHOWN + 1])
        if not found:
            full = Concat("first_name", Value(" "), "last_name", output_field=CharField())
            matches = self.people.annotate(full=full).filter(full__iexact=" ".join(text.split()))
            found = list(matches.order_by("username")[: self.SHOWN + 1])
        if not found:
            raise forms.ValidationError(_("Nobody is called “%(value)s”."), params={"value": text})
        if len(found) > 1:
            raise forms.ValidationError(
                _("Several people are called “%(value)s”: type the username of one of them (%(examples)s)."),
                params={
                    "value": text,
                    "examples": ", ".join(p.username for p in found[: self.SHOWN])
                    + (", …" if len(found) > self.SHOWN else ""),
                },
            )
        return found[0]


def show_person(form: forms.Form) -> None:
    """After a valid filter on a person: name them under the field, name and username."""
    person = form.cleaned_data.get("person")
    if person is not None:
        form.fields["person"].help_text = _("Filtered on %(person)s.") % {"person": person.picker_label}


class PeopleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.picker_label)


class NewUserForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(
        label=_("E-mail"), help_text=_("They set their own password through a link sent to this address.")
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.USER)
    pbx_id = forms.CharField(label=_("Phone-system id"), max_length=32, required=False)


class UserForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    pbx_id = forms.CharField(label=_("Phone-system id"), max_length=32, required=False)


def product_choices() -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [("", _("No product"))]
    choices += [
        (f"licence:{v}", _("Licence: %(mode)s") % {"mode": label}) for v, label in RecordingMode.choices
    ]
    choices += [
        (f"playback:{v}", _("Playback: %(tier)s") % {"tier": label}) for v, label in PlaybackTier.choices
    ]
    return choices


def product_value(user: User) -> str:
    licence = getattr(user, "licence", None)
    if licence is not None:
        return f"licence:{licence.mode}"
    subscription = getattr(user, "playback_subscription", None)
    if subscription is not None:
        return f"playback:{subscription.tier}"
    return ""


class ProductForm(forms.Form):
    product = forms.ChoiceField(label=_("Product"), choices=product_choices, required=False)

    def split(self) -> tuple[str, str]:
        value = self.cleaned_data["product"]
        if not value:
            return "", ""
        product, _sep, setting = value.partition(":")
        return product, setting


SEARCH_SHOWN = 10  # people a search-as-you-type picker lists at most


def people_matching(people: QuerySet[User], q: str) -> QuerySet[User]:
    """``people`` whose name, username, e-mail address or phone-system id contains ``q``."""
    q = q.strip()
    return people.filter(
        Q(username__icontains=q)
        | Q(first_name__icontains=q)
        | Q(last_name__icontains=q)
        | Q(email__icontains=q)
        | Q(pbx_id__icontains=q)
    )


def people_found(people: QuerySet[User], q: str) -> list[User]:
    """The first :data:`SEARCH_SHOWN` people matching ``q`` for a picker, by name (none for an
    empty search: a picker lists nobody until something is typed)."""
    q = (q or "")[:150].strip()
    if not q:
        return []
    ordered = people_matching(people, q).order_by("last_name", "first_name", "username")
    return list(ordered[:SEARCH_SHOWN])


class PeopleFilterForm(forms.Form):
    """The people list's search and filters (Manage → People); all optional, combined with AND."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=150,
        help_text=_("Name, username, e-mail address or phone-system id."),
    )
    role = forms.ChoiceField(label=_("Role"), required=False, choices=[("", _("Every role")), *Role.choices])
    product = forms.ChoiceField(label=_("Product"), required=False)
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.unscoped().none(), required=False, empty_label=_("Every team")
    )
    active = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Active and deactivated")), ("1", _("Active")), ("0", _("Deactivated"))],
    )

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["team"]).queryset = teams
        cast(forms.ChoiceField, self.fields["product"]).choices = [
            ("", _("Every product")),
            *((value or "none", label) for value, label in product_choices()),
        ]

    def filter(self, people: QuerySet[User]) -> QuerySet[User]:
        """``people`` narrowed by the valid form's filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        if data["q"]:
            people = people_matching(people, data["q"])
        if data["role"]:
            people = people.filter(role=data["role"])
        product, _sep, setting = data["product"].partition(":")
        if product == "none":
            people = people.filter(licence__isnull=True, playback_subscription__isnull=True)
        elif product == "licence":
            people = people.filter(licence__mode=setting)
        elif product == "playback":
            people = people.filter(playback_subscription__tier=setting)
        if data["team"]:
            people = people.filter(teams=data["team"])
        if data["active"]:
            people = people.filter(is_active=data["active"] == "1")
        return people


class BulkLicenceForm(forms.Form):
    """Several people, one licence mode (Manage → People, the bulk action)."""

    people = PeopleChoiceField(label=_("People"), queryset=User.objects.none())
    mode = forms.ChoiceField(label=_("Licence mode"), choices=RecordingMode.choices)

    def __init__(self, *args: Any, people: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["people"]).queryset = people


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)


class TeamPeopleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    members = PeopleChoiceField(
        label=_("Members"), queryset=User.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    listeners = PeopleChoiceField(
        label=_("Listeners"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, people: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["members"]).queryset = people
        listeners = people.filter(role__in=[Role.LISTENER, Role.ADMIN])
        cast(forms.ModelMultipleChoiceField, self.fields["listeners"]).queryset = listeners


class OffboardForm(forms.Form):
    """Deactivate a person: what happens to their recordings (``recordings.offboarding``)."""

    choice = forms.ChoiceField(label=_("Their recordings"), choices=[], widget=forms.RadioSelect)
    colleague = PersonChoiceField(
        label=_("Colleague"),
        queryset=User.objects.none(),
        required=False,
        error_messages={"invalid_choice": _("This person is not in your organisation.")},
    )
    team = forms.ModelChoiceField(
        label=_("Or a team"),
        queryset=Team.objects.unscoped().none(),
        required=False,
        empty_label=_("No team"),
        error_messages={"invalid_choice": _("This team is not in your organisation.")},
    )

    def __init__(
        self, *args: Any, choices: Any, people: QuerySet[User], teams: QuerySet[Team], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["choice"]).choices = choices
        cast(forms.ModelChoiceField, self.fields["colleague"]).queryset = people
        cast(forms.ModelChoiceField, self.fields["team"]).queryset = teams


class KeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)


class LanguageSelect(forms.Select):
    """Each language named in itself ("Nederlands", "English"), marked with its ``lang``."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        if option["value"]:
            option["attrs"]["lang"] = option["value"]
        return option


RETENTION_BOUNDS = _(
    "Choose a retention between 1 and 3650 days (10 years): longer is not a retention period but "
    "keeping calls for ever, and 0 would delete every recording."
)


class SettingsForm(forms.Form):
    retention_days = forms.IntegerField(
        label=_("Keep standard recordings for (days)"),
        min_value=1,
        max_value=3650,
        help_text=_("1 to 3650 days. Above 90 days, say why: it goes into the processing register."),
        error_messages={"min_value": RETENTION_BOUNDS, "max_value": RETENTION_BOUNDS},
    )
    retention_purpose = forms.CharField(
        label=_("Why standard recordings are kept longer than 90 days"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Written into the processing register; needed for a retention above 90 days."),
    )
    announce_recording = forms.BooleanField(label=_("Announce recording to callers"), required=False)
    language = forms.ChoiceField(label=_("Language"), choices=Tenant.Language.choices, widget=LanguageSelect)


class TranscriptSettingsForm(forms.Form):
    """Manage → Transcripts: switching transcripts on asks for the purpose (the processing register)."""

    transcription_enabled = forms.BooleanField(label=_("Transcribe calls"), required=False)
    transcription_purpose = forms.CharField(
        label=_("Purpose of transcribing calls"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Written into the processing register. Needed to switch transcripts on."),
    )
    redact_phone_numbers = forms.BooleanField(label=_("Redact phone numbers"), required=False)
    redact_email_addresses = forms.BooleanField(label=_("Redact e-mail addresses"), required=False)
    mute_redacted_audio = forms.BooleanField(
        label=_("Also silence the redacted words in the audio"),
        required=False,
        help_text=_(
            "The recording keeps a copy in which the redacted words cannot be heard; "
            "the original audio is removed and cannot be restored."
        ),
    )


class ContactRuleForm(forms.Form):
    list_type = forms.ChoiceField(
        label=_("List"),
        choices=[("whitelist", _("Whitelist: always keep")), ("blacklist", _("Blacklist: never record"))],
    )
    # strip=False: tenants.numbers judges the number as typed (a newline is refused, not dropped).
    number = forms.CharField(
        label=_("Number"), max_length=40, strip=False, help_text=_("e.g. 06 12345678 or +31612345678")
    )
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class KeywordAlertForm(forms.Form):
    # Judged by the service (recordings.alerts.clean_phrase): one place for empty, too long, duplicate.
    phrase = forms.CharField(
        label=_("Word or phrase"),
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"maxlength": "40", "autocomplete": "off"}),
        help_text=_("e.g. opzeggen or klacht indienen"),
    )


EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)


class AuditFilterForm(forms.Form):
    """The audit log's filters (Manage → Audit log); all optional, combined with AND."""

    same_when_empty = True  # no choice from the database (tenants.templatetags.console)

    person = PersonField(
        label=_("Person"),
        required=False,
        help_text=_("Entries by or about this person: username, phone-system id or full name."),
    )
    kind = forms.ChoiceField(label=_("Kind of action"), required=False)
    # Bounded: 0001-01-01 at midnight in Amsterdam lies before the first day datetime can hold in UTC.
    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )
    until = forms.DateField(
        label=_("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DAY), MaxValueValidator(LATEST_DAY)],
    )

    def __init__(self, *args: Any, people: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(PersonField, self.fields["person"]).people = people
        cast(forms.ChoiceField, self.fields["kind"]).choices = [
            ("", _("Every kind")),
            *((k.key, k.label) for k in KINDS),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        show_person(self)
        return data

    def filter[Entries: QuerySet[Any]](self, entries: Entries) -> Entries:
        """``entries`` narrowed by the valid form's filters (call after ``is_valid()``)."""
        person = self.cleaned_data["person"]
        entries = self._filter_but_person(entries)
        if person:
            entries = entries.filter(
                Q(actor_id=person.pk) | Q(target_type=USER_TARGET, target_id=str(person.pk))
            )
        return entries

    def branches[Entries: QuerySet[Any]](self, entries: Entries) -> list[Entries]:
        """:meth:`filter` as querysets whose union it is, each answerable by one index in
        position order: the entries by the person and those about them (an OR of the two made
        PostgreSQL walk the whole log by position, filtering). One queryset without a person."""
        person = self.cleaned_data["person"]
        entries = self._filter_but_person(entries)
        if not person:
            return [entries]
        return [
            entries.filter(actor_id=person.pk),
            entries.filter(target_type=USER_TARGET, target_id=str(person.pk)),
        ]

    def _filter_but_person[Entries: QuerySet[Any]](self, entries: Entries) -> Entries:
        data = self.cleaned_data
        if data["kind"]:
            entries = entries.filter(KINDS_BY_KEY[data["kind"]].q())
        zone = timezone.get_current_timezone()
        if data["since"]:
            entries = entries.filter(created_at__gte=dt.datetime.combine(data["since"], dt.time.min, zone))
        if data["until"]:
            entries = entries.filter(created_at__lte=dt.datetime.combine(data["until"], dt.time.max, zone))
        return entries


def add_errors(form: forms.BaseForm, exc: forms.ValidationError) -> None:
    """Show a service's ValidationError on the form: per field where it names one of the form's
    fields, else as a form error."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
