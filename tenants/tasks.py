"""Celery tasks of tenants (the worker finds them here).

The audit log's seal tasks are defined beside the sealing they finish
(``tenants.audit.seals``), which sends them itself.
"""

from __future__ import annotations

from tenants.audit.seals import seal_audit_chain, seal_audit_chains

__all__ = ["seal_audit_chain", "seal_audit_chains"]
