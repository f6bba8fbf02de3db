"""The portal: home list, player, streaming, labels, comments, share links (thin views).

Every page works as plain links and forms; with htmx the same URLs answer with template
partials (``request.htmx``).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hiprecorder.http import TenantRequest
from recordings import listing, review, review_views, social, streaming
from recordings.access import get_recording_for_user, may_manage
from recordings.models import Comment, Kind, Label, Recording, ShareLink
from recordings.transcripts.reading import read_snippets, read_transcript
from tenants.access import tenant_required
from tenants.audit import client_ip
from tenants.scoping import tenant_scope


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- home -------------------------------------------------------------------------------------


@require_GET
@tenant_required
def home(request: TenantRequest) -> HttpResponse:
    user = request.user
    # The live list's poll: nothing new answers 304 before the list is read or rendered.
    next_page = bool(request.htmx and request.GET.get("after"))
    if not next_page and request.htmx.target == "results":
        unchanged = review_views.not_modified(request, "home", review.query_key(request.GET))
        if unchanged is not None:
            return unchanged
    version = None if next_page else review.list_version_of(user)  # before anything the list shows
    # A listener's team members: the owners of most rows, and the person filter's choices.
    members = listing.team_members(user)
    member_ids = [member.pk for member in members]
    filters = listing.parse_filters(request.GET, allowed_people=member_ids)
    params = filters.as_params()
    # The tag the poll (``live_query``) will send back, read before the list (review.live_tag).
    live_key = review.query_key(QueryDict(urlencode(params)))
    live_tag = "" if next_page else review.live_tag(user, "home", live_key, version=version)
    qs = listing.apply_filters(listing.visible_queryset(user, member_ids), filters, user)
    rows, next_cursor = listing.page(
        qs,
        request.GET.get("after", ""),
        owners=listing.candidate_owners(user, member_ids, filters),
        viewer=user,
        people=members,
    )
    if filters.q:  # where the words were said (reading is logged)
        found = read_snippets(user=user, tenant=request.tenant, q=filters.q, recordings=rows, request=request)
        for row in rows:
            setattr(row, "snippet", found.get(row.pk))  # noqa: B010 (for the row template)
    is_playback = not next_page and review.is_playback_user(user)
    context = {
        "recordings": rows,
        "viewer_id": user.pk,
        "filters": filters,
        "next_url": f"?{urlencode({**params, 'after': next_cursor})}" if next_cursor else "",
        "is_listener": bool(member_ids),
        # Only the full page's filter form needs these: the template calls them when it gets there,
        # so the next-page and results partials make no query for them.
        "members": members,
        "is_playback_user": lambda: hasattr(user, "playback_subscription"),
        "suggestions": lambda: social.label_suggestions(user=user, limit=50),
        "kinds": Recording._meta.get_field("kind").choices,
        # The live list: polled with its fingerprint; "Processing" rows for calls being processed.
        "live_tag": live_tag,
        "live_query": f"?{urlencode(params)}" if params else "",
        "processing": [] if next_page or request.GET.get("after") else review.processing_calls(user),
        "review_count": review.review_count(user) if is_playback else None,
        "oob": bool(request.htmx),
        # The legend (full page only): the colours this person's list can show, in words.
        "colours": lambda: [
            (value, label)
            for value, label in Recording.Colour.choices
            if (is_playback if value != Recording.Colour.STANDARD else not is_playback or bool(member_ids))
        ],
    }
    if next_page:
        return render(request, "recordings/home.html#rows", context)
    if request.htmx and request.htmx.target == "results":
        return review_views.with_tag(render(request, "recordings/home.html#results", context), live_tag)
    return review_views.with_tag(render(request, "recordings/home.html", context), live_tag)


# --- the player -------------------------------------------------------------------------------


def _player_context(request: TenantRequest, recording: Recording) -> dict[str, object]:
    names = listing.contact_names([recording])
    recording.party_name = names.get((recording.owner_id, recording.remote_number), "")  # type: ignore[attr-defined]  # for the template
    duration = recording.duration_ms or 1
    markers = [
        {"at_ms": seg[2], "percent": round(100 * seg[2] / duration, 3)}
        for seg in (recording.segments or [])[1:]
        if isinstance(seg, (list, tuple)) and len(seg) >= 3
    ]
    # Muted for redaction (recordings.transcripts.service): shaded on the waveform and listed.
    muted = [
        {
            "start_ms": span[0],
            "end_ms": span[1],
            "x": round(100 * span[0] / duration, 3),
            "width": round(100 * max(span[1] - span[0], 0) / duration, 3),
        }
        for span in (recording.muted_spans or [])
        if isinstance(span, (list, tuple)) and len(span) == 2
    ]
    peaks = list(recording.peaks or [])
    bar = 100 / len(peaks) if peaks else 0
    bars = [
        {"x": round(i * bar, 4), "h": max(1, round(p * 100 / 255, 2)), "y": round(50 - p * 50 / 255, 2)}
        for i, p in enumerate(peaks)
    ]
    owner = may_manage(request.user, recording)
    return {
        "recording": recording,
        "audio_url": streaming.stream_url(
            user=request.user, recording=recording, session_key=request.session.session_key
        ),
        "bars": bars,
        "bar_width": round(bar * 0.8, 4) if bar else 0,
        "markers": markers,
        "muted": muted,
        "labels": list(recording.labels.all()),
        "comments": list(recording.comments.select_related("author")),
        "suggestions": social.label_suggestions(user=request.user, limit=50),
        "is_owner": owner,
        "shares": list(social.shares_with_pin_failures(recording)) if owner else [],
        "expiry_choices": [(k, label) for k, (_d, label) in social.SHARE_EXPIRY_CHOICES.items()],
        "expiry_default": social.SHARE_EXPIRY_DEFAULT,
    }


@require_GET
@tenant_required
def player(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    context = _player_context(request, recording)
    context["transcript"] = read_transcript(user=request.user, recording=recording, request=request)  # logged
    return render(request, "recordings/player.html", context)


@require_GET
def recording_audio(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponseBase:
    """The audio of the player, for the person the token names, in the very session that asked
    for it (``request.session``: gone after log-out, deactivation or the end of the service).
    Anything else is 403 without a byte (no log-in redirect: an audio element cannot follow it);
    a recording the person may not hear (any longer) is 404."""
    if getattr(request, "tenant", None) is None:  # anonymous, signed out, or support staff
        raise PermissionDenied(_("Sign in to play this recording."))
    try:
        grant = streaming.verify_stream_token(
            request.GET.get("t", ""),
            recording_id=recording_id,
            user=request.user,
            session_key=request.session.session_key,
        )
    except streaming.StreamTokenError as exc:
        raise PermissionDenied(str(exc)) from None
    recording = get_recording_for_user(request.user, recording_id)
    playback = streaming.log_playback(
        request=request, recording=recording, grant=grant, via="portal", user=request.user
    )
    return streaming.audit_when_sent(
        streaming.range_response(request, recording), request=request, playback=playback
    )


@require_GET
@tenant_required
def recording_delete_confirm(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponse:
    """Ask before deleting: the form posts to the lifecycle's delete view."""
    recording = get_recording_for_user(request.user, recording_id)
    if not may_manage(request.user, recording) or recording.kind != Kind.PLAYBACK:
        raise PermissionDenied("Only the owner deletes a playback.")
    names = listing.contact_names([recording])
    recording.party_name = names.get((recording.owner_id, recording.remote_number), "")  # type: ignore[attr-defined]  # for the template
    return render(request, "recordings/delete_confirm.html", {"recording": recording})


# --- labels -----------------------------------------------------------------------------------


def _labels_response(request: TenantRequest, recording: Recording, error: str = "") -> HttpResponse:
    if request.htmx:
        context = {
            "recording": recording,
            "labels": list(recording.labels.all()),
            "suggestions": social.label_suggestions(user=request.user, limit=50),
            "label_error": error,
        }
        return render(request, "recordings/player.html#labels", context)
    if error:
        messages.error(request, error)
    return redirect("player", recording.pk)


@require_POST
@tenant_required
def label_add(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    try:
        social.add_label(recording=recording, name=request.POST.get("name", ""), acting_user=request.user)
    except ValidationError as exc:
        return _labels_response(request, recording, _errors(exc))
    return _labels_response(request, recording)


@require_POST
@tenant_required
def label_remove(request: TenantRequest, recording_id: uuid.UUID, label_id: uuid.UUID) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    label = _get_or_404(recording.labels.all(), label_id)
    social.remove_label(label=label, acting_user=request.user)
    return _labels_response(request, recording)


def _get_or_404[Row: Model](qs: QuerySet[Row], pk: uuid.UUID) -> Row:
    try:
        return qs.get(pk=pk)
    except (Label.DoesNotExist, Comment.DoesNotExist, ShareLink.DoesNotExist):
        raise Http404 from None


# --- comments ---------------------------------------------------------------------------------


def _comments_response(
    request: TenantRequest, recording: Recording, error: str = "", editing: object = None
) -> HttpResponse:
    if request.htmx:
        context = {
            "recording": recording,
            "comments": list(recording.comments.select_related("author")),
            "comment_error": error,
            "editing": editing,
        }
        return render(request, "recordings/player.html#comments", context)
    if error:
        messages.error(request, error)
    return redirect(reverse("player", args=[recording.pk]) + "#comments")


@require_POST
@tenant_required
def comment_add(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    try:
        position = social.parse_position(request.POST.get("position", ""))
        social.add_comment(
            recording=recording,
            text=request.POST.get("text", ""),
            position_ms=position,
            acting_user=request.user,
        )
    except ValidationError as exc:
        return _comments_response(request, recording, _errors(exc))
    return _comments_response(request, recording)


@require_http_methods(["GET", "POST"])
@tenant_required
def comment_edit(request: TenantRequest, recording_id: uuid.UUID, comment_id: uuid.UUID) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    comment = _get_or_404(recording.comments.select_related("author"), comment_id)
    assert isinstance(comment, Comment)
    if comment.author_id != request.user.pk:
        raise PermissionDenied("Only its author can change a comment.")
    if request.method == "GET":
        if request.htmx:
            return _comments_response(request, recording, editing=comment)
        return render(request, "recordings/comment_edit.html", {"recording": recording, "comment": comment})
    try:
        social.edit_comment(comment=comment, text=request.POST.get("text", ""), acting_user=request.user)
    except ValidationError as exc:
        return _comments_response(request, recording, _errors(exc), editing=comment)
    return _comments_response(request, recording)


@require_POST
@tenant_required
def comment_delete(request: TenantRequest, recording_id: uuid.UUID, comment_id: uuid.UUID) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    comment = _get_or_404(recording.comments.all(), comment_id)
    assert isinstance(comment, Comment)
    social.delete_comment(comment=comment, acting_user=request.user)
    return _comments_response(request, recording)


# --- share links (owner) ----------------------------------------------------------------------


def _owned_recording(request: TenantRequest, recording_id: uuid.UUID) -> Recording:
    recording = get_recording_for_user(request.user, recording_id)
    if not may_manage(request.user, recording):
        raise PermissionDenied("Only the recording's owner can share it.")
    return recording


@require_POST
@tenant_required
def share_create(request: TenantRequest, recording_id: uuid.UUID) -> HttpResponse:
    recording = _owned_recording(request, recording_id)
    try:
        issued = social.create_share(
            recording=recording,
            acting_user=request.user,
            expires_in=request.POST.get("expires_in", social.SHARE_EXPIRY_DEFAULT),
            pin=request.POST.get("pin", ""),
            show_party=request.POST.get("show_party") == "on",
            show_details=request.POST.get("show_details") == "on",
            show_labels=request.POST.get("show_labels") == "on",
            show_comments=request.POST.get("show_comments") == "on",
        )
    except ValidationError as exc:
        context = {**_player_context(request, recording), "share_error": _errors(exc)}
        if request.htmx:
            return render(request, "recordings/player.html#shares", context)
        return render(request, "recordings/player.html", context, status=400)
    url = request.build_absolute_uri(reverse("share_page", args=[issued.token]))
    context = {**_player_context(request, recording), "new_share_url": url, "new_share": issued.share}
    if request.htmx:
        return render(request, "recordings/player.html#shares", context)
    return render(request, "recordings/player.html", context)


@require_POST
@tenant_required
def share_revoke(request: TenantRequest, recording_id: uuid.UUID, share_id: uuid.UUID) -> HttpResponse:
    recording = _owned_recording(request, recording_id)
    share = _get_or_404(recording.share_links.all(), share_id)
    assert isinstance(share, ShareLink)
    social.revoke_share(share=share, acting_user=request.user)
    if request.htmx:
        return render(request, "recordings/player.html#shares", _player_context(request, recording))
    messages.success(request, _("The share link no longer works."))
    return redirect(reverse("player", args=[recording.pk]) + "#share")


@require_POST
@tenant_required
def share_pin_reset(request: TenantRequest, recording_id: uuid.UUID, share_id: uuid.UUID) -> HttpResponse:
    """The owner sets a new PIN on a share link (typed, or six random digits): it unlocks the link."""
    recording = _owned_recording(request, recording_id)
    share = _get_or_404(recording.share_links.all(), share_id)
    assert isinstance(share, ShareLink)
    try:
        new = social.reset_share_pin(share=share, acting_user=request.user, pin=request.POST.get("pin", ""))
    except ValidationError as exc:
        context = {**_player_context(request, recording), "share_error": _errors(exc)}
        if request.htmx:
            return render(request, "recordings/player.html#shares", context)
        return render(request, "recordings/player.html", context, status=400)
    context = {**_player_context(request, recording), "new_pin": new.pin, "new_pin_share": new.share.pk}
    if request.htmx:
        return render(request, "recordings/player.html#shares", context)
    return render(request, "recordings/player.html", context)


# --- the public share page --------------------------------------------------------------------


def _share_session_key(share: ShareLink) -> str:
    return f"share-pin-ok:{share.pk}"


def _pin_entered(request: HttpRequest, share: ShareLink) -> bool:
    """This browser entered the share's current PIN (a new PIN asks for it again)."""
    return request.session.get(_share_session_key(share)) == social.pin_stamp(share)


def _share_locked(request: HttpRequest) -> HttpResponse:
    return render(request, "recordings/share_locked.html", status=403)


def _share_pin(request: HttpRequest, share: ShareLink, token: str) -> HttpResponse:
    """The PIN form of a PIN-locked share link, and the judging of a PIN typed into it."""
    if share.is_pin_locked:
        return _share_locked(request)
    if request.method != "POST":
        return render(request, "recordings/share_pin.html", {})
    try:
        result = social.check_share_pin(
            share=share, pin=request.POST.get("pin", ""), client_ip=client_ip(request)
        )
    except ShareLink.DoesNotExist:
        return render(request, "recordings/share_gone.html", status=404)
    if result.verdict == social.PinVerdict.RIGHT:
        request.session[_share_session_key(share)] = result.stamp
        return redirect("share_page", token)
    if result.verdict == social.PinVerdict.LOCKED:
        return _share_locked(request)
    if result.verdict == social.PinVerdict.WAIT:
        error = _("Too many wrong PINs from your connection. Wait %(seconds)d seconds, then try again.") % {
            "seconds": result.retry_after
        }
        response = render(request, "recordings/share_pin.html", {"error": error}, status=429)
        response["Retry-After"] = str(result.retry_after)
        return response
    return render(request, "recordings/share_pin.html", {"error": _("That PIN is not right.")}, status=403)


@require_http_methods(["GET", "POST"])
def share_page(request: HttpRequest, token: str) -> HttpResponse:
    """What the recipient of a share link sees: only what the sharer chose, and the player."""
    share = social.find_share(token)
    if share is None:
        return render(request, "recordings/share_gone.html", status=404)
    with tenant_scope(share.tenant_id):
        if share.has_pin and not _pin_entered(request, share):
            response = _share_pin(request, share, token)
            response["Cache-Control"] = "no-store"
            return response
        if request.method == "POST":
            return redirect("share_page", token)
        social.record_share_open(share=share, request=request)
        recording = share.recording
        context = {
            "share": share,
            "recording": recording,
            "audio_url": reverse("share_audio", args=[token])
            + "?t="
            + streaming.issue_share_stream_token(share=share),
            "labels": list(recording.labels.all()) if share.show_labels else [],
            "comments": list(recording.comments.select_related("author")) if share.show_comments else [],
        }
        response = render(request, "recordings/share_page.html", context)
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_GET
def share_audio(request: HttpRequest, token: str) -> HttpResponseBase:
    share = social.find_share(token)
    if share is None:
        raise Http404("No such share link")
    try:
        grant = streaming.verify_share_stream_token(request.GET.get("t", ""), recording_id=share.recording_id)
    except streaming.StreamTokenError as exc:
        raise PermissionDenied(str(exc)) from None
    if grant.subject != str(share.pk):
        raise PermissionDenied("This playback link belongs to another share.")
    if share.has_pin and not _pin_entered(request, share):
        raise PermissionDenied("PIN required")
    with tenant_scope(share.tenant_id):
        playback = streaming.log_playback(
            request=request, recording=share.recording, grant=grant, via="share", share=share
        )
        response = streaming.range_response(request, share.recording)
    return streaming.audit_when_sent(response, request=request, playback=playback)
