"""Support staff never hold a customer's credentials (issue 13): no password form, no roles or
teams, no "log in as", a reset link only to the person's own address, a second factor for the
admin and a throttled admin log-in."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tenants import services
from tenants.audit import AuditEntry
from tenants.models import Role, Tenant, User
from tenants.scoping import tenant_scope
from tests.base import PASSWORD, Personas, login, login_support, totp_code, totp_for_secret

RESET_SENT = "support.user.password_reset_sent"


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _entries(tenant: Tenant, action: str) -> list[AuditEntry]:
    with tenant_scope(tenant):
        return list(AuditEntry.objects.filter(action=action).order_by("seq"))


# --- passwords ---------------------------------------------------------------------------------


def test_no_password_form_for_a_customer_user(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    url = reverse("admin:auth_user_password_change", args=[personas.admin.pk])
    assert client.get(url).status_code == 403
    new = {"password1": "taken over 12345", "password2": "taken over 12345", "usable_password": "true"}
    assert client.post(url, new).status_code == 403
    personas.admin.refresh_from_db()
    assert personas.admin.check_password(PASSWORD)
    assert not personas.admin.check_password("taken over 12345")
    assert not _entries(personas.tenant_a, "support.user.change")


def test_the_change_page_of_a_customer_user_shows_no_password_and_changes_only_the_sign_in(
    client: Client, personas: Personas
) -> None:
    lisa = personas.listener
    lisa.email = "lisa@acme.example"
    lisa.save()
    login_support(client, personas.support)
    url = reverse("admin:tenants_user_change", args=[lisa.pk])
    page = client.get(url).content.decode()
    assert "user_permissions" not in page and 'name="is_superuser"' not in page
    assert 'name="role"' not in page and 'name="email"' not in page
    assert "password/" not in page and "md5$" not in page and lisa.password.split("$")[-1] not in page
    response = client.post(
        url,
        {
            "is_active": "",  # blocks the sign-in: allowed
            "role": Role.ADMIN,
            "email": "sam@supplier.example",
            "username": "lisa2",
            "is_staff": "on",
            "is_superuser": "on",
            "password": "md5$x$y",
        },
    )
    assert response.status_code == 302
    lisa.refresh_from_db()
    assert (lisa.role, lisa.email, lisa.username) == (Role.LISTENER, "lisa@acme.example", "lisa")
    assert not lisa.is_staff and not lisa.is_superuser and lisa.check_password(PASSWORD)
    assert not lisa.is_active
    [entry] = _entries(personas.tenant_a, "support.user.change")
    assert entry.detail == {"fields": ["Active"]}


def test_support_staff_do_not_delete_customer_users(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    alice = personas.admin
    assert (
        client.post(reverse("admin:tenants_user_delete", args=[alice.pk]), {"post": "yes"}).status_code == 403
    )
    changelist = reverse("admin:tenants_user_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [str(alice.pk)], "post": "yes"})
    assert User.objects.filter(pk=alice.pk).exists()


# --- new customer users: no password, a link to their own address ---------------------------


def _new_tenant() -> Tenant:
    return services.create_tenant(name="Initech BV", slug="initech", country="NL", language="nl")


def test_the_add_form_takes_no_password_and_the_new_admin_sets_their_own(
    client: Client, personas: Personas
) -> None:
    initech = _new_tenant()
    login_support(client, personas.support)
    form = client.get(reverse("admin:tenants_user_add")).content.decode()
    assert 'type="password"' not in form and 'name="role"' not in form
    response = client.post(
        reverse("admin:tenants_user_add"),
        {
            "username": "peter",
            "tenant": initech.pk,
            "email": "peter@initech.example",
            "password": "chosen by staff 123",
            "password1": "chosen by staff 123",
            "password2": "chosen by staff 123",
            "role": Role.USER,
        },
    )
    assert response.status_code == 302
    peter = User.objects.get(username="peter")
    assert peter.tenant == initech and peter.role == Role.ADMIN  # a new customer's first admin
    assert not peter.has_usable_password()
    assert not peter.check_password("chosen by staff 123")
    [message] = mail.outbox
    assert message.to == ["peter@initech.example"]
    assert [e.action for e in _entries(initech, "support.user.create")] == ["support.user.create"]
    [sent] = _entries(initech, RESET_SENT)
    assert sent.actor_id == personas.support.pk and sent.target_id == str(peter.pk)

    # Peter follows the link (a fresh browser) and chooses his password; staff never knew it.
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", message.body)
    assert link is not None
    browser = Client()
    form_page = browser.get(urlsplit(link.group(0)).path, follow=True)
    assert form_page.status_code == 200
    chosen = "peters own secret 42"
    done = browser.post(form_page.redirect_chain[-1][0], {"password1": chosen, "password2": chosen})
    assert done.status_code == 302
    peter.refresh_from_db()
    assert peter.check_password(chosen)


def test_a_customer_with_an_admin_adds_its_own_people(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    response = client.post(
        reverse("admin:tenants_user_add"),
        {"username": "mallory", "tenant": personas.tenant_a.pk, "email": "sam@supplier.example"},
    )
    assert response.status_code == 200
    assert "has an admin" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()
    assert not mail.outbox


def test_a_customer_whose_admins_are_blocked_gets_a_new_admin(client: Client, personas: Personas) -> None:
    User.objects.filter(pk=personas.admin.pk).update(is_active=False)
    login_support(client, personas.support)
    response = client.post(
        reverse("admin:tenants_user_add"),
        {"username": "anna", "tenant": personas.tenant_a.pk, "email": "anna@acme.example"},
    )
    assert response.status_code == 302
    assert User.objects.get(username="anna").role == Role.ADMIN
    assert mail.outbox[0].to == ["anna@acme.example"]


# --- the reset link: staff send it, the customer's audit log says so -------------------------


def test_staff_send_a_reset_link_and_the_customers_audit_log_says_so(
    client: Client, personas: Personas
) -> None:
    alice, lisa = personas.admin, personas.listener
    alice.email = "alice@acme.example"
    alice.save()
    login_support(client, personas.support)
    changelist = reverse("admin:tenants_user_changelist")
    response = client.post(
        changelist,
        {"action": "send_password_reset_link", "_selected_action": [str(alice.pk), str(lisa.pk)]},
        follow=True,
    )
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "lisa has no e-mail address" in shown  # refused, said so; nothing sent to anyone else
    assert [m.to for m in mail.outbox] == [["alice@acme.example"]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)  # a link, not a new password
    [entry] = _entries(personas.tenant_a, RESET_SENT)
    assert entry.target_id == str(alice.pk)
    # In words, in the customer's language (Acme is Dutch), and on the customer's audit page.
    assert "wachtwoord" in entry.detail["summary"]
    alice_browser = Client()
    alice_browser.force_login(alice)
    page = alice_browser.get(reverse("manage_audit")).content.decode()
    said = f"Support ({personas.support.username}) heeft {alice.username} een link gestuurd om een nieuw"
    assert said in page


def test_no_reset_link_for_a_blocked_person(client: Client, personas: Personas) -> None:
    olga = personas.outsider
    olga.email = "olga@acme.example"
    olga.is_active = False
    olga.save()
    login_support(client, personas.support)
    client.post(
        reverse("admin:tenants_user_changelist"),
        {"action": "send_password_reset_link", "_selected_action": [str(olga.pk)]},
    )
    assert not mail.outbox
    assert not _entries(personas.tenant_a, RESET_SENT)


# --- teams and roles ---------------------------------------------------------------------------


def test_support_staff_do_not_change_teams(client: Client, personas: Personas) -> None:
    login_support(client, personas.support)
    sales = personas.sales
    page = client.get(reverse("admin:tenants_team_change", args=[sales.pk]))
    assert page.status_code == 200  # shown, read-only
    assert 'name="listeners"' not in page.content.decode()
    response = client.post(
        reverse("admin:tenants_team_change", args=[sales.pk]),
        {"tenant": personas.tenant_a.pk, "name": "Sales", "listeners": [str(personas.support.pk)]},
    )
    assert response.status_code == 403
    assert client.get(reverse("admin:tenants_team_add")).status_code == 403
    assert (
        client.post(reverse("admin:tenants_team_delete", args=[sales.pk]), {"post": "yes"}).status_code == 403
    )
    with tenant_scope(personas.tenant_a):
        sales.refresh_from_db()
        assert list(sales.listeners.all()) == [personas.listener]


# --- no "log in as"; the portal and the app refuse staff ---------------------------------------


def _routes(resolver: URLResolver, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            found.append((route, pattern.name or ""))
    return found


def test_there_is_no_sign_in_as_path() -> None:
    suspicious = re.compile(r"hijack|impersonat|login[_-]?as|loginas|become|masquerade|switch[_-]?user|sudo")
    for route, name in _routes(get_resolver()):
        assert not suspicious.search(route.lower()) and not suspicious.search(name.lower()), (route, name)
    for app in settings.INSTALLED_APPS:
        assert not suspicious.search(app.lower()), app


def test_support_staff_cannot_use_the_portal_or_the_app(client: Client, personas: Personas) -> None:
    support = personas.support
    login_support(client, support)
    for url in ["/", reverse("manage_users"), reverse("manage_audit"), reverse("privacy:overview")]:
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("api:recordings")).status_code in {401, 403}
    api = client.post(
        reverse("api:login"),
        {
            "username": "sam",
            "password": PASSWORD,
            "device_name": "x",
            "totp_code": totp_code(personas.support),
        },
        content_type="application/json",
    )
    assert api.status_code in {401, 403} and "token" not in api.json()


# --- a second factor for the admin -------------------------------------------------------------


def test_staff_without_an_authenticator_are_sent_to_set_one_up(client: Client, personas: Personas) -> None:
    personas.support.is_superuser = True
    personas.support.save()
    assert login(client, "sam").status_code == 302
    assert _signed_in(client)
    response = client.get(reverse("admin:tenants_user_changelist"))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_activate_totp")


def test_staff_whose_session_skipped_the_code_are_asked_for_it(client: Client, personas: Personas) -> None:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    support = personas.support
    support.is_superuser = True
    support.save()
    TOTP.activate(support, generate_totp_secret())
    client.force_login(support)  # a session without the authenticator's code
    admin_url = reverse("admin:tenants_user_changelist")
    response = client.get(admin_url)
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("mfa_reauthenticate")
    answered = client.post(response["Location"], {"code": totp_code(support)})
    assert answered.status_code == 302
    assert client.get(admin_url).status_code == 200


# --- the admin's log-in is the portal's, throttled --------------------------------------------


def test_the_admin_login_is_the_portals(client: Client, personas: Personas) -> None:
    page = client.get(reverse("admin:login"), {"next": "/admin/tenants/"})
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("account_login"))
    assert "next=%2Fadmin%2Ftenants%2F" in page["Location"]
    # Django's own form is never served, and never signs anyone in.
    response = client.post(reverse("admin:login"), {"username": "sam", "password": PASSWORD})
    assert response.status_code == 302 and not _signed_in(client)
    # An absolute `next` elsewhere is dropped.
    elsewhere = client.get(reverse("admin:login"), {"next": "https://evil.example/"})
    assert "evil" not in elsewhere["Location"]


@pytest.mark.parametrize("addresses", ["one", "many"])
def test_forty_wrong_passwords_then_the_right_one_is_refused(
    client: Client, personas: Personas, addresses: str
) -> None:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(personas.support, generate_totp_secret())
    login_url = client.get(reverse("admin:login"))["Location"]

    def attempt(password: str, n: int) -> object:
        ip = "198.51.100.7" if addresses == "one" else f"198.51.100.{n}"
        return client.post(login_url, {"login": "sam", "password": password}, REMOTE_ADDR=ip)

    for n in range(40):
        attempt(f"wrong password {n}", n)
    right = attempt(PASSWORD, 200)
    assert not _signed_in(client)
    assert right.status_code != 302 or urlsplit(right["Location"]).path != reverse("mfa_authenticate")
    assert client.get(reverse("admin:index")).status_code == 302


def test_without_wrong_tries_the_right_password_reaches_the_code_step(
    client: Client, personas: Personas
) -> None:
    """The control for the test above: the same request passes when nothing was guessed."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(personas.support, generate_totp_secret())
    login_url = client.get(reverse("admin:login"))["Location"]
    right = client.post(login_url, {"login": "sam", "password": PASSWORD}, REMOTE_ADDR="198.51.100.200")
    assert right.status_code == 302 and urlsplit(right["Location"]).path == reverse("mfa_authenticate")


def test_support_staff_land_in_the_admin_after_signing_in(client: Client, personas: Personas) -> None:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    TOTP.activate(personas.support, generate_totp_secret())
    assert login(client, "sam")["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200
    assert login(Client(), "alice")["Location"] == "/"


def test_staff_enrol_an_authenticator_and_then_reach_the_admin(client: Client, personas: Personas) -> None:
    assert login(client, "sam").status_code == 302
    sent = client.get(reverse("admin:index"))
    assert sent["Location"] == reverse("mfa_activate_totp")
    setup = client.get(sent["Location"], follow=True)  # allauth asks for the password again first
    setup = client.post(
        setup.request["PATH_INFO"] + "?" + setup.request["QUERY_STRING"], {"password": PASSWORD}, follow=True
    )
    secret = setup.context["form"].secret
    code = totp_for_secret(secret)
    assert client.post(reverse("mfa_activate_totp"), {"code": code}).status_code == 302
    # Enrolled; the admin then asks for a code in this session too.
    asked = client.get(reverse("admin:index"))
    assert asked.status_code == 302 and urlsplit(asked["Location"]).path == reverse("mfa_reauthenticate")
    cache.clear()  # the code just used is remembered (no replay): as if the next code came up
    assert client.post(asked["Location"], {"code": code}).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_signed_in_customer_is_refused_without_a_redirect_loop(client: Client, personas: Personas) -> None:
    login(client, "lisa")
    response = client.get(reverse("admin:index"), follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) == 1


def test_a_staff_account_is_never_turned_into_a_customer_user(client: Client, personas: Personas) -> None:
    """Otherwise its holder would know the password of a customer admin."""
    other = services.create_support_staff(username="steve", password=PASSWORD)
    login_support(client, personas.support)
    url = reverse("admin:tenants_user_change", args=[other.pk])
    page = client.get(url).content.decode()
    assert 'name="tenant"' not in page and 'name="role"' not in page and 'name="is_staff"' not in page
    response = client.post(
        url,
        {
            "username": "steve",
            "first_name": "Steve",
            "tenant": personas.tenant_a.pk,
            "role": Role.ADMIN,
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302  # saved: the form was valid, the other fields ignored
    other.refresh_from_db()
    assert other.first_name == "Steve"
    assert other.tenant_id is None and other.is_staff and other.role == Role.USER


@pytest.mark.parametrize(("steps_back", "holds"), [(1, True), (2, False)])
def test_a_code_of_the_step_before_still_holds_an_older_one_does_not(
    personas: Personas, steps_back: int, holds: bool
) -> None:
    import time

    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

    secret = generate_totp_secret()
    TOTP.activate(personas.support, secret)
    totp_for_secret(secret)  # away from a period's end, so "the step before" stays the same below
    old = format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD - steps_back))
    client = Client()
    assert client.post(reverse("account_login"), {"login": "sam", "password": PASSWORD})[
        "Location"
    ] == reverse("mfa_authenticate")
    answered = client.post(reverse("mfa_authenticate"), {"code": old})
    assert (answered.status_code == 302) is holds
    assert (client.get(reverse("admin:index")).status_code == 200) is holds
