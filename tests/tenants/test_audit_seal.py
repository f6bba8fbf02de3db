"""The audit log's seals: each chain's head signed with a key outside the database (HMAC-SHA256)
and written once, numbered, to the object store, so a chain cut at its end (issue 13, point 7:
delete the last entries, roll ``AuditChainHead`` back) no longer verifies as intact."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from hiprecorder.environment import audit_seal_keys
from recordings import privacy
from tenants.audit import (
    AuditChainHead,
    AuditEntry,
    Seal,
    SealExistsError,
    chain_for,
    log_event,
    seal_name,
    seal_storage,
    seal_unsealed_chains,
    verify_all,
    verify_chain,
    write_seal_once,
)
from tests.base import REAL_SERVICES, Personas, run_python

TABLE = AuditEntry._meta.db_table
KEY_1 = "k1:" + "1" * 40
KEY_2 = "k2:" + "2" * 40

Capture = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(autouse=True)
def _known_keys(settings: Any) -> None:
    settings.AUDIT_SEAL_KEY_ID = "k1"
    settings.AUDIT_SEAL_KEYS = audit_seal_keys("AUDIT_SEAL_KEY", KEY_1)


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Capture) -> Callable[..., AuditEntry]:
    """``log_event`` in a transaction of its own that commits (its on-commit seal runs)."""

    def append(**kwargs: Any) -> AuditEntry:
        with django_capture_on_commit_callbacks(execute=True):
            return log_event(**kwargs)

    return append


@pytest.fixture
def five(personas: Personas, commit: Callable[..., AuditEntry]) -> list[AuditEntry]:
    """Five entries of Acme's chain, each committed on its own: seals 1-5."""
    return [commit(tenant=personas.tenant_a, actor=personas.admin, action=f"a{n}") for n in range(5)]


def _seal_doc(chain: str, number: int) -> dict[str, Any]:
    with seal_storage().open(seal_name(chain, number)) as handle:
        return json.loads(handle.read())


def _seal_bytes(chain: str, number: int) -> bytes:
    with seal_storage().open(seal_name(chain, number)) as handle:
        return handle.read()


def _remove_seal(chain: str, number: int) -> None:
    """What someone holding the store's own keys could do (the store, not the product)."""
    seal_storage().delete(seal_name(chain, number))


def _sql(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _command() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit_log", stdout=out, stderr=err)
    except CommandError as error:
        return 1, err.getvalue() + str(error)
    return 0, out.getvalue()


def test_every_commit_seals_its_chain(
    personas: Personas, commit: Callable[..., AuditEntry], django_capture_on_commit_callbacks: Capture
) -> None:
    chain = chain_for(personas.tenant_a.pk)
    first = commit(tenant=personas.tenant_a, actor=personas.admin, action="a")
    # One transaction with three entries: one seal, written after the commit, for its last entry.
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for n in range(3):
            last = log_event(tenant=personas.tenant_a, actor=personas.admin, action=f"b{n}")
        assert not seal_storage().exists(seal_name(chain, 2))  # nothing before the commit
    assert sorted(seal_storage().listdir(chain)[1]) == ["000000000001.json", "000000000002.json"]

    one, two = _seal_doc(chain, 1), _seal_doc(chain, 2)
    assert (one["seal"], one["seq"], one["hash"]) == (1, first.seq, first.hash)
    assert (two["seal"], two["seq"], two["hash"], two["key"]) == (2, first.seq + 3, last.hash, "k1")
    assert last.seq == first.seq + 3
    body = {k: v for k, v in two.items() if k != "hmac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert two["hmac"] == hmac.new(KEY_1.split(":", 1)[1].encode(), canonical, hashlib.sha256).hexdigest()
    head = AuditChainHead.objects.get(chain=chain)
    assert (head.seq, head.seal_seq, head.sealed_seq) == (last.seq, 2, last.seq)
    # The support chain is sealed the same way; each chain numbers its own seals.
    support_entry = commit(tenant=None, actor=personas.support, action="support.x")
    assert _seal_doc("support", 1)["seq"] == support_entry.seq

    assert verify_all() == []
    assert _command() == (0, "The audit log is intact.\n")


@pytest.mark.parametrize("restored", [False, True], ids=["head-rolled-back", "backup-restored"])
def test_a_cut_tail_is_reported(personas: Personas, five: list[AuditEntry], restored: bool) -> None:
    """The issue's attack: delete the last entries and roll AuditChainHead back to the entry
    before them (with ``restored``, the seal counters too, as a restored backup would)."""
    chain = chain_for(personas.tenant_a.pk)
    _sql(f"DELETE FROM {TABLE} WHERE chain = %s AND seq > %s", [chain, five[2].seq])  # noqa: S608
    fields = {"seq": five[2].seq, "last_hash": five[2].hash}
    if restored:
        fields |= {"seal_seq": 3, "sealed_seq": five[2].seq}
    AuditChainHead.objects.filter(chain=chain).update(**fields)

    broken = verify_all()
    assert len(broken) == 1
    assert (broken[0].chain, broken[0].kind, broken[0].seq, broken[0].entry_id) == (
        chain,
        "cut",
        five[3].seq,
        None,
    )
    assert (
        f"it ends at entry {five[2].seq}, but seal 5" in broken[0].problem
        and f"entries {five[3].seq}-{five[4].seq} were removed" in broken[0].problem
    )
    code, text = _command()
    assert code == 1 and f"Chain {chain}: cut tail at link {five[3].seq}" in text
    assert "the chain was cut" in text and "1 audit chain(s) broken" in text


def test_a_cut_stays_reported_after_the_chain_goes_on(
    personas: Personas,
    five: list[AuditEntry],
    commit: Callable[..., AuditEntry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After a restored backup the product appends and seals again: the newer seals agree with
    the new entries, the older ones still say what was lost, and no seal is overwritten."""
    chain = chain_for(personas.tenant_a.pk)
    seal_4 = _seal_doc(chain, 4)
    _sql(f"DELETE FROM {TABLE} WHERE chain = %s AND seq > %s", [chain, five[2].seq])  # noqa: S608
    AuditChainHead.objects.filter(chain=chain).update(
        seq=five[2].seq, last_hash=five[2].hash, seal_seq=3, sealed_seq=five[2].seq
    )
    with caplog.at_level(logging.ERROR, logger="tenants.audit"):
        for n in range(3):
            commit(tenant=personas.tenant_a, actor=personas.admin, action=f"after{n}")
    assert "already holds seal 4" in caplog.text
    assert _seal_doc(chain, 4) == seal_4  # not overwritten
    assert AuditChainHead.objects.get(chain=chain).seal_seq >= 6

    broken = verify_chain(chain)
    assert broken is not None and broken.kind == "altered" and broken.seq == five[3].seq
    assert "is not the entry seal 4" in broken.problem


def test_an_altered_entry_with_a_recomputed_chain_is_reported(
    personas: Personas, five: list[AuditEntry]
) -> None:
    """The unkeyed hash chain can be recomputed by whoever rewrites the database; the seals cannot."""
    chain = chain_for(personas.tenant_a.pk)
    entries = list(AuditEntry.objects.unscoped().filter(chain=chain).order_by("seq"))
    prev = entries[0].hash
    for entry in entries[1:]:
        if entry.seq == five[1].seq:
            entry.action = "forged"
        entry.prev_hash = prev
        entry.hash = entry.compute_hash()
        _sql(
            f"UPDATE {TABLE} SET action = %s, prev_hash = %s, hash = %s WHERE id = %s",  # noqa: S608
            [entry.action, entry.prev_hash, entry.hash, entry.pk],
        )
        prev = entry.hash
    AuditChainHead.objects.filter(chain=chain).update(last_hash=prev)

    broken = verify_all()
    assert [(b.kind, b.seq, b.entry_id) for b in broken] == [("altered", five[1].seq, five[1].pk)]
    code, text = _command()
    assert code == 1 and "altered entry" in text and "is not the entry seal 2" in text


def test_a_forged_seal_is_reported(personas: Personas, five: list[AuditEntry]) -> None:
    """Whoever can write to the store but has no key cannot make a seal that verifies."""
    chain = chain_for(personas.tenant_a.pk)
    _sql(f"DELETE FROM {TABLE} WHERE chain = %s AND seq > %s", [chain, five[2].seq])  # noqa: S608
    AuditChainHead.objects.filter(chain=chain).update(
        seq=five[2].seq, last_hash=five[2].hash, seal_seq=3, sealed_seq=five[2].seq
    )
    # Hide the cut by replacing seals 4 and 5 with seals for entry 3 (signed with a guessed key).
    for number in (4, 5):
        _remove_seal(chain, number)
        forged = Seal(chain, number, five[2].seq, five[2].hash, "2026-12-04T00:00:00+00:00", "k1", "")
        wrong = hmac.new(b"guessed" * 6, json.dumps(forged.body()).encode(), hashlib.sha256).hexdigest()
        write_seal_once(
            seal_storage(), seal_name(chain, number), Seal(**{**forged.__dict__, "mac": wrong}).document()
        )

    broken = verify_all()
    assert [(b.kind, b.seq) for b in broken] == [("forged", five[2].seq)]
    assert broken[0].problem == "seal 4: forged: its HMAC does not match its content"
    code, text = _command()
    assert code == 1 and "forged seal" in text and "HMAC does not match" in text


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1, 2]", b'{"v": 1}', "é".encode(), b"__HMAC__"],
    ids=["text", "list", "fields-missing", "non-ascii", "non-ascii-hmac"],
)
def test_a_garbled_seal_is_reported_as_forged(
    personas: Personas, five: list[AuditEntry], content: bytes
) -> None:
    chain = chain_for(personas.tenant_a.pk)
    if content == b"__HMAC__":
        doc = {**_seal_doc(chain, 5), "seal": 6, "hmac": "\u00e9" * 64}
        content = json.dumps(doc).encode()
    write_seal_once(seal_storage(), seal_name(chain, 6), content)
    broken = verify_all()
    assert [(b.kind, b.problem.split(":")[0]) for b in broken] == [("forged", "seal 6")]


def test_a_seal_moved_from_another_chain_is_reported(personas: Personas, five: list[AuditEntry]) -> None:
    chain = chain_for(personas.tenant_a.pk)
    other = chain_for(personas.tenant_b.pk)
    write_seal_once(seal_storage(), seal_name(other, 1), _seal_bytes(chain, 1))
    broken = verify_chain(other)
    assert broken is not None and broken.kind == "forged" and "not this one" in broken.problem


@pytest.mark.parametrize("removed", [2, 5])
def test_a_missing_seal_number_is_reported(personas: Personas, five: list[AuditEntry], removed: int) -> None:
    chain = chain_for(personas.tenant_a.pk)
    _remove_seal(chain, removed)
    broken = verify_all()
    assert len(broken) == 1 and broken[0].kind == "missing_seal"
    assert f"seal {removed} is missing from the store" in broken[0].problem
    code, text = _command()
    assert code == 1 and "missing seal" in text and "missing from the store" in text


def test_a_chain_deleted_whole_is_reported(personas: Personas, five: list[AuditEntry]) -> None:
    chain = chain_for(personas.tenant_a.pk)
    _sql(f"DELETE FROM {TABLE} WHERE chain = %s", [chain])  # noqa: S608
    AuditChainHead.objects.filter(chain=chain).delete()
    broken = verify_all()
    assert [(b.chain, b.kind, b.seq) for b in broken] == [(chain, "cut", 1)]


def test_a_seal_is_never_overwritten(personas: Personas, five: list[AuditEntry]) -> None:
    chain = chain_for(personas.tenant_a.pk)
    before = _seal_bytes(chain, 5)
    with pytest.raises(SealExistsError):
        write_seal_once(seal_storage(), seal_name(chain, 5), b"{}")
    assert _seal_bytes(chain, 5) == before
    assert verify_all() == []


def test_key_rotation(
    settings: Any, personas: Personas, five: list[AuditEntry], commit: Callable[..., AuditEntry]
) -> None:
    chain = chain_for(personas.tenant_a.pk)
    # A new key: new seals carry its id; the old key, kept for verifying, still verifies the old seals.
    settings.AUDIT_SEAL_KEY_ID = "k2"
    settings.AUDIT_SEAL_KEYS = {
        **audit_seal_keys("AUDIT_SEAL_OLD_KEYS", KEY_1),
        **audit_seal_keys("AUDIT_SEAL_KEY", KEY_2),
    }
    commit(tenant=personas.tenant_a, actor=personas.admin, action="after rotation")
    assert [_seal_doc(chain, n)["key"] for n in (5, 6)] == ["k1", "k2"]
    assert verify_all() == []
    # The old key dropped too early: its seals can no longer be checked, and that is reported.
    settings.AUDIT_SEAL_KEYS = audit_seal_keys("AUDIT_SEAL_KEY", KEY_2)
    broken = verify_all()
    assert [(b.kind, b.seq) for b in broken] == [("unknown_key", five[0].seq)]
    assert "key 'k1', which is not configured" in broken[0].problem
    # A seal signed with the right id but another secret is forged, not merely unknown.
    settings.AUDIT_SEAL_KEYS = audit_seal_keys("AUDIT_SEAL_KEY", "k1:" + "x" * 40)
    assert [b.kind for b in verify_all()] == ["forged"]


def test_a_failed_seal_write_never_fails_the_request(
    personas: Personas,
    commit: Callable[..., AuditEntry],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tenants import audit

    chain = chain_for(personas.tenant_a.pk)

    def store_down(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("store unreachable")

    monkeypatch.setattr(audit.seals, "write_seal_once", store_down)
    with caplog.at_level(logging.ERROR, logger="tenants.audit"):
        entry = commit(tenant=personas.tenant_a, actor=personas.admin, action="while the store is down")
    assert AuditEntry.objects.unscoped().filter(pk=entry.pk).exists()
    assert "could not be written" in caplog.text
    head = AuditChainHead.objects.get(chain=chain)
    assert (head.seq, head.seal_seq, head.sealed_seq) == (entry.seq, 0, 0)
    monkeypatch.undo()
    # The periodic task seals what was left unsealed, and only that.
    assert seal_unsealed_chains() == 1
    assert seal_unsealed_chains() == 0
    assert _seal_doc(chain, 1)["hash"] == entry.hash
    assert verify_all() == []


def test_the_erasure_of_personal_fields_still_verifies_against_the_seals(
    personas: Personas, commit: Callable[..., AuditEntry], django_capture_on_commit_callbacks: Capture
) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="AcmeBrowser/1.0")
    for action in ("manage.settings.update", "recording.played"):
        commit(
            tenant=personas.tenant_a,
            actor=personas.admin,
            action=action,
            detail={"number": "+31612345678"},
            request=request,
        )
    with django_capture_on_commit_callbacks(execute=True):
        privacy.end_service(tenant=personas.tenant_a, acting_user=personas.support)
    with django_capture_on_commit_callbacks(execute=True):
        report = privacy.purge_tenant(tenant_id=personas.tenant_a.pk)
    chain = chain_for(personas.tenant_a.pk)
    entries = AuditEntry.objects.unscoped().filter(chain=chain)
    assert report.verified and all(
        e.personal_erased_at is not None or not e.has_personal_data for e in entries
    )
    head = AuditChainHead.objects.get(chain=chain)
    assert head.sealed_seq == head.seq and head.seal_seq >= 3
    assert verify_all() == []


def test_seal_keys_are_parsed_strictly() -> None:
    assert audit_seal_keys("X", "a:" + "s" * 32 + ", b.2:" + "t" * 40) == {"a": "s" * 32, "b.2": "t" * 40}
    for raw, message in [
        ("no-colon", "must be <key id>:<secret>"),
        ("bad id!:" + "s" * 32, "must be <key id>:<secret>"),
        ("a:short", "at least 32 characters"),
        ("a:" + "s" * 32 + ",a:" + "t" * 32, "appears twice"),
    ]:
        with pytest.raises(ImproperlyConfigured, match=message):
            audit_seal_keys("X", raw)


def test_production_needs_a_seal_key(tmp_path: Path) -> None:
    env = {
        "HIPRECORDER_PRODUCTION": "1",
        "SECRET_KEY": "k" * 60,
        "ALLOWED_HOSTS": "x.nl",
        "AUDIT_SEAL_KEY": "",
        "VAPID_PRIVATE_KEY": "gUk-4ABnInxDJElaIsAOusMLuBOu3rcfknnZFJrHpGA",  # a test-only P-256 key
    }
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.AUDIT_SEAL_KEY_ID)"
    )
    result = run_python(code, data_dir=tmp_path, **env)
    assert result.returncode != 0 and "AUDIT_SEAL_KEY must be set in production" in result.stderr
    assert not (tmp_path / "audit_seal_key").exists()
    result = run_python(code, data_dir=tmp_path, **{**env, "AUDIT_SEAL_KEY": KEY_2})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "k2"


def test_the_embedded_default_keeps_a_generated_key_and_warns(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings;"
        "from tenants.audit import check_seal_key;"
        "print(settings.AUDIT_SEAL_KEY_ID); print([w.id for w in check_seal_key()])"
    )
    first = run_python(code, data_dir=tmp_path, AUDIT_SEAL_KEY="", HIPRECORDER_PRODUCTION="")
    again = run_python(code, data_dir=tmp_path, AUDIT_SEAL_KEY="", HIPRECORDER_PRODUCTION="")
    assert first.returncode == 0, first.stderr
    key_id, warnings = first.stdout.split()
    assert key_id.startswith("local-") and warnings == "['tenants.W001']"
    assert again.stdout == first.stdout  # the same key after a restart
    assert (tmp_path / "audit_seal_key").stat().st_mode & 0o777 == 0o600


@pytest.fixture
def s3_seals() -> Iterator[tuple[Any, str, str]]:
    storage = seal_storage()
    assert type(storage).__name__ == "S3Storage"
    yield storage.connection.meta.client, storage.bucket_name, storage.location


@pytest.mark.real_services
@pytest.mark.skipif(not REAL_SERVICES, reason="needs the real services")
def test_seals_land_in_the_bucket_write_once(
    personas: Personas, five: list[AuditEntry], s3_seals: tuple[Any, str, str]
) -> None:
    client, bucket, location = s3_seals
    chain = chain_for(personas.tenant_a.pk)
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{location}/{chain}/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert location.startswith("audit-seals/")
    assert keys == [f"{location}/{chain}/{n:012d}.json" for n in range(1, 6)]
    body = json.loads(client.get_object(Bucket=bucket, Key=keys[-1])["Body"].read())
    assert (body["seal"], body["seq"], body["hash"]) == (5, five[-1].seq, five[-1].hash)
    # The store itself refuses an overwrite (If-None-Match: *), and the seal is unchanged.
    with pytest.raises(SealExistsError):
        write_seal_once(seal_storage(), seal_name(chain, 5), b"{}")
    assert json.loads(client.get_object(Bucket=bucket, Key=keys[-1])["Body"].read()) == body
    assert verify_all() == []
    # They share the recordings bucket, and the reconciliation does not take them for orphans.
    from recordings.reconcile import reconcile

    assert seal_storage().bucket_name == storages["recordings"].bucket_name  # type: ignore[attr-defined]
    assert not [key for key in reconcile().orphan_objects if key.startswith("audit-seals/")]
    # The cut, on PostgreSQL and S3.
    _sql(f"DELETE FROM {TABLE} WHERE chain = %s AND seq > %s", [chain, five[2].seq])  # noqa: S608
    AuditChainHead.objects.filter(chain=chain).update(seq=five[2].seq, last_hash=five[2].hash)
    assert [(b.kind, b.seq) for b in verify_all()] == [("cut", five[3].seq)]
    # A deleted seal object is a missing number.
    client.delete_object(Bucket=bucket, Key=keys[1])
    assert [b.kind for b in verify_all()] == ["missing_seal"]


@pytest.mark.real_services
@pytest.mark.skipif(not REAL_SERVICES, reason="needs the real services")
def test_a_head_held_by_another_transaction_is_sealed_by_a_task(
    transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seal after a commit never waits for a row lock: a head another transaction holds is
    sealed by a task (PostgreSQL row locks; SQLite has none)."""
    import threading

    from tenants import audit, tasks

    first = log_event(tenant=None, actor=None, action="support.first")  # autocommit: sealed at once
    assert _seal_doc("support", 1)["seq"] == first.seq
    monkeypatch.setattr(audit.seals, "seal_after_commit", lambda chain: None)
    second = log_event(tenant=None, actor=None, action="support.second")  # its seal did not run
    monkeypatch.undo()
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.seal_audit_chain, "apply_async", lambda args, kwargs: sent.append(tuple(args)))
    locked, release = threading.Event(), threading.Event()

    def hold_the_head() -> None:
        try:
            with transaction.atomic():
                AuditChainHead.objects.select_for_update().get(chain="support")
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_head)
    holder.start()
    try:
        assert locked.wait(30)
        assert audit.seal_chain("support") is None
        assert sent == [("support",)]
    finally:
        release.set()
        holder.join(30)
    assert tasks.seal_audit_chain("support") is True
    assert (_seal_doc("support", 2)["seq"], _seal_doc("support", 2)["hash"]) == (second.seq, second.hash)
    assert verify_all() == []
