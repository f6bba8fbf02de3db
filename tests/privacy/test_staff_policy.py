"""The staff policy tells the customer what the supplier's support staff can and cannot do; each
line is checked here by walking the admin as support staff. A policy line without a check (or a
check without a line) fails ``test_every_policy_line_has_a_check``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tenants import services
from tenants.models import Licence, PbxKey, Role, Tenant, User
from tenants.scoping import tenant_scope
from tenants.support import STAFF_CAN, STAFF_CANNOT
from tests.base import PASSWORD, Personas, login_support
from tests.privacy.factory import make_recording

Check = Callable[[Client, Personas], None]


def _new_tenant() -> Tenant:
    return services.create_tenant(name="Initech BV", slug="initech", country="NL", language="nl")


# --- what support staff can do -----------------------------------------------------------------


def can_see_metadata(client: Client, personas: Personas) -> None:
    recording = make_recording(personas.users["always"], remote_number="+31612345678")
    for name in ["tenants_tenant", "tenants_user", "tenants_team", "tenants_licence"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    for name in ["tenants_playbacksubscription", "tenants_pbxkey", "recordings_recording"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()
    assert "user_always" in page and "…678" in page and "+31612345678" not in page
    assert "<audio" not in page and recording.storage_key not in page


def can_set_products(client: Client, personas: Personas) -> None:
    nobody = personas.no_product
    response = client.post(
        reverse("admin:tenants_licence_add"),
        {"tenant": personas.tenant_a.pk, "user": nobody.pk, "mode": "always"},
    )
    assert response.status_code == 302
    with tenant_scope(personas.tenant_a):
        assert Licence.objects.get(user=nobody).mode == "always"


def can_manage_keys(client: Client, personas: Personas) -> None:
    client.post(reverse("admin:tenants_pbxkey_add"), {"tenant": personas.tenant_a.pk, "name": "PBX 2"})
    key = PbxKey.objects.unscoped().get(name="PBX 2")
    changelist = reverse("admin:tenants_pbxkey_changelist")
    client.post(changelist, {"action": "revoke", "_selected_action": [str(key.pk)]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def can_block_sign_in(client: Client, personas: Personas) -> None:
    olga = personas.outsider
    url = reverse("admin:tenants_user_change", args=[olga.pk])
    assert client.post(url, {"is_active": ""}).status_code == 302
    olga.refresh_from_db()
    assert not olga.is_active
    assert client.post(url, {"is_active": "on"}).status_code == 302
    olga.refresh_from_db()
    assert olga.is_active


def can_send_reset_link(client: Client, personas: Personas) -> None:
    olga = personas.outsider
    olga.email = "olga@acme.example"
    olga.save()
    client.post(
        reverse("admin:tenants_user_changelist"),
        {"action": "send_password_reset_link", "_selected_action": [str(olga.pk)]},
    )
    assert [m.to for m in mail.outbox] == [["olga@acme.example"]]
    olga.refresh_from_db()
    assert olga.check_password(PASSWORD)


def can_make_a_first_admin(client: Client, personas: Personas) -> None:
    initech = _new_tenant()
    form = {"username": "peter", "tenant": initech.pk, "email": "peter@initech.example"}
    assert client.post(reverse("admin:tenants_user_add"), form).status_code == 302
    peter = User.objects.get(username="peter")
    assert peter.role == Role.ADMIN and not peter.has_usable_password()


def can_remove_an_authenticator(client: Client, personas: Personas) -> None:
    from allauth.mfa.models import Authenticator

    authenticator = Authenticator.objects.get(user=personas.admin)
    client.post(reverse("admin:mfa_authenticator_delete", args=[authenticator.pk]), {"post": "yes"})
    assert not Authenticator.objects.filter(pk=authenticator.pk).exists()


def can_read_the_audit_log(client: Client, personas: Personas) -> None:
    services.set_licence(user=personas.no_product, mode="never", acting_user=personas.admin)
    page = client.get(reverse("admin:tenants_auditentry_changelist"))
    assert page.status_code == 200 and b"Acme BV" in page.content


def can_end_the_service(client: Client, personas: Personas) -> None:
    initech = _new_tenant()
    form = {"action": "end_service", "_selected_action": [str(initech.pk)], "confirm": "yes"}
    assert client.post(reverse("admin:tenants_tenant_changelist"), form).status_code == 302
    assert Tenant.objects.get(pk=initech.pk).status != Tenant.Status.ACTIVE


# --- what support staff cannot do --------------------------------------------------------------


def cannot_hear_recordings(client: Client, personas: Personas) -> None:
    recording = make_recording(personas.users["always"])
    for url in [
        reverse("player", args=[recording.pk]),
        reverse("recording_audio", args=[recording.pk]),
        reverse("api:recording_audio", args=[recording.pk]),
    ]:
        response = client.get(url)
        assert response.status_code in {302, 401, 403, 404}, url
        assert not getattr(response, "streaming", False), url
    assert client.post(reverse("share_create", args=[recording.pk])).status_code in {403, 404}
    assert client.post(reverse("api:recording_stream", args=[recording.pk])).status_code in {401, 403}


def cannot_see_or_set_passwords(client: Client, personas: Personas) -> None:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    alice = personas.admin
    assert client.get(reverse("admin:auth_user_password_change", args=[alice.pk])).status_code == 403
    page = client.get(reverse("admin:tenants_user_change", args=[alice.pk])).content.decode()
    assert alice.password.split("$")[-1] not in page
    authenticator = Authenticator.objects.get(user=alice)
    secret = decrypt(authenticator.data["secret"])
    assert (
        secret
        not in client.get(reverse("admin:mfa_authenticator_change", args=[authenticator.pk])).content.decode()
    )


def cannot_change_roles_or_teams(client: Client, personas: Personas) -> None:
    lisa = personas.listener
    client.post(
        reverse("admin:tenants_user_change", args=[lisa.pk]),
        {"is_active": "on", "role": Role.ADMIN, "email": "sam@supplier.example", "first_name": "X"},
    )
    lisa.refresh_from_db()
    assert (lisa.role, lisa.email, lisa.first_name) == (Role.LISTENER, "", "")
    team_form = {"tenant": personas.tenant_a.pk, "name": "Sales", "members": [], "listeners": [str(lisa.pk)]}
    assert (
        client.post(reverse("admin:tenants_team_change", args=[personas.sales.pk]), team_form).status_code
        == 403
    )


def cannot_add_or_remove_people(client: Client, personas: Personas) -> None:
    form = {"username": "mallory", "tenant": personas.tenant_a.pk, "email": "mallory@supplier.example"}
    assert client.post(reverse("admin:tenants_user_add"), form).status_code == 200  # refused, with a reason
    assert not User.objects.filter(username="mallory").exists()
    delete = reverse("admin:tenants_user_delete", args=[personas.outsider.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=personas.outsider.pk).exists()


def cannot_sign_in_as_a_customer(client: Client, personas: Personas) -> None:
    from tests.privacy.test_staff_boundary import test_there_is_no_sign_in_as_path

    test_there_is_no_sign_in_as_path()
    assert client.get("/").status_code == 403
    assert client.get(reverse("manage_users")).status_code == 403


def cannot_sign_in_without_a_second_factor(client: Client, personas: Personas) -> None:
    fresh = Client()
    fresh.force_login(personas.support)  # a password-only session
    assert fresh.get(reverse("admin:index")).status_code == 302
    login_url = fresh.get(reverse("admin:login"))["Location"]
    for n in range(10):
        fresh.post(login_url, {"login": "sam", "password": f"guess {n}"}, REMOTE_ADDR=f"203.0.113.{n}")
    fresh.logout()
    fresh.post(login_url, {"login": "sam", "password": PASSWORD}, REMOTE_ADDR="203.0.113.99")
    assert "_auth_user_id" not in fresh.session


CHECKS: dict[str, Check] = {
    "see_metadata": can_see_metadata,
    "set_products": can_set_products,
    "manage_keys": can_manage_keys,
    "block_sign_in": can_block_sign_in,
    "send_reset_link": can_send_reset_link,
    "first_admin": can_make_a_first_admin,
    "remove_authenticator": can_remove_an_authenticator,
    "read_audit_log": can_read_the_audit_log,
    "end_service": can_end_the_service,
    "no_audio": cannot_hear_recordings,
    "no_passwords": cannot_see_or_set_passwords,
    "no_roles_or_teams": cannot_change_roles_or_teams,
    "no_people": cannot_add_or_remove_people,
    "no_sign_in_as": cannot_sign_in_as_a_customer,
    "no_sign_in_without_second_factor": cannot_sign_in_without_a_second_factor,
}


def test_every_policy_line_has_a_check() -> None:
    lines = [key for key, _text in STAFF_CAN + STAFF_CANNOT]
    assert len(lines) == len(set(lines))
    assert set(CHECKS) == set(lines)


@pytest.mark.parametrize("line", list(CHECKS))
def test_support_staff_do_what_the_policy_says(client: Client, personas: Personas, line: str) -> None:
    login_support(client, personas.support)
    CHECKS[line](client, personas)


@pytest.mark.parametrize(("admin_attr", "language"), [("admin", "nl"), ("charlie", "en")])
def test_the_policy_lists_every_line_in_the_customers_language(
    client: Client, personas: Personas, admin_attr: str, language: str
) -> None:
    client.force_login(getattr(personas, admin_attr))
    page = client.get(reverse("privacy:staff_policy")).content.decode()
    for key, _text in STAFF_CAN:
        assert f'data-can="{key}"' in page, key
    for key, _text in STAFF_CANNOT:
        assert f'data-cannot="{key}"' in page, key
    for _key, text in STAFF_CAN + STAFF_CANNOT:
        with translation.override(language):
            shown = str(text)
        with translation.override("en"):
            english = str(text)
        assert shown.replace("'", "&#x27;") in page, shown
        assert (shown != english) == (language == "nl"), f"not translated: {english}"
