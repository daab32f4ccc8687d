"""Entitlements and the audit trail.

Market data is licensed: a group may see some markets, locations, datasets, sometimes only with a delay,
and may or may not export. The rules are data in the store (``access_rules``, every change a new version:
:mod:`marketintel.access.rules`) and the store engine enforces them for the caller's own store user
(:mod:`marketintel.access.policy`): row policies whose filter reads the connection's entitlement, which the
endpoint fixes when it opens a connection for that user and which the user cannot change. Whatever SQL an
entitled user writes, only entitled rows come back.
"""
