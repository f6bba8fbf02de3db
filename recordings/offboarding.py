"""Offboarding: a person leaves, and the admin decides what happens to their recordings.

Dubber's three choices (``Choice``):

- ``keep``: their recordings stay until their own rules delete them (standard ones: the
  tenant's retention);
- ``hand_over``: their standard recordings go to an active colleague (who becomes their owner)
  or to a team (the person's team memberships become exactly that team, so its listeners hear
  them);
- ``delete``: all their recordings are deleted now, through the lifecycle's one deletion path.

Whatever the choice, the person can no longer sign in (sessions and API tokens end, devices get
no more pushes, their share links stop working) and is no longer recorded: their product
becomes the licence mode "never" (a Playback subscription is removed, so its saved recordings
follow the subscription-removal rule). Playback recordings are the person's own: they are never
handed to anybody; under ``keep`` and ``hand_over`` they follow that rule (30 days at most, so a
mistaken offboarding can still be undone by reactivating and subscribing again), under
``delete`` they go now.

Why a colleague becomes the *owner* of handed-over recordings: the one visibility rule
(``Recording.objects.visible_to``) then needs no change, the colleague and their team's listeners
hear them exactly as they hear the colleague's own, and the call row keeps who was on the call.
Why a team gets them through *membership*: the same rule already gives a team's listeners the
standard recordings of its members; a deactivated member is recorded no more, so the team hears
exactly the recordings the person leaves behind.

:func:`preview_offboarding` counts the consequences with the same querysets
:func:`offboard_user` applies; both refuse bad input with the same checks, and the change is one
transaction (the storage deletes of ``delete`` follow its commit, through
``delete_recording_objects``; rows whose storage delete fails stay due now, and the sweep
finishes them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from notifications.models import Device
from recordings import lifecycle, products
from recordings.lifecycle.expiry import ExpiryRule
from recordings.models import Kind, Recording, ShareLink
from tenants import services
from tenants.audit import log_event
from tenants.models import ApiToken, RecordingMode, Role, Team, User
from tenants.scoping import service_scope

if TYPE_CHECKING:
    from django.http import HttpRequest


class Choice(models.TextChoices):
    KEEP = "keep", gettext_lazy("Keep them until their retention period ends")
    HAND_OVER = "hand_over", gettext_lazy("Hand their standard recordings to a colleague or a team")
    DELETE = "delete", gettext_lazy("Delete them now")


NEVER = f"licence:{RecordingMode.NEVER}"


def standard_of(person: User) -> QuerySet[Recording]:
    """The person's live standard recordings (what ``hand_over`` hands over)."""
    return Recording.objects.filter(owner=person, kind=Kind.STANDARD, deleted_at__isnull=True)


def playback_of(person: User) -> QuerySet[Recording]:
    """The person's live playback recordings (never handed over)."""
    return Recording.objects.filter(owner=person, kind=Kind.PLAYBACK, deleted_at__isnull=True)


def _live_of(person: User) -> QuerySet[Recording]:
    return Recording.objects.filter(owner=person, deleted_at__isnull=True)


def _tokens_of(person: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=person, revoked_at__isnull=True)


def _devices_of(person: User) -> QuerySet[Device]:
    return Device.objects.filter(user=person, active=True)


def _shares_of(person: User, now: datetime) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(created_by=person, revoked_at__isnull=True, expires_at__gt=now)


@dataclass(frozen=True)
class OffboardingPlan:
    """What offboarding ``person`` with ``choice`` does, in numbers (nothing changed yet)."""

    person: User
    choice: str
    colleague: User | None
    team: Team | None
    standard: int  # live standard recordings: kept, handed over or deleted
    playback: int  # live playback recordings: their rule, or deleted
    product: products.ProductPreview  # the product becoming "never": the playbacks' new dates
    tokens: int
    devices: int
    shares: int
    teams_left: tuple[str, ...] = ()  # hand_over to a team: the teams the person leaves
    team_listeners: int = 0  # ... and how many listeners the team has

    @property
    def deleted_now(self) -> int:
        return self.standard + self.playback if self.choice == Choice.DELETE else 0

    @property
    def handed_over(self) -> int:
        return self.standard if self.choice == Choice.HAND_OVER else 0

    def audit_detail(self) -> dict[str, object]:
        detail: dict[str, object] = {
            "choice": self.choice,
            "standard": self.standard,
            "playback": self.playback,
            "deleted": self.deleted_now,
            "handed_over": self.handed_over,
            "tokens": self.tokens,
            "devices": self.devices,
            "shares": self.shares,
            "product_before": self.product.before,
        }
        if self.colleague is not None:
            detail["user"] = str(self.colleague.pk)
        if self.team is not None:
            detail["team_id"] = str(self.team.pk)
            detail["team_name"] = self.team.name
        return detail


def _check(
    *, person: User, choice: str, colleague: User | None, team: Team | None, acting_user: User | None
) -> None:
    """The refusals, before anything is counted or changed."""
    if choice not in Choice.values:
        raise ValidationError({"choice": _("Choose what happens to the recordings.")})
    if person.tenant_id is None:
        raise ValidationError(_("Support staff have no recordings to offboard."))
    if acting_user is not None and person.pk == acting_user.pk:
        raise ValidationError(_("You cannot deactivate yourself."))
    if not person.is_active:
        raise ValidationError(
            _("%(user)s is already deactivated; reactivate them first.") % {"user": person.picker_label}
        )
    if choice != Choice.HAND_OVER:
        if colleague is not None or team is not None:
            raise ValidationError(_("A colleague or team is only chosen when handing the recordings over."))
        return
    if (colleague is None) == (team is None):
        raise ValidationError({"colleague": _("Choose one colleague or one team to hand the recordings to.")})
    if colleague is not None:
        if colleague.tenant_id != person.tenant_id:
            raise ValidationError({"colleague": _("This colleague is not in your organisation.")})
        if colleague.pk == person.pk:
            raise ValidationError(
                {"colleague": _("Hand the recordings to somebody else than the person who leaves.")}
            )
        if not colleague.is_active:
            raise ValidationError(
                {
                    "colleague": _("%(user)s is deactivated and cannot receive recordings.")
                    % {"user": colleague.picker_label}
                }
            )
    if team is not None:
        if team.tenant_id != person.tenant_id:
            raise ValidationError({"team": _("This team is not in your organisation.")})
        if not _hearing(team).exists():
            raise ValidationError(
                {
                    "team": _("The team %(team)s has no active listeners: nobody would hear the recordings.")
                    % {"team": team.name}
                }
            )


def preview_offboarding(
    *,
    person: User,
    choice: str,
    colleague: User | None = None,
    team: Team | None = None,
    acting_user: User | None = None,
    now: datetime | None = None,
) -> OffboardingPlan:
    """The consequences of :func:`offboard_user` with these arguments; changes nothing.
    Refuses the same bad input (``ValidationError``)."""
    now = now or timezone.now()
    _check(person=person, choice=choice, colleague=colleague, team=team, acting_user=acting_user)
    with service_scope(services.tenant_of(person)):
        before = services.product_value(person)
        if before and before != NEVER:
            product = products.preview_product_change(
                user=person, product="licence", setting="never", now=now
            )
        else:
            product = products.ProductPreview(person=person, before=before, after=before)
        teams_left: tuple[str, ...] = ()
        listeners = 0
        if team is not None:
            teams_left = tuple(
                person.teams.exclude(pk=team.pk).order_by("name").values_list("name", flat=True)
            )
            listeners = _hearing(team).count()
        return OffboardingPlan(
            person=person,
            choice=choice,
            colleague=colleague,
            team=team,
            standard=standard_of(person).count(),
            playback=playback_of(person).count(),
            product=product,
            tokens=_tokens_of(person).count(),
            devices=_devices_of(person).count(),
            shares=_shares_of(person, now).count(),
            teams_left=teams_left,
            team_listeners=listeners,
        )


@dataclass(frozen=True)
class OffboardingResult:
    plan: OffboardingPlan
    deleted: int = 0  # recordings deleted now (storage objects and rows)
    left_for_sweep: int = 0  # recordings whose storage delete failed: due now, the sweep retries


def offboard_user(
    *,
    person: User,
    choice: str,
    colleague: User | None = None,
    team: Team | None = None,
    acting_user: User,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> OffboardingResult:
    """Deactivate ``person`` and apply ``choice`` to their recordings, all or nothing; one audit
    entry (``manage.user.offboard``) with the choice and the counts. Call outside a transaction
    (``delete`` deletes storage objects after the commit)."""
    now = now or timezone.now()
    tenant = services.tenant_of(person)
    with transaction.atomic(), service_scope(tenant):
        # Lock the people involved and judge them as they are now (a colleague deactivated a
        # moment ago is refused, not handed recordings).
        locked = {u.pk: u for u in User.objects.select_for_update().filter(pk__in=_pks(person, colleague))}
        person = locked.get(person.pk, person)
        if colleague is not None:
            colleague = locked.get(colleague.pk, colleague)
        plan = preview_offboarding(
            person=person, choice=choice, colleague=colleague, team=team, acting_user=acting_user, now=now
        )
        doomed: list[uuid.UUID] = []
        if choice == Choice.DELETE:
            # Due now under the offboarding rule: if a storage delete fails after the commit,
            # the sweep deletes what is left.
            doomed = list(_live_of(person).values_list("pk", flat=True))
            _live_of(person).update(expires_at=now, expiry_rule=ExpiryRule.OFFBOARDED)
        elif choice == Choice.HAND_OVER and colleague is not None:
            standard_of(person).update(owner=colleague)
        elif choice == Choice.HAND_OVER and team is not None:
            person.teams.set([team])
        if plan.product.before and plan.product.before != NEVER:
            products.set_user_product(user=person, product="licence", setting=RecordingMode.NEVER)
        _tokens_of(person).update(revoked_at=now)
        _devices_of(person).update(active=False, deactivated_reason="user_deactivated")
        _shares_of(person, now).update(revoked_at=now)
        User.objects.filter(pk=person.pk).update(is_active=False)
        log_event(
            tenant=tenant,
            actor=acting_user,
            action="manage.user.offboard",
            target=person,
            detail=plan.audit_detail(),
            request=request,
        )
    person.refresh_from_db()
    if not doomed:
        return OffboardingResult(plan=plan)
    result = lifecycle.delete_recording_objects(recordings=doomed, reason=ExpiryRule.OFFBOARDED, now=now)
    return OffboardingResult(plan=plan, deleted=result.rows, left_for_sweep=len(result.failed))


def _hearing(team: Team) -> QuerySet[User]:
    """The team's listeners who hear its members' standard recordings under the visibility rule
    (``Recording.objects.visible_to``): active people with the listener role (an admin listed as
    a listener hears only their own recordings)."""
    return team.listeners.filter(is_active=True, role=Role.LISTENER)


def _pks(person: User, colleague: User | None) -> list[uuid.UUID]:
    return [person.pk] + ([colleague.pk] if colleague is not None else [])
