"""The check-in's user verification gate (backend/passkeys.py): cached policies and passkeys.

With the policy off, a check-in costs one dictionary look-up here (the unit's policy, cached).
With it on, the assertion is parsed in the request (backend/passkeys.py ``parse_assertion``), its
signature joins the scan batch's device signatures in the helper process (one more ECDSA
verification, backend/checkin/reads.py), and ``decide`` refuses or flags after the device checks,
so the codes of DESIGN.md's order come first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from databases import Database

from backend.checkin.records import DatabaseUnavailable, unreachable
from backend.checkin.verifier import Item
from backend.db import agencies, passkeys, units
from backend.errors import ApiError
from backend.passkeys import NO_USER_VERIFICATION, Assertion, effective_policy

if TYPE_CHECKING:
    from backend.checkin.reads import TTLCache

POLICY_TTL = 30.0  # an admin's change reaches every process within this; a refusal reads fresh
PASSKEY_TTL = 60.0


@dataclass(frozen=True)
class Passkey:
    credential_id: str
    point: bytes


NO_PASSKEY = Passkey("", b"")  # cached too: flag-mode phones without one are read once a minute


@dataclass
class Prepared:
    """A batch's assertions: signatures to verify (``items``, answering for ``checked``: scan
    index and whether the user was verified) and the refusals already known (index → code)."""

    items: list[Item] = field(default_factory=list)
    checked: list[tuple[int, bool]] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)

    def verdicts(self, valid: list[bool]) -> dict[int, str]:
        """Index → ``"ok"`` or the refusal's code, given the signatures' verdicts."""
        verdicts = dict(self.refused)
        for (n, verified), good in zip(self.checked, valid, strict=True):
            verdicts[n] = (
                "bad_assertion" if not good else "ok" if verified else "user_verification_failed"
            )
        return verdicts


class UserVerification:
    """The policies by unit and the passkeys by device, for one process's check-ins."""

    def __init__(self, db: Database) -> None:
        from backend.checkin.reads import TTLCache  # reads.py imports this module

        self.db = db
        self._policies: TTLCache[int, str] = TTLCache(POLICY_TTL)
        self._passkeys: TTLCache[str, Passkey] = TTLCache(PASSKEY_TTL)

    async def policy(self, unit_id: int, *, fresh: bool = False) -> str:
        if not fresh:
            hit = self._policies.peek(unit_id)
            if hit is not None:
                return hit

        async def load() -> str:
            row = await self._read(
                sa.select(units.c.user_verification.label("unit"), agencies.c.user_verification)
                .select_from(units.join(agencies))
                .where(units.c.id == unit_id)
            )
            return "off" if not row else effective_policy(row[0]["unit"], row[0][1])

        return await self._policies.get(unit_id, load, fresh=fresh) or "off"

    async def passkey(self, device_id: str) -> Passkey:
        hit = self._passkeys.peek(device_id)
        if hit is not None:
            return hit
        return (await self.passkeys([device_id]))[device_id]

    async def passkeys(self, device_ids: list[str]) -> dict[str, Passkey]:
        """The passkeys of a batch's phones, the ones not cached read in one query."""
        found = {d: p for d in device_ids if (p := self._passkeys.peek(d)) is not None}
        missing = sorted(set(device_ids) - found.keys())
        if missing:
            rows = await self._read(
                sa.select(
                    passkeys.c.device_id, passkeys.c.credential_id, passkeys.c.public_key
                ).where(passkeys.c.device_id.in_(missing))
            )
            loaded = {r["device_id"]: Passkey(r["credential_id"], bytes(r[2])) for r in rows}
            for device_id in missing:
                found[device_id] = loaded.get(device_id, NO_PASSKEY)
                self._passkeys.put(device_id, found[device_id])
        return found

    async def prepare(self, scans: list[tuple[int, Any, Assertion]]) -> Prepared:
        """For a batch's (index, scan, assertion) triples: the signatures to verify, and the
        ones already refused. A ``fresh`` scan reads its phone's passkey again."""
        for _, scan, _ in scans:
            if scan.fresh:
                self._passkeys.forget(scan.device_id)
        keys = await self.passkeys([scan.device_id for _, scan, _ in scans])
        prepared = Prepared()
        for n, scan, assertion in scans:
            key = keys[scan.device_id]
            if assertion.error:
                prepared.refused[n] = assertion.error
            elif key is NO_PASSKEY or key.credential_id != assertion.credential_id:
                prepared.refused[n] = "unknown_credential"
            else:
                prepared.items.append(assertion.item(key.point))
                prepared.checked.append((n, assertion.user_verified))
        return prepared

    def forget(self, device_id: str | None = None, unit_id: int | None = None) -> None:
        if device_id is not None:
            self._passkeys.forget(device_id)
        if unit_id is not None:
            self._policies.forget(unit_id)

    async def _read(self, query: Any) -> list[Any]:
        try:
            return list(await self.db.fetch_all(query))
        except Exception as exc:
            if unreachable(exc):
                raise DatabaseUnavailable() from exc
            raise

    async def decide(
        self, person: dict[str, Any], device_id: str, sent: bool, verdict: str | None, fresh: bool
    ) -> list[str]:
        """Refuse the scan or return the flags it carries. ``sent``: the scan had an assertion;
        ``verdict``: ``"ok"`` or the refusal's code from the batch; ``fresh``: ignore the cache
        (the check-in decides a refusal again on fresh rows)."""
        policy = await self.policy(person["unit_id"], fresh=fresh)
        if policy == "off":
            return []
        if sent:
            if verdict != "ok":
                raise ApiError(verdict or "invalid_assertion")
            return []
        if fresh:
            self._passkeys.forget(device_id)
        if (await self.passkey(device_id)) is not NO_PASSKEY:
            raise ApiError("user_verification_failed")  # this phone has a passkey: use it
        if policy == "flag":
            return [NO_USER_VERIFICATION]
        raise ApiError("user_verification_unavailable")
