"""Offboarding (Manage → People → Deactivate): the three choices for the person's recordings,
two steps with the consequences in numbers, the audit entry, access ending, and bad input
refused with nothing half-applied."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from notifications import services as push
from notifications.models import Device
from recordings import offboarding, social
from recordings.lifecycle import sweep_expired
from recordings.models import Kind, Recording, ShareLink
from tenants import services
from tenants.api.tokens import authenticate_api_token, issue_api_token
from tenants.audit import AuditEntry
from tenants.audit.readable import readable
from tenants.models import ApiToken, Licence, PlaybackSubscription, User
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.lifecycle_factory import make_recording, object_exists


@pytest.fixture
def admin(client: Client, personas: Personas) -> Client:
    client.force_login(personas.admin)
    return client


def _live(user: User, kind: str | None = None) -> list[Recording]:
    with tenant_scope(user.tenant_id):  # type: ignore[arg-type]
        qs = Recording.objects.filter(owner=user, deleted_at__isnull=True)
        if kind:
            qs = qs.filter(kind=kind)
        return list(qs)


def _entries(personas: Personas) -> list[AuditEntry]:
    with tenant_scope(personas.tenant_a):
        return list(AuditEntry.objects.filter(action="manage.user.offboard"))


def _leaver(personas: Personas) -> User:
    """Bob, in Sales, with 3 standard recordings, an app sign-in, a phone and a share link."""
    bob = personas.users["always"]
    bob.first_name, bob.last_name = "Bob", "Bakker"
    bob.save()
    recs = [make_recording(bob, kind=Kind.STANDARD) for _n in range(3)]
    issue_api_token(user=bob, name="Bob's phone", acting_user=bob)
    push.register_device(user=bob, token="fcm-bob-1", platform="android")
    social.create_share(recording=recs[0], acting_user=bob)
    return bob


def _assert_gone_access(bob: User) -> None:
    bob.refresh_from_db()
    assert not bob.is_active
    with tenant_scope(bob.tenant_id):  # type: ignore[arg-type]
        assert not ApiToken.objects.filter(user=bob, revoked_at__isnull=True).exists()
        assert not Device.objects.filter(user=bob, active=True).exists()
        assert not ShareLink.objects.filter(created_by=bob, revoked_at__isnull=True).exists()
        assert Licence.objects.get(user=bob).mode == "never"  # no longer recorded


def test_keep_states_the_numbers_then_deactivates(admin: Client, personas: Personas) -> None:
    bob = _leaver(personas)
    bob_client = Client()
    bob_client.force_login(bob)
    step_one = admin.post(reverse("manage_user_offboard", args=[bob.pk]), {"choice": "keep"})
    assert step_one.status_code == 200
    plan = step_one.context["plan"]
    assert (plan.standard, plan.tokens, plan.devices, plan.shares) == (3, 1, 1, 1)
    page = step_one.content.decode()
    assert (
        "3 standaardopnames van Bob Bakker (user_always) blijven bewaard tot de bewaartermijn afloopt" in page
    )
    bob.refresh_from_db()
    assert bob.is_active  # step one changed nothing
    done = admin.post(reverse("manage_user_offboard", args=[bob.pk]), {"choice": "keep", "confirm": "1"})
    assert done.status_code == 302
    _assert_gone_access(bob)
    assert len(_live(bob, Kind.STANDARD)) == 3  # kept until their retention ends
    assert bob_client.get(reverse("home")).status_code == 302  # the session ended
    [entry] = _entries(personas)
    assert entry.actor_id == personas.admin.pk
    assert entry.detail["choice"] == "keep" and entry.detail["standard"] == 3
    with translation.override("nl"):
        nl = readable(personas.tenant_a.pk, [entry])[0].sentence
    with translation.override("en"):
        en = readable(personas.tenant_a.pk, [entry])[0].sentence
    assert "heeft Bob Bakker (user_always) gedeactiveerd: 3 standaardopnames bewaard" in nl
    assert "deactivated Bob Bakker (user_always): 3 standard recordings kept" in en


def test_hand_over_to_a_colleague_makes_them_the_owner(admin: Client, personas: Personas) -> None:
    bob = _leaver(personas)
    olga = personas.outsider  # not in Sales
    playback_user = personas.playback["days_30"]
    preview = admin.post(
        reverse("manage_user_offboard", args=[bob.pk]), {"choice": "hand_over", "colleague": olga.pk}
    )
    assert preview.context["plan"].handed_over == 3
    admin.post(
        reverse("manage_user_offboard", args=[bob.pk]),
        {"choice": "hand_over", "colleague": olga.pk, "confirm": "1"},
    )
    _assert_gone_access(bob)
    assert _live(bob) == [] and len(_live(olga, Kind.STANDARD)) == 3
    with tenant_scope(personas.tenant_a):  # Olga hears them through the one visibility rule
        assert Recording.objects.visible_to(olga).count() == 3
        assert Recording.objects.visible_to(personas.listener).filter(owner=olga).count() == 0
    [entry] = _entries(personas)
    with translation.override("en"):
        sentence = readable(personas.tenant_a.pk, [entry])[0].sentence
    assert f"3 standard recordings handed to {olga.picker_label}" in sentence
    assert playback_user.is_active


def test_hand_over_to_a_team_keeps_the_owner_and_only_that_team(admin: Client, personas: Personas) -> None:
    bob = _leaver(personas)
    with tenant_scope(personas.tenant_a):
        support = services.create_team(
            tenant=personas.tenant_a, name="Support", listeners=[personas.listener]
        )
    response = admin.post(
        reverse("manage_user_offboard", args=[bob.pk]), {"choice": "hand_over", "team": support.pk}
    )
    plan = response.context["plan"]
    assert plan.teams_left == ("Sales",) and plan.team_listeners == 1
    admin.post(
        reverse("manage_user_offboard", args=[bob.pk]),
        {"choice": "hand_over", "team": support.pk, "confirm": "1"},
    )
    _assert_gone_access(bob)
    with tenant_scope(personas.tenant_a):
        assert list(bob.teams.all()) == [support]
        assert Recording.objects.visible_to(personas.listener).filter(owner=bob).count() == 3
    # the team page keeps the deactivated member when it is saved
    page = admin.get(reverse("manage_team", args=[support.pk]))
    assert "(gedeactiveerd)" in page.content.decode()
    saved = admin.post(
        reverse("manage_team", args=[support.pk]),
        {"name": "Support", "members": [bob.pk], "listeners": [personas.listener.pk]},
    )
    assert saved.status_code == 302


def test_delete_goes_through_the_deletion_path(admin: Client, personas: Personas) -> None:
    bob = _leaver(personas)
    keys = [r.storage_key for r in _live(bob)]
    assert all(object_exists(k) for k in keys)
    preview = admin.post(reverse("manage_user_offboard", args=[bob.pk]), {"choice": "delete"})
    assert preview.context["plan"].deleted_now == 3
    admin.post(reverse("manage_user_offboard", args=[bob.pk]), {"choice": "delete", "confirm": "1"})
    _assert_gone_access(bob)
    assert _live(bob) == []
    assert not any(object_exists(k) for k in keys)
    with tenant_scope(personas.tenant_a):
        tombstones = Recording.objects.filter(deletion_reason="offboarded")
        assert tombstones.count() == 3 and not tombstones.exclude(owner=None).exists()
        assert not ShareLink.objects.filter(created_by=bob).exists()  # gone with the recording
    assert _entries(personas)[0].detail["deleted"] == 3


def test_playback_is_never_handed_over(admin: Client, personas: Personas) -> None:
    piet = personas.playback["minutes_100k"]
    for _n in range(2):
        rec = make_recording(piet)
        with tenant_scope(personas.tenant_a):
            Recording.objects.filter(pk=rec.pk).update(saved=True, expires_at=None)
    response = admin.post(
        reverse("manage_user_offboard", args=[piet.pk]),
        {"choice": "hand_over", "colleague": personas.outsider.pk},
    )
    plan = response.context["plan"]
    assert (plan.handed_over, plan.playback, plan.product.saved_capped) == (0, 2, 2)
    admin.post(
        reverse("manage_user_offboard", args=[piet.pk]),
        {"choice": "hand_over", "colleague": personas.outsider.pk, "confirm": "1"},
    )
    cap = timezone.localdate(timezone.now() + dt.timedelta(days=30))
    recs = _live(piet, Kind.PLAYBACK)
    assert len(recs) == 2 and {timezone.localdate(r.expires_at) for r in recs} == {cap}
    with tenant_scope(personas.tenant_a):
        assert not PlaybackSubscription.objects.filter(user=piet).exists()
    assert _live(personas.outsider) == []


@pytest.mark.parametrize(
    "case",
    ["inactive_colleague", "other_tenant_colleague", "themselves", "no_receiver", "listenerless_team", "me"],
)
def test_bad_input_is_refused_and_nothing_changes(admin: Client, personas: Personas, case: str) -> None:
    bob = _leaver(personas)
    target = bob
    data: dict[str, object] = {"choice": "hand_over", "confirm": "1"}
    if case == "inactive_colleague":
        User.objects.filter(pk=personas.outsider.pk).update(is_active=False)
        data["colleague"] = personas.outsider.pk
    elif case == "other_tenant_colleague":
        data["colleague"] = personas.charlie.pk
    elif case == "themselves":
        data["colleague"] = bob.pk
    elif case == "listenerless_team":  # an admin listed as listener hears nobody's recordings
        with tenant_scope(personas.tenant_a):
            data["team"] = services.create_team(
                tenant=personas.tenant_a, name="Empty", listeners=[personas.admin]
            ).pk
    elif case == "me":
        target, data = personas.admin, {"choice": "keep", "confirm": "1"}
    response = admin.post(reverse("manage_user_offboard", args=[target.pk]), data)
    assert response.status_code == 400
    assert response.context["form"].errors
    bob.refresh_from_db()
    personas.admin.refresh_from_db()
    assert bob.is_active and personas.admin.is_active
    assert len(_live(bob)) == 3
    with tenant_scope(personas.tenant_a):
        assert ApiToken.objects.filter(user=bob, revoked_at__isnull=True).count() == 1
        assert Licence.objects.get(user=bob).mode == "always"
    assert _entries(personas) == []


def test_the_service_refuses_a_team_of_another_tenant(personas: Personas) -> None:
    bob = _leaver(personas)
    with tenant_scope(personas.tenant_b):
        theirs = services.create_team(tenant=personas.tenant_b, name="Theirs", listeners=[personas.charlie])
    with pytest.raises(ValidationError):
        offboarding.offboard_user(person=bob, choice="hand_over", team=theirs, acting_user=personas.admin)
    bob.refresh_from_db()
    assert bob.is_active and len(_live(bob)) == 3


def test_a_failed_storage_delete_is_left_for_the_sweep(
    admin: Client, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = _leaver(personas)
    from recordings.lifecycle import deletion

    monkeypatch.setattr(deletion, "delete_storage_objects", lambda keys, storage=None: set(keys))
    result = offboarding.offboard_user(person=bob, choice="delete", acting_user=personas.admin)
    assert result.left_for_sweep == 3 and result.deleted == 0
    bob.refresh_from_db()
    assert not bob.is_active
    monkeypatch.undo()
    sweep_expired()
    assert _live(bob) == []
    with tenant_scope(personas.tenant_a):
        assert Recording.objects.filter(deletion_reason="offboarded").count() == 3


def test_the_old_deactivate_button_asks_first(admin: Client, personas: Personas) -> None:
    bob = personas.users["never"]
    response = admin.post(reverse("manage_user_active", args=[bob.pk]), {"active": "0"})
    assert response["Location"] == reverse("manage_user_offboard", args=[bob.pk])
    bob.refresh_from_db()
    assert bob.is_active
    token = issue_api_token(user=bob, name="phone", acting_user=bob).secret
    admin.post(reverse("manage_user_offboard", args=[bob.pk]), {"choice": "keep", "confirm": "1"})
    assert authenticate_api_token(token) is None


def test_colleague_search_lists_a_few_active_people_by_name(admin: Client, personas: Personas) -> None:
    bob = personas.users["always"]
    for n in range(15):
        services.create_user(
            tenant=personas.tenant_a,
            username=f"jjansen{n}",
            password=None,
            first_name="Jan",
            last_name="Jansen",
        )
    response = admin.get(
        reverse("manage_user_offboard", args=[bob.pk]), {"q": "jansen"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.count('type="radio"') == 10  # a short list, not everybody
    assert "Jan Jansen (jjansen0)" in body and "<html" not in body


def test_a_colleague_picked_before_choosing_delete_is_ignored(admin: Client, personas: Personas) -> None:
    bob = _leaver(personas)
    admin.post(
        reverse("manage_user_offboard", args=[bob.pk]),
        {"choice": "delete", "colleague": personas.outsider.pk, "confirm": "1"},
    )
    assert _live(bob) == [] and _live(personas.outsider) == []
    with (
        translation.override("en"),
        pytest.raises(ValidationError, match="only chosen when handing"),
    ):  # the service stays strict
        offboarding.preview_offboarding(
            person=personas.users["never"], choice="keep", colleague=personas.outsider
        )
