"""hiprecorder.tasks.enqueue: tasks go after the commit, named or given."""

from __future__ import annotations

from unittest import mock

import pytest

from hiprecorder.tasks import enqueue, registered_task


@pytest.mark.django_db
def test_a_task_named_is_sent_after_the_commit(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    task = registered_task("notifications.send_prompt")
    with mock.patch.object(task, "apply_async") as send:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            enqueue("notifications.send_prompt", "tenant", "prompt")
            assert not send.called  # not before the commit
        assert len(callbacks) == 1
    send.assert_called_once_with(args=("tenant", "prompt"), kwargs={})


def test_the_sweep_is_registered_under_its_name() -> None:
    assert registered_task("recordings.sweep_expired").name == "recordings.sweep_expired"


@pytest.mark.django_db
def test_an_unknown_name_fails_before_anything_is_committed(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(KeyError):
        enqueue("recordings.no_such_task")
    assert callbacks == []
