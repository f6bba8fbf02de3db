from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from recordings import rules
from recordings.models import ContactRule
from tenants.scoping import tenant_scope
from tests.base import Personas


def test_national_input_is_normalised_with_the_tenants_country(personas: Personas) -> None:
    user = personas.playback["days_30"]  # acme: NL
    rule = rules.add_rule(user=user, list_type="blacklist", number="06 12345678", name="Jan", note="sales")
    assert rule.number == "+31612345678"
    assert (rule.name, rule.note) == ("Jan", "sales")
    assert rules.is_blacklisted(user, "+31612345678")
    assert not rules.is_whitelisted(user, "+31612345678")


def test_e164_input_is_kept_and_country_matters(personas: Personas) -> None:
    charlie = personas.charlie  # globex: BE
    rule = rules.add_rule(user=charlie, list_type="whitelist", number="02 511 12 34")
    assert rule.number == "+3225111234"
    rule2 = rules.add_rule(user=charlie, list_type="whitelist", number="+31 20 222 2222")
    assert rule2.number == "+31202222222"


@pytest.mark.parametrize("bad", ["", "   ", "hello", "12", "+999 123", "anonymous", "06 1234"])
def test_invalid_numbers_are_refused_with_a_message_and_nothing_saved(personas: Personas, bad: str) -> None:
    user = personas.playback["days_30"]
    with pytest.raises(ValidationError) as exc:
        rules.add_rule(user=user, list_type="blacklist", number=bad)
    assert exc.value.message_dict["number"]
    with tenant_scope(personas.tenant_a):
        assert not ContactRule.objects.exists()


def test_unknown_list_is_refused(personas: Personas) -> None:
    with pytest.raises(ValidationError):
        rules.add_rule(user=personas.playback["days_30"], list_type="greylist", number="+31612345678")


def test_a_number_is_on_one_list_only(personas: Personas) -> None:
    user = personas.playback["days_30"]
    rules.add_rule(user=user, list_type="blacklist", number="+31612345678")
    with pytest.raises(ValidationError, match="already on your blacklist"):
        rules.add_rule(user=user, list_type="whitelist", number="0612345678")
    # Another user may list the same number.
    rules.add_rule(user=personas.playback["days_90"], list_type="whitelist", number="0612345678")


def test_update_and_remove(personas: Personas) -> None:
    user = personas.playback["days_30"]
    rule = rules.add_rule(user=user, list_type="blacklist", number="+31612345678")
    other = rules.add_rule(user=user, list_type="blacklist", number="+31612345679")
    rule = rules.update_rule(rule=rule, list_type="whitelist", note="friend")
    assert rules.is_whitelisted(user, "+31612345678")
    with pytest.raises(ValidationError):
        rules.update_rule(rule=rule, number="0612345679")  # taken by `other`
    with pytest.raises(ValidationError):
        rules.update_rule(rule=rule, number="nonsense")
    rule.refresh_from_db()
    assert rule.number == "+31612345678"
    rules.remove_rule(rule=other)
    assert not rules.is_blacklisted(user, "+31612345679")


def test_anonymous_and_empty_numbers_match_nothing(personas: Personas) -> None:
    user = personas.playback["days_30"]
    rules.add_rule(user=user, list_type="blacklist", number="+31612345678")
    assert not rules.is_blacklisted(user, "anonymous")
    assert not rules.is_blacklisted(user, "")


def test_rules_are_per_user_and_per_tenant(personas: Personas) -> None:
    rules.add_rule(user=personas.playback["days_30"], list_type="blacklist", number="+31612345678")
    assert not rules.is_blacklisted(personas.playback["days_90"], "+31612345678")
    assert not rules.is_blacklisted(personas.charlie, "+31612345678")


def test_the_service_audits_an_admins_change_to_someones_lists_not_a_persons_own(personas: Personas) -> None:
    from tenants.audit import AuditEntry

    user = personas.playback["days_30"]

    def actions() -> list[str]:
        with tenant_scope(personas.tenant_a):
            return list(
                AuditEntry.objects.filter(action__startswith="manage.contact_rule").values_list(
                    "action", flat=True
                )
            )

    own = rules.add_rule(user=user, list_type="blacklist", number="+31201111111", acting_user=user)
    rules.remove_rule(rule=own, acting_user=user)
    assert actions() == []
    by_admin = rules.add_rule(
        user=user, list_type="whitelist", number="+31202222222", acting_user=personas.admin
    )
    rules.remove_rule(rule=by_admin, acting_user=personas.admin)
    assert sorted(actions()) == ["manage.contact_rule.create", "manage.contact_rule.delete"]
    with tenant_scope(personas.tenant_a):
        entry = AuditEntry.objects.get(action="manage.contact_rule.create")
    assert entry.actor_id == personas.admin.pk and entry.detail["user"] == str(user.pk)


def test_an_admins_update_of_someones_rule_is_audited(personas: Personas) -> None:
    from tenants.audit import AuditEntry

    user = personas.playback["days_30"]
    rule = rules.add_rule(user=user, list_type="blacklist", number="+31203333333", acting_user=user)
    rules.update_rule(rule=rule, acting_user=user, name="Zelf")
    rules.update_rule(rule=rule, acting_user=personas.admin, list_type="whitelist")
    with tenant_scope(personas.tenant_a):
        updates = list(AuditEntry.objects.filter(action="manage.contact_rule.update"))
    assert [(e.actor_id, e.detail["list"]) for e in updates] == [(personas.admin.pk, "whitelist")]
