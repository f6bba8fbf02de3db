"""Teams: their name, members (whose recordings the team's listeners hear) and listeners."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from tenants.lists import bump_lists
from tenants.models import (
    Team,
    Tenant,
    User,
)
from tenants.scoping import service_scope
from tenants.services.base import audit_change

if TYPE_CHECKING:
    from django.http import HttpRequest


def create_team(
    *,
    tenant: Tenant,
    name: str,
    members: list[User] | tuple[User, ...] = (),
    listeners: list[User] | tuple[User, ...] = (),
    acting_user: User | None = None,
    request: HttpRequest | None = None,
) -> Team:
    with transaction.atomic(), service_scope(tenant):
        team = Team(tenant=tenant, name=name)
        team.full_clean(exclude=["tenant"])
        if Team.objects.filter(name=name).exists():
            raise ValidationError({"name": _("A team named %(name)s already exists.") % {"name": name}})
        team.save()
        set_team_people(team=team, members=members, listeners=listeners)
        audit_change(acting_user, "manage.team.create", team, request, name=team.name)
    return team


def set_team_people(
    *,
    team: Team,
    members: list[User] | tuple[User, ...],
    listeners: list[User] | tuple[User, ...],
    acting_user: User | None = None,
) -> Team:
    """Replace the team's members and listeners. Everyone must be of the team's tenant. (Not
    audited by itself: ``update_team`` and ``create_team`` are.)"""
    for person in (*members, *listeners):
        if person.tenant_id != team.tenant_id:
            raise ValidationError(_("%(user)s is not in this team's tenant.") % {"user": person})
    with transaction.atomic():
        listened_before = list(team.listeners.values_list("pk", flat=True)) if team.pk else []
        team.members.set(members)
        team.listeners.set(listeners)
        # The listeners' lists (before and after) show other people's recordings now.
        bump_lists([*listened_before, *(person.pk for person in listeners)])
    return team


def rename_team(*, team: Team, name: str, acting_user: User | None = None) -> Team:
    """Give the team another name, unique in its tenant. (Not audited by itself: ``update_team``
    is.)"""
    name = (name or "").strip()
    with transaction.atomic(), service_scope(team.tenant_id):
        if not name:
            raise ValidationError({"name": _("Give the team a name.")})
        if Team.objects.filter(name=name).exclude(pk=team.pk).exists():
            raise ValidationError({"name": _("A team named %(name)s already exists.") % {"name": name}})
        team.name = name
        team.full_clean(exclude=["tenant", "members", "listeners"])
        team.save(update_fields=["name"])
    return team


def update_team(
    *,
    team: Team,
    name: str,
    members: list[User] | tuple[User, ...],
    listeners: list[User] | tuple[User, ...],
    acting_user: User | None = None,
    request: HttpRequest | None = None,
) -> Team:
    """Rename the team and replace its members and listeners, in one step."""
    with transaction.atomic():
        rename_team(team=team, name=name)
        set_team_people(team=team, members=members, listeners=listeners)
        audit_change(
            acting_user, "manage.team.update", team, request, members=len(members), listeners=len(listeners)
        )
    return team


def delete_team(*, team: Team, acting_user: User | None = None, request: HttpRequest | None = None) -> None:
    """Remove a team (its members' recordings stay; its listeners stop hearing them)."""
    with transaction.atomic(), service_scope(team.tenant_id):
        audit_change(acting_user, "manage.team.delete", team, request, name=team.name)
        bump_lists(team.listeners.values_list("pk", flat=True))  # they hear the members no more
        Team.objects.filter(pk=team.pk).delete()
