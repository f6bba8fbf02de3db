"""Every state change of tenants, people, teams, products and phone-system keys, one module per
kind of thing (``tenant``, ``people``, ``products``, ``teams``, ``pbx_keys``).

Plain functions with keyword-only arguments; each runs in one transaction and raises
``django.core.exceptions.ValidationError`` (with a message a person can act on) on bad input, so
that nothing is half-applied. ``acting_user`` is whoever asked for the change (``None`` for the
system itself: the demo command, migrations, tasks). The services of the management environment
write their audit entry in the same transaction when a person asked (``acting_user`` given;
``request`` adds where from); the system's own changes are not audited.
"""

from __future__ import annotations

from tenants.services.audit_log import AUDIT_EXPORT_LIMIT, export_audit_csv
from tenants.services.base import (
    tenant_of,
)
from tenants.services.pbx_keys import (
    PBX_KEY_PREFIX,
    IssuedKey,
    authenticate_pbx_key,
    create_pbx_key,
    revoke_pbx_key,
)
from tenants.services.people import (
    add_user,
    clean_language,
    create_support_staff,
    create_user,
    send_password_link,
    set_user_active,
    set_user_language,
    update_user,
)
from tenants.services.products import (
    ProductChange,
    product_value,
    remove_playback_subscription,
    remove_products,
    set_licence,
    set_playback_subscription,
    set_user_product,
)
from tenants.services.teams import (
    create_team,
    delete_team,
    rename_team,
    set_team_people,
    update_team,
)
from tenants.services.tenant import (
    create_tenant,
    update_tenant_settings,
)

__all__ = [
    "AUDIT_EXPORT_LIMIT",
    "PBX_KEY_PREFIX",
    "IssuedKey",
    "ProductChange",
    "add_user",
    "authenticate_pbx_key",
    "clean_language",
    "create_pbx_key",
    "create_support_staff",
    "create_team",
    "create_tenant",
    "create_user",
    "delete_team",
    "export_audit_csv",
    "product_value",
    "remove_playback_subscription",
    "remove_products",
    "rename_team",
    "revoke_pbx_key",
    "send_password_link",
    "set_licence",
    "set_playback_subscription",
    "set_team_people",
    "set_user_active",
    "set_user_language",
    "set_user_product",
    "tenant_of",
    "update_team",
    "update_tenant_settings",
    "update_user",
]
