"""Labels and comments: services (bad input refused, nothing half-applied) and the htmx views."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from recordings import social
from recordings.models import Comment, Label, Recording
from tenants.scoping import tenant_scope
from tests.base import Personas
from tests.factories import make_recording


@pytest.fixture
def rec(personas: Personas) -> Recording:
    return make_recording(personas.users["always"])


def _labels(rec: Recording) -> list[str]:
    with tenant_scope(rec.tenant_id):
        return sorted(rec.labels.values_list("name", flat=True))


def test_add_label_normalises_and_is_idempotent(personas: Personas, rec: Recording) -> None:
    user = personas.users["always"]
    social.add_label(recording=rec, name="  Offerte   2026 ", acting_user=user)
    social.add_label(recording=rec, name="offerte 2026", acting_user=user)
    assert _labels(rec) == ["Offerte 2026"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 41])
def test_bad_labels_are_refused(personas: Personas, rec: Recording, name: str) -> None:
    with pytest.raises(ValidationError):
        social.add_label(recording=rec, name=name, acting_user=personas.users["always"])
    assert _labels(rec) == []


def test_who_may_label(personas: Personas, rec: Recording) -> None:
    social.add_label(recording=rec, name="team", acting_user=personas.listener)  # listener of Sales
    for stranger in (personas.outsider, personas.charlie, personas.playback["days_30"]):
        with pytest.raises(PermissionDenied):
            social.add_label(recording=rec, name="nope", acting_user=stranger)
    assert _labels(rec) == ["team"]


def test_label_suggestions_are_the_users_own(personas: Personas, rec: Recording) -> None:
    user = personas.users["always"]
    other = make_recording(user)
    social.add_label(recording=rec, name="Klant", acting_user=user)
    social.add_label(recording=other, name="klant", acting_user=user)
    social.add_label(recording=other, name="Kwaliteit", acting_user=user)
    social.add_label(recording=rec, name="Lisa's", acting_user=personas.listener)
    assert social.label_suggestions(user=user) == ["Klant", "Kwaliteit"]
    assert social.label_suggestions(user=user, prefix="kw") == ["Kwaliteit"]


def test_comments_rules(personas: Personas, rec: Recording) -> None:
    user, listener = personas.users["always"], personas.listener
    comment = social.add_comment(recording=rec, text="Goed gesprek", acting_user=listener, position_ms=1500)
    assert comment.position_ms == 1500 and comment.author == listener
    with pytest.raises(ValidationError):
        social.add_comment(recording=rec, text="  ", acting_user=user)
    with pytest.raises(ValidationError):
        social.add_comment(recording=rec, text="x", acting_user=user, position_ms=rec.duration_ms + 1)
    with pytest.raises(ValidationError):
        social.add_comment(recording=rec, text="x" * 2001, acting_user=user)
    with pytest.raises(PermissionDenied):
        social.edit_comment(comment=comment, text="changed", acting_user=user)  # not the author
    social.edit_comment(comment=comment, text="Heel goed gesprek", acting_user=listener)
    with pytest.raises(PermissionDenied):
        social.add_comment(recording=rec, text="hi", acting_user=personas.charlie)
    social.delete_comment(comment=comment, acting_user=user)  # the owner may remove it
    with tenant_scope(rec.tenant_id):
        assert not Comment.objects.filter(pk=comment.pk).exists()


@pytest.mark.parametrize(
    ("raw", "ms"), [("", None), ("1:05", 65000), ("75", 75000), ("0:00:02.5", 2500), ("1:00:00", 3600000)]
)
def test_parse_position(raw: str, ms: int | None) -> None:
    assert social.parse_position(raw) == ms


@pytest.mark.parametrize("raw", ["abc", "1:-5", "1:2:3:4", "-3", "nan"])
def test_parse_position_refuses(raw: str) -> None:
    with pytest.raises(ValidationError):
        social.parse_position(raw)


def test_label_views_htmx_and_plain(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.users["always"])
    url = reverse("label_add", args=[rec.pk])
    partial = client.post(url, {"name": "Urgent"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    html = partial.content.decode()
    assert html.strip().startswith('<section id="labels"') and "Urgent" in html
    plain = client.post(url, {"name": "Later"})
    assert plain.status_code == 302
    assert _labels(rec) == ["Later", "Urgent"]
    bad = client.post(url, {"name": ""}, headers={"HX-Request": "true"})
    assert "cannot be empty" in bad.content.decode() or "mag niet leeg" in bad.content.decode()
    with tenant_scope(rec.tenant_id):
        label = Label.objects.get(name="Urgent")
    client.post(reverse("label_remove", args=[rec.pk, label.pk]), headers={"HX-Request": "true"})
    assert _labels(rec) == ["Later"]


def test_comment_views(client: Client, personas: Personas, rec: Recording) -> None:
    client.force_login(personas.listener)
    response = client.post(
        reverse("comment_add", args=[rec.pk]),
        {"text": "Klant wil offerte", "position": "0:03"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "Klant wil offerte" in html and 'data-seek="3000"' in html and "lisa" in html
    with tenant_scope(rec.tenant_id):
        comment = Comment.objects.get()
    edit_form = client.get(reverse("comment_edit", args=[rec.pk, comment.pk]), headers={"HX-Request": "true"})
    assert "<textarea" in edit_form.content.decode()
    client.post(reverse("comment_edit", args=[rec.pk, comment.pk]), {"text": "Offerte gestuurd"})
    comment.refresh_from_db()
    assert comment.text == "Offerte gestuurd"
    bad = client.post(
        reverse("comment_add", args=[rec.pk]), {"text": "x", "position": "zz"}, headers={"HX-Request": "true"}
    )
    assert 'role="alert"' in bad.content.decode()
    with tenant_scope(rec.tenant_id):
        assert Comment.objects.count() == 1
    # someone else cannot edit or remove lisa's comment
    other = Client()
    other.force_login(personas.users["always_pause"])
    assert other.get(reverse("comment_edit", args=[rec.pk, comment.pk])).status_code == 404
    owner = Client()
    owner.force_login(personas.users["always"])
    assert owner.get(reverse("comment_edit", args=[rec.pk, comment.pk])).status_code == 403
    assert owner.post(reverse("comment_delete", args=[rec.pk, comment.pk])).status_code == 302
    with tenant_scope(rec.tenant_id):
        assert Comment.objects.count() == 0
