"""URLs of the portal."""

from __future__ import annotations

from django.urls import include, path

from notifications import views as notification_views
from recordings import decision_views, manage_views, review_views, views
from tenants.language import switch_language

urlpatterns = [
    path("", views.home, name="home"),
    path("review/", review_views.review_list, name="review"),
    path("plan/", review_views.plan, name="plan"),
    path("language", switch_language, name="switch_language"),
    path("r/<uuid:recording_id>/", views.player, name="player"),
    path("r/<uuid:recording_id>/audio", views.recording_audio, name="recording_audio"),
    path("r/<uuid:recording_id>/delete", views.recording_delete_confirm, name="recording_delete_confirm"),
    path("r/<uuid:recording_id>/labels", views.label_add, name="label_add"),
    path("r/<uuid:recording_id>/labels/<uuid:label_id>/remove", views.label_remove, name="label_remove"),
    path("r/<uuid:recording_id>/comments", views.comment_add, name="comment_add"),
    path("r/<uuid:recording_id>/comments/<uuid:comment_id>/edit", views.comment_edit, name="comment_edit"),
    path(
        "r/<uuid:recording_id>/comments/<uuid:comment_id>/delete", views.comment_delete, name="comment_delete"
    ),
    path("r/<uuid:recording_id>/shares", views.share_create, name="share_create"),
    path("r/<uuid:recording_id>/shares/<uuid:share_id>/revoke", views.share_revoke, name="share_revoke"),
    path("r/<uuid:recording_id>/shares/<uuid:share_id>/pin", views.share_pin_reset, name="share_pin_reset"),
    path("s/<str:token>", views.share_page, name="share_page"),
    path("s/<str:token>/audio", views.share_audio, name="share_audio"),
    path("recordings/<uuid:recording_id>/keep", decision_views.keep, name="recording_keep"),
    path("recordings/<uuid:recording_id>/delete", decision_views.delete, name="recording_delete"),
    path("notifications/outbox/", notification_views.outbox, name="outbox"),
    # The installable app (the service worker at the root, so its scope is the whole site) and
    # the browser's notifications (Web Push).
    path("manifest.webmanifest", notification_views.manifest, name="manifest"),
    path("sw.js", notification_views.service_worker, name="service_worker"),
    path("offline/", notification_views.offline, name="offline"),
    path("notifications/browser/", notification_views.browser_notifications, name="browser_notifications"),
    path("push/subscribe", notification_views.push_subscribe, name="push_subscribe"),
    path("push/unsubscribe", notification_views.push_unsubscribe, name="push_unsubscribe"),
    path("push/action", notification_views.push_action, name="push_action"),
    # The management environment of customer admins (the pages that touch recordings here, the
    # rest in tenants.urls).
    path("manage/users/<uuid:user_id>/product", manage_views.user_product, name="manage_user_product"),
    path("manage/overview/", manage_views.overview, name="manage_overview"),
    path("manage/calls/", manage_views.calls, name="manage_calls"),
    path("manage/calls/export.csv", manage_views.calls_export, name="manage_calls_export"),
    path("manage/users/licence", manage_views.users_bulk_licence, name="manage_users_bulk_licence"),
    path("manage/users/<uuid:user_id>/rules/", manage_views.user_rules, name="manage_user_rules"),
    path(
        "manage/users/<uuid:user_id>/rules/<uuid:rule_id>/remove",
        manage_views.user_rule_remove,
        name="manage_user_rule_remove",
    ),
    path("manage/settings/", manage_views.tenant_settings, name="manage_settings"),
    path("manage/users/<uuid:user_id>/offboard", manage_views.user_offboard, name="manage_user_offboard"),
    path("manage/teams/<uuid:team_id>/", manage_views.team_detail, name="manage_team"),
    path("manage/keywords/", manage_views.keyword_alerts, name="manage_keyword_alerts"),
    path(
        "manage/keywords/<uuid:alert_id>/remove",
        manage_views.keyword_alert_remove,
        name="manage_keyword_alert_remove",
    ),
    path("manage/transcripts/", manage_views.transcript_settings, name="manage_transcripts"),
    path("manage/", include("tenants.urls")),
]
