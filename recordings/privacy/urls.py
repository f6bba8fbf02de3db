"""URLs of the privacy pages (Manage → Privacy) and the access-copy link."""

from __future__ import annotations

from django.urls import path

from recordings.privacy import views

app_name = "privacy"
urlpatterns = [
    path("manage/privacy/", views.overview, name="overview"),
    path("manage/privacy/register/", views.register_edit, name="register"),
    path("manage/privacy/register/export.md", views.register_export, {"fmt": "md"}, name="register_markdown"),
    path(
        "manage/privacy/register/export.html",
        views.register_export,
        {"fmt": "html"},
        name="register_document",
    ),
    path("manage/privacy/staff-policy/", views.staff_policy, name="staff_policy"),
    path("manage/privacy/audit/", views.audit_log, name="audit_log"),
    path("manage/privacy/subjects/", views.subjects, name="subjects"),
    path("manage/privacy/subjects/erase/", views.subject_erase, name="subject_erase"),
    path("manage/privacy/subjects/export.csv", views.subject_export, {"fmt": "csv"}, name="subject_csv"),
    path("manage/privacy/subjects/export.json", views.subject_export, {"fmt": "json"}, name="subject_json"),
    path("manage/privacy/subjects/access-copy/", views.subject_access_copy, name="subject_access_copy"),
    path("manage/privacy/access-copies/", views.access_copies, name="access_copies"),
    path(
        "manage/privacy/access-copies/<uuid:copy_id>/approve/",
        views.access_copy_approve,
        name="access_copy_approve",
    ),
    path(
        "manage/privacy/access-copies/<uuid:copy_id>/refuse/",
        views.access_copy_refuse,
        name="access_copy_refuse",
    ),
    path("privacy/copy/<str:token>/", views.access_copy, name="access_copy"),
    path("privacy/notices/<uuid:notice_id>/read/", views.notice_seen, name="notice_seen"),
]
