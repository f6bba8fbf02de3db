"""The readable audit log: every action code written anywhere in the code has a sentence, in
Dutch and English; the page reads as sentences, filters by person, kind and period, pages by
position; the CSV export is logged; erased personal data reads as erased."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from tenants import views
from tenants.audit import AuditEntry, erase_personal_fields, log_event
from tenants.audit.readable import KINDS, PATTERN_SENTENCES, SENTENCES, readable, sentence_template
from tenants.models import Tenant
from tests.base import Personas

ROOT = Path(__file__).resolve().parents[2]
APPS = ("tenants", "recordings", "notifications", "hiprecorder")
# Calls whose n-th positional argument is the action code.
POSITIONAL_ACTION = {"audit_change": 1, "_audit": 1}


def _strings(node: ast.expr) -> list[ast.expr]:
    """The expressions an action argument can evaluate to (both arms of ``a if c else b``)."""
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return [node]


ADMIN_AUDIT = "tenants/admin.py"  # support.<model>.<verb>, verb from self._audit(request, obj, verb)


def _admin_verbs(tree: ast.Module) -> set[str]:
    return {
        node.args[2].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "_audit"
        and len(node.args) > 2
        and isinstance(node.args[2], ast.Constant)
    }


def _code_actions() -> tuple[set[str], set[str], list[str]]:
    """(literal codes, codes the support admin makes up, places where the code cannot be read)."""
    literal: set[str] = set()
    generated: set[str] = set()
    unreadable: list[str] = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            constants = {
                t.id: n.value.value
                for n in ast.walk(tree)
                if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                for t in n.targets
                if isinstance(t, ast.Name) and t.id.endswith("_ACTION") and isinstance(n.value.value, str)
            }
            found: list[tuple[ast.expr, int]] = []
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                    if name in ("log_event", "audit_change", "_audit", "send_password_link"):
                        found += [(kw.value, node.lineno) for kw in node.keywords if kw.arg == "action"]
                    plain = isinstance(node.func, ast.Name)  # (not tenants.admin's self._audit)
                    if plain and name in POSITIONAL_ACTION and len(node.args) > POSITIONAL_ACTION[name]:
                        found.append((node.args[POSITIONAL_ACTION[name]], node.lineno))
                if isinstance(node, ast.FunctionDef):  # a default: ``action: str = "..."``
                    args = node.args.kwonlyargs
                    for arg, default in zip(args, node.args.kw_defaults, strict=True):
                        if arg.arg == "action" and default is not None:
                            found.append((default, node.lineno))
            for value, line in found:
                for expr in _strings(value):
                    where = f"{path.relative_to(ROOT)}:{line}"
                    if isinstance(expr, ast.Constant):
                        if isinstance(expr.value, str):
                            literal.add(expr.value)
                    elif isinstance(expr, ast.Name) and expr.id in constants:
                        literal.add(constants[expr.id])
                    elif isinstance(expr, ast.JoinedStr) and where.startswith(ADMIN_AUDIT):
                        generated |= {f"support.user.{verb}" for verb in _admin_verbs(tree)}
                    elif isinstance(expr, ast.Name) and expr.id == "action":
                        continue  # passed on from a caller, whose code is collected there
                    else:
                        unreadable.append(where)
    return literal, generated, unreadable


def test_every_action_code_in_the_code_has_a_sentence() -> None:
    literal, generated, unreadable = _code_actions()
    assert not unreadable, (
        f"action codes this test cannot read (use a literal or a *_ACTION constant): {unreadable}"
    )
    assert {"manage.user.product", "recording.played", "support.user.password_reset_sent"} <= literal
    missing = sorted(code for code in literal if sentence_template(code) is None)
    assert not missing, f"audit actions without a sentence in tenants/audit/readable.py: {missing}"
    assert {"support.user.create", "support.user.change", "support.user.delete"} <= generated
    missing = sorted(code for code in generated if sentence_template(code) is None)
    assert not missing, f"support admin actions without a sentence: {missing}"


def test_every_kind_of_action_is_in_a_kind() -> None:
    codes = set(SENTENCES) | {"support.user.create"}
    for code in codes:
        assert any(
            any(code.startswith(c) if c.endswith(".") else code == c for c in kind.codes) for kind in KINDS
        ), code


@pytest.mark.parametrize("code", sorted(SENTENCES) + [p.pattern for p, _s in PATTERN_SENTENCES])
def test_every_sentence_reads_in_dutch_and_english(code: str, personas: Personas) -> None:
    action = code.replace("[a-z_]+", "user").replace("\\", "")
    entry = log_event(
        tenant=personas.tenant_a,
        actor=personas.admin,
        action=action,
        target=personas.listener,
        detail={"before": "licence:always", "after": "licence:never", "recordings": 3, "via": "portal"},
    )
    with translation.override("en"):
        english = readable(personas.tenant_a.pk, [entry])[0].sentence
    with translation.override("nl"):
        dutch = readable(personas.tenant_a.pk, [entry])[0].sentence
    assert english != dutch, f"{code} has no Dutch sentence"
    assert "%(" not in english + dutch and action not in english + dutch


def _page(client: Client, **query: str) -> list[str]:
    response = client.get(reverse("manage_audit"), query)
    assert response.status_code == 200
    return [row.sentence for row in response.context["entries"]]


def test_the_licence_change_reads_as_a_sentence(client: Client, personas: Personas) -> None:
    personas.admin.first_name, personas.admin.last_name = "Anna", "de Vries"
    personas.admin.save()
    piet = personas.users["always"]
    piet.first_name, piet.last_name = "Piet", "Jansen"
    piet.save()
    client.force_login(personas.admin)
    client.post(reverse("manage_user_product", args=[piet.pk]), {"product": "licence:never", "confirm": "1"})
    with translation.override("nl"):
        client.cookies["django_language"] = "nl"
        dutch = client.get(reverse("manage_audit")).content.decode()
    assert (
        f"Anna de Vries ({personas.admin.username}) heeft het product van Piet Jansen ({piet.username}) "
        "gewijzigd van licentie Altijd naar licentie Nooit"
    ) in dutch
    assert "manage.user.product" not in dutch.replace('data-action="manage.user.product"', "")


def test_filters_by_person_kind_and_period(client: Client, personas: Personas) -> None:
    a = personas.tenant_a
    twin = personas.users["never"]
    for jan in (personas.listener, twin):
        jan.first_name, jan.last_name = "Jan", "Jansen"
        jan.save()
    log_event(tenant=a, actor=personas.admin, action="manage.user.deactivate", target=personas.listener)
    log_event(tenant=a, actor=personas.listener, action="auth.sign_in", target=personas.listener)
    log_event(tenant=a, actor=personas.admin, action="manage.team.create", target=personas.sales)
    log_event(tenant=personas.tenant_b, actor=personas.charlie, action="manage.team.create")
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    everything = client.get(url).context["entries"]
    assert {r.entry.tenant_id for r in everything} == {a.pk}
    about_lisa = client.get(url, {"person": str(personas.listener.pk)}).context["entries"]
    assert [r.entry.action for r in about_lisa] == ["auth.sign_in", "manage.user.deactivate"]
    teams = client.get(url, {"kind": "teams"}).context["entries"]
    assert [r.entry.action for r in teams] == ["manage.team.create"]
    sign_ins = client.get(url, {"kind": "sign_ins", "person": str(personas.listener.pk)}).context["entries"]
    assert [r.entry.action for r in sign_ins] == ["auth.sign_in"]
    assert client.get(url, {"since": "2999-01-01"}).context["entries"] == []
    # another tenant's person and an unknown kind are form errors, and filter nothing
    for bad in ({"person": str(personas.charlie.pk)}, {"kind": "auth."}, {"person": "x"}):
        response = client.get(url, bad)
        assert response.context["form"].errors and not response.context["filtered"]
        assert len(response.context["entries"]) == len(everything)
    # the person is typed (no list of every person on each page): username, phone-system id,
    # or a full name only one person has; two people of the same name are told apart
    page = client.get(url).content.decode()
    assert (
        f"Jan Jansen ({twin.username})" not in page and "<option" not in page.split('name="person"')[1][:200]
    )
    for typed in (personas.listener.username.upper(), personas.listener.pbx_id, str(personas.listener.pk)):
        response = client.get(url, {"person": typed})
        assert [r.entry.action for r in response.context["entries"]] == [
            "auth.sign_in",
            "manage.user.deactivate",
        ]
        assert f"Jan Jansen ({personas.listener.username})" in response.content.decode()
    both = client.get(url, {"person": " jan  JANSEN "})
    assert not both.context["filtered"] and len(both.context["entries"]) == len(everything)
    error = both.context["form"].errors["person"][0]
    assert personas.listener.username in error and twin.username in error
    twin.first_name = "Johan"
    twin.save()
    assert (
        client.get(url, {"person": "Jan Jansen"}).context["form"].cleaned_data["person"] == personas.listener
    )
    for bad in ("Nobody Here", personas.charlie.username, "x" * 151):
        assert client.get(url, {"person": bad}).context["form"].errors["person"]


def test_pages_by_position_keeping_filters(
    client: Client, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "AUDIT_PAGE", 2)
    for _n in range(5):
        log_event(
            tenant=personas.tenant_a, actor=personas.admin, action="manage.team.delete", detail={"name": "T"}
        )
    log_event(tenant=personas.tenant_a, actor=personas.admin, action="manage.user.create")
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    seen, response = [], client.get(url, {"kind": "teams"})
    while True:
        seen += [r.entry.id for r in response.context["entries"]]
        older = response.context["older_url"]
        if not older:
            break
        assert "kind=teams" in older
        response = client.get(url + older)
    expected = AuditEntry.objects.unscoped().filter(action="manage.team.delete").order_by("-id")
    assert seen == [e.id for e in expected]


def test_pages_by_position_for_a_person_by_and_about_them(
    client: Client, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person filter pages the entries by them and about them, merged in position order,
    each once (an entry both by and about them), with the other filters applied to both."""
    monkeypatch.setattr(views, "AUDIT_PAGE", 2)
    a, lisa = personas.tenant_a, personas.listener
    log_event(tenant=a, actor=lisa, action="auth.sign_in", target=lisa)  # by and about
    for n in range(3):
        log_event(tenant=a, actor=personas.admin, action="manage.user.deactivate", target=lisa)
        log_event(tenant=a, actor=lisa, action="manage.team.delete", detail={"name": f"T{n}"})
        log_event(tenant=a, actor=personas.admin, action="manage.team.delete", detail={"name": "other"})
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    for query, expected_actions in (
        ({"person": lisa.username}, None),
        ({"person": lisa.username, "kind": "teams"}, {"manage.team.delete"}),
    ):
        seen, response = [], client.get(url, query)
        while True:
            seen += [r.entry.id for r in response.context["entries"]]
            older = response.context["older_url"]
            if not older:
                break
            response = client.get(url + older)
        mine = AuditEntry.objects.unscoped().filter(
            Q(actor_id=lisa.pk) | Q(target_type="tenants.user", target_id=str(lisa.pk)), tenant=a
        )
        if expected_actions:
            mine = mine.filter(action__in=expected_actions)
        assert seen == [e.id for e in mine.order_by("-id")] and len(seen) == len(set(seen)) > 2


def test_csv_export_is_logged_and_holds_sentences(client: Client, personas: Personas) -> None:
    log_event(
        tenant=personas.tenant_a,
        actor=personas.admin,
        action="manage.user.activate",
        target=personas.listener,
    )
    log_event(
        tenant=personas.tenant_a, actor=personas.admin, action="manage.team.create", target=personas.sales
    )
    log_event(tenant=personas.tenant_b, actor=personas.charlie, action="manage.team.create")
    personas.admin.language = "en"
    personas.admin.save()
    client.force_login(personas.admin)
    response = client.post(reverse("manage_audit_export") + "?kind=people")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["When", "Who", "What"]
    assert [r[3] for r in rows[1:]] == ["manage.user.activate"]
    assert "reactivated" in rows[1][2] and personas.listener.username in rows[1][2]
    export = AuditEntry.objects.unscoped().filter(tenant=personas.tenant_a).latest("id")
    assert export.action == "manage.audit.export" and export.actor_id == personas.admin.pk
    assert export.detail == {"rows": 1, "filters": {"kind": "people"}}
    assert not AuditEntry.objects.unscoped().filter(tenant=personas.tenant_b, action="manage.audit.export")
    # a GET does not export; a bad filter exports nothing and logs nothing
    assert client.get(reverse("manage_audit_export")).status_code == 405
    before = AuditEntry.objects.unscoped().filter(action="manage.audit.export").count()
    bad = client.post(reverse("manage_audit_export") + "?since=yesterday")
    assert bad.status_code == 302
    assert AuditEntry.objects.unscoped().filter(action="manage.audit.export").count() == before


def test_csv_cells_never_start_a_formula(client: Client, personas: Personas) -> None:
    personas.listener.first_name = "=HYPERLINK(1)"
    personas.listener.save()
    log_event(
        tenant=personas.tenant_a, actor=personas.listener, action="auth.sign_in", target=personas.listener
    )
    client.force_login(personas.admin)
    rows = list(csv.reader(io.StringIO(client.post(reverse("manage_audit_export")).content.decode())))
    assert all(not cell.startswith("=") for row in rows for cell in row)


def test_an_export_above_the_limit_is_refused(
    client: Client, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenants.services import audit_log

    monkeypatch.setattr(audit_log, "AUDIT_EXPORT_LIMIT", 2)
    for _n in range(3):
        log_event(tenant=personas.tenant_a, actor=personas.admin, action="manage.team.create")
    client.force_login(personas.admin)
    response = client.post(reverse("manage_audit_export"), follow=True)
    assert response.redirect_chain and "text/html" in response["Content-Type"]
    assert not AuditEntry.objects.unscoped().filter(action="manage.audit.export").exists()


def test_erased_personal_data_reads_as_erased(personas: Personas) -> None:
    entry = log_event(
        tenant=personas.tenant_a,
        actor=personas.admin,
        action="manage.user.deactivate",
        target=personas.listener,
    )
    approve = log_event(
        tenant=personas.tenant_a,
        actor=personas.admin,
        action="privacy.subject.access_copy_approve",
        detail={"requested_by": "lisa", "recordings": 2},
        personal=("requested_by",),
    )
    Tenant.objects.filter(pk=personas.tenant_a.pk).update(status=Tenant.Status.ENDED)
    assert erase_personal_fields(tenant_id=personas.tenant_a.pk) >= 2
    fresh = AuditEntry.objects.unscoped().filter(pk__in=[entry.pk, approve.pk]).order_by("id")
    with translation.override("en"):
        first, second = (r.sentence for r in readable(personas.tenant_a.pk, fresh))
    assert first == "(erased) deactivated (erased)"
    assert "lisa" not in second and "(erased)" in second and personas.admin.username not in second


def test_queries_do_not_grow_with_the_entries(client: Client, personas: Personas) -> None:
    """A page of 3 entries and one of 30 (by and about different people and teams) take the
    same queries: the names come in one query for the page, not one per entry."""
    client.force_login(personas.admin)
    url = reverse("manage_audit")
    client.get(url)
    people = [personas.listener, *personas.users.values(), *personas.playback.values()]
    counts = []
    for n in (3, 27):
        for i in range(n):
            person = people[i % len(people)]
            if i % 3 == 0:
                action, actor, target = "manage.team.update", person, personas.sales
                detail: dict[str, object] = {"members": i, "listeners": 1}
            else:
                action, actor, target = "manage.user.product", personas.admin, person
                detail = {"before": "licence:always", "after": "licence:never"}
            log_event(tenant=personas.tenant_a, actor=actor, action=action, target=target, detail=detail)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
    entries = response.context["entries"]
    assert len(entries) >= 30
    assert counts[0] == counts[1], counts
    sentences = {e.sentence for e in entries}
    assert any(personas.sales.name in s and personas.listener.picker_label in s for s in sentences)
    assert any(personas.users["never"].picker_label in s for s in sentences)
