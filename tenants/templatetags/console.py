"""The management console's filter forms (``{{ form|filter_fields }}``).

A filter form that nobody filled in renders the same HTML on every request in a language: its
fields, labels and choices are fixed in the code. Forms that say so (``same_when_empty = True``)
are rendered by Django's form rendering once per process and language and reused; a filled-in
form, or one without the mark (its choices come from the database), is rendered every time.
"""

from __future__ import annotations

from django import forms, template
from django.utils import translation
from django.utils.safestring import SafeString

register = template.Library()

_EMPTY: dict[tuple[type[forms.Form], str], SafeString] = {}


@register.filter
def filter_fields(form: forms.Form) -> SafeString:
    if form.is_bound or not getattr(form, "same_when_empty", False):
        return form.as_div()
    key = (type(form), translation.get_language() or "")
    html = _EMPTY.get(key)
    if html is None:
        html = _EMPTY[key] = form.as_div()
    return html
