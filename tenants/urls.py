"""URLs of the management environment (customer admins), under /manage/. The pages that change
what happens to recordings (a person's product and contact rules, the retention) are
``recordings.manage_views``, routed in ``recordings.urls`` under the same prefix."""

from __future__ import annotations

from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.manage_home, name="manage_home"),
    path("users/", views.users, name="manage_users"),
    path("users/<uuid:user_id>/", views.user_detail, name="manage_user"),
    path("users/<uuid:user_id>/update", views.user_update, name="manage_user_update"),
    path("users/<uuid:user_id>/active", views.user_active, name="manage_user_active"),
    path("users/<uuid:user_id>/password", views.user_password, name="manage_user_password"),
    path("teams/", views.teams, name="manage_teams"),
    path("teams/<uuid:team_id>/delete", views.team_delete, name="manage_team_delete"),
    path("keys/", views.keys, name="manage_keys"),
    path("keys/<uuid:key_id>/revoke", views.key_revoke, name="manage_key_revoke"),
    path("audit/", views.audit_log, name="manage_audit"),
    path("audit/export.csv", views.audit_export, name="manage_audit_export"),
]
