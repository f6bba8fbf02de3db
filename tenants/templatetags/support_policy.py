"""The staff policy's lines on the supplier's support staff, from ``tenants.support``."""

from __future__ import annotations

from typing import Any

from django import template

from tenants import support

register = template.Library()


@register.simple_tag
def support_staff_policy() -> dict[str, Any]:
    """``{"can": [(key, text), ...], "cannot": [...]}``: what support staff can and cannot do."""
    return {"can": support.STAFF_CAN, "cannot": support.STAFF_CANNOT}
