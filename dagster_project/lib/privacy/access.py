"""Who may do what with personal data, and the log of what they did (R25, R30).

Roles and their rights come from governance.yaml (`access`); the acting user from `--as`, else
$CUSTODIAN_USER, else the login name. This is least privilege and attribution inside the
platform: the analyst database is a separate file so that the operating system can give analysts
that file alone; the restricted warehouse's protection against someone with a shell is its file
permissions.

The access log is a JSON-lines file, one entry per action, appended under a file lock. Each
entry carries the SHA-256 of the previous entry and of itself, so an edited, removed or
reordered entry breaks the chain from that point (`verify_access_log`). Queries are logged with
their literals replaced by `?`: `where email = 'x@y.cn'` would otherwise put the personal data
the log protects into the log.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.config import RIGHTS, AccessConfig

GENESIS = "0" * 64


class AccessDeniedError(PermissionError):
    """The acting user has no role, or their role lacks the right; the message says which
    roles have it."""


@dataclass(frozen=True)
class Actor:
    user: str
    role: str | None


def authorise(access: AccessConfig, user: str, right: str) -> Actor:
    """The user and their role, if that role holds `right`.

    Raises:
        AccessDeniedError: unknown user, or a role without the right.
    """
    holders = access.roles_with(right)
    needed = (
        f"{RIGHTS[right]} needs the right {right!r}, held by the role(s): "
        f"{', '.join(holders) or 'none (add it to a role in governance.yaml access.roles)'}"
    )
    role = access.users.get(user)
    if role is None:
        raise AccessDeniedError(
            f"user {user!r} has no role in governance.yaml (access.users): {needed}. Ask an "
            "administrator to add you, or act as a configured user with --as / CUSTODIAN_USER"
        )
    if right not in access.roles.get(role, []):
        raise AccessDeniedError(f"user {user!r} has the role {role!r}, which may not: {needed}")
    return Actor(user, role)


def role_of(access: AccessConfig, user: str) -> str | None:
    return access.users.get(user)


_LITERALS = (duckdb.token_type.string_const, duckdb.token_type.numeric_const)


def redact_literals(query: str) -> str:
    """The query with every string and number literal replaced by `?` (DuckDB's tokenizer: a
    literal holding a quote or a comment marker is still one literal)."""
    try:
        tokens = duckdb.tokenize(query)
    except duckdb.Error:
        return "<query not tokenisable: not logged>"
    pieces, previous_end = [], 0
    for index, (start, kind) in enumerate(tokens):
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(query)
        if kind in _LITERALS:
            pieces.append(query[previous_end:start])
            # The literal runs to the next token, less the spaces before it.
            literal = query[start:end]
            pieces.append("?" + literal[len(literal.rstrip()) :])
            previous_end = end
    pieces.append(query[previous_end:])
    return "".join(pieces)


def _entry_hash(previous: str, entry: dict) -> str:
    body = json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256((previous + body).encode("utf-8")).hexdigest()


def _last_hash(handle) -> str:
    handle.seek(0)
    last = GENESIS
    for line in handle:
        if line.strip():
            last = json.loads(line)["hash"]
    return last


def append_access(
    path: Path,
    *,
    actor: Actor,
    action: str,
    detail: str,
    outcome: str,
    rows: int | None = None,
    at: datetime | None = None,
) -> dict:
    """Append one entry (who, role, when, what, outcome, rows returned) to the access log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "at": (at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "user": actor.user,
        "role": actor.role,
        "action": action,
        "detail": detail,
        "outcome": outcome,
        "rows": rows,
    }
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            previous = _last_hash(handle)
            entry["previous"] = previous
            entry["hash"] = _entry_hash(previous, entry)
            handle.seek(0, 2)
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return entry


def read_access_log(path: Path) -> Iterator[dict]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def verify_access_log(path: Path) -> list[str]:
    """Problems found walking the hash chain; empty when every entry is as written."""
    problems, previous = [], GENESIS
    for number, entry in enumerate(read_access_log(path), start=1):
        stored = entry.pop("hash", None)
        if entry.get("previous") != previous:
            problems.append(
                f"entry {number}: does not follow entry {number - 1} (removed or moved)"
            )
        if _entry_hash(entry.get("previous", ""), entry) != stored:
            problems.append(f"entry {number}: changed after it was written")
        previous = stored or ""
    return problems
