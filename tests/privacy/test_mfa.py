"""Customer admins set up an authenticator app before reaching any portal page."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from tests.base import PASSWORD, Personas, login


def test_admin_without_totp_is_sent_to_set_it_up(client: Client, personas: Personas) -> None:
    Authenticator.objects.filter(user=personas.admin).delete()
    login(client, "alice")
    for path in ["/", reverse("privacy:overview"), reverse("privacy:audit_log")]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == reverse("mfa_activate_totp")
    # The set-up page is reachable (allauth first asks for the password again).
    setup = client.get(reverse("mfa_activate_totp"), follow=True)
    assert setup.status_code == 200
    setup = client.post(
        setup.request["PATH_INFO"] + "?" + setup.request["QUERY_STRING"], {"password": PASSWORD}, follow=True
    )
    assert setup.redirect_chain[-1][0] == reverse("mfa_activate_totp")
    assert "totp_url" in setup.context
    assert client.post(reverse("account_logout")).status_code == 302  # and so is signing out


def test_the_rule_can_be_switched_off_per_tenant(client: Client, personas: Personas) -> None:
    Authenticator.objects.filter(user=personas.admin).delete()
    personas.tenant_a.require_mfa_for_admins = False
    personas.tenant_a.save()
    login(client, "alice")
    assert client.get("/").status_code == 200


def test_admin_with_totp_signs_in_with_a_code_and_gets_in(client: Client, personas: Personas) -> None:
    response = client.post(reverse("account_login"), {"login": "alice", "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")  # the password alone is not enough
    assert client.get("/").status_code == 302
    assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200  # wrong code
    assert client.get("/").status_code == 302
    client2 = Client()
    login(client2, "alice")
    assert client2.get("/").status_code == 200


def test_other_roles_are_not_asked(client: Client, personas: Personas) -> None:
    for person in ("lisa", "user_always"):
        c = Client()
        login(c, person)
        assert c.get("/").status_code == 200, person
