"""Which user a record addresses, by the rules of the project type, and the identity
changes a record may carry (``dataFields.email`` / ``dataFields.userId``).

``email`` projects: email identifies and wins, duplicate userIds are allowed, a userId-only
record needs an existing user or ``preferUserId``. ``userId`` projects: users are created
by userId only. ``hybrid``: both are unique and must not point at two users.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from ctsync.sandbox.iterable.errors import IdentityFailure
from ctsync.sandbox.iterable.project import Project, User, now_text

USER_ID_MAX_LEN = 52
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def valid_email(value: str) -> bool:
    return bool(_EMAIL_RE.match(value))


def valid_user_id(value: str) -> bool:
    """Non-empty, ≤52 chars, printable ASCII, no trailing space (FailedUserUpdates rules)."""
    if not value or len(value) > USER_ID_MAX_LEN or value[-1].isspace():
        return False
    return value.isascii() and value.isprintable()


def check_identifiers(project: Project, email: Any, user_id: Any) -> None:
    """Syntax and GDPR status of a record's identifiers (nothing that needs stored users)."""
    if email is not None and not valid_email(email):
        raise IdentityFailure("invalid", "email", email, f"Invalid email: {email}")
    if user_id is not None and not valid_user_id(user_id):
        raise IdentityFailure("invalid", "userId", user_id, f"Invalid userId: {user_id}")
    if email is not None and email.lower() in project.forgotten_emails:
        raise IdentityFailure("forgotten", "email", email, "Contact is GDPR forgotten")
    if user_id is not None and user_id in project.forgotten_user_ids:
        raise IdentityFailure("forgotten", "userId", user_id, "Contact is GDPR forgotten")


def resolve(
    project: Project,
    email: str | None,
    user_id: str | None,
    prefer_user_id: bool = False,
    create: bool = True,
) -> User:
    """The user a record addresses, created when the project type allows it.

    Raises ``IdentityFailure`` for bad, forgotten, unknown or conflicting identities.
    """
    if email is None and user_id is None:
        raise IdentityFailure("missing", "email", "", "Either email or userId is required")
    check_identifiers(project, email, user_id)
    return _RESOLVERS[project.project_type](project, email, user_id, prefer_user_id, create)


def _not_found(key: str, value: str, suffix: str = "") -> IdentityFailure:
    return IdentityFailure("notFound", key, value, f"No user exists with {key} {value}{suffix}")


def _resolve_email_project(
    project: Project, email: str | None, user_id: str | None, prefer_user_id: bool, create: bool
) -> User:
    if email is not None:
        user = project.first_by_email(email)
        if user is None:
            if not create:
                raise _not_found("email", email)
            return project.create(email, user_id)
        if user_id is not None and user.user_id != user_id:
            # Email-based projects: email wins, the userId is overwritten.
            project.set_identity(user, user.email, user_id)
        return user
    assert user_id is not None
    user = project.first_by_user_id(user_id)
    if user is not None:
        return user
    if prefer_user_id and create:
        return project.create(f"{uuid.uuid4().hex}@placeholder.email", user_id)
    raise _not_found("userId", user_id)


def _resolve_user_id_project(
    project: Project, email: str | None, user_id: str | None, prefer_user_id: bool, create: bool
) -> User:
    if user_id is not None:
        user = project.first_by_user_id(user_id)
        if user is None:
            if not create:
                raise _not_found("userId", user_id)
            return project.create(email, user_id)
        if email is not None and user.email != email:
            project.set_identity(user, email, user.user_id)
        return user
    assert email is not None
    user = project.first_by_email(email)
    if user is None:
        raise _not_found("email", email, " (userID-based projects create users by userId only)")
    return user


def _resolve_hybrid_project(
    project: Project, email: str | None, user_id: str | None, prefer_user_id: bool, create: bool
) -> User:
    by_email = project.first_by_email(email) if email is not None else None
    by_id = project.first_by_user_id(user_id) if user_id is not None else None
    if by_email is not None and by_id is not None and by_email is not by_id:
        raise IdentityFailure(
            "conflict",
            "email",
            email or "",
            "Email/userId conflict: email and userId belong to different users",
        )
    user = by_email or by_id
    if user is None:
        if not create:
            key, value = ("userId", user_id) if user_id is not None else ("email", email)
            raise _not_found(key, value or "")
        return project.create(email, user_id)
    if user_id is not None and user.user_id is not None and user.user_id != user_id:
        raise IdentityFailure(
            "conflict",
            "userId",
            user_id,
            f"Email/userId conflict: {email} already has another userId",
        )
    if email is not None and user.email is not None and user.email.lower() != email.lower():
        project.set_identity(user, email, user.user_id)
    elif email is not None and user.email is None:
        project.set_identity(user, email, user.user_id)
    if user_id is not None and user.user_id is None:
        project.set_identity(user, user.email, user_id)
    return user


_Resolver = Callable[[Project, str | None, str | None, bool, bool], User]
_RESOLVERS: dict[str, _Resolver] = {
    "email": _resolve_email_project,
    "userId": _resolve_user_id_project,
    "hybrid": _resolve_hybrid_project,
}


def _check_new_user_id(project: Project, user: User, new_id: Any) -> None:
    if not isinstance(new_id, str) or new_id == user.user_id:
        return
    if not valid_user_id(new_id):
        raise IdentityFailure(
            "invalidData", "userId", new_id, f"Invalid userId in dataFields: {new_id}"
        )
    if new_id in project.forgotten_user_ids:
        raise IdentityFailure("forgotten", "userId", new_id, "Contact is GDPR forgotten")
    if project.project_type != "email" and project.first_by_user_id(new_id) is not None:
        raise IdentityFailure(
            "conflict",
            "userId",
            new_id,
            f"Email/userId conflict: userId {new_id} already exists",
        )


def _check_new_email(project: Project, user: User, new_email: Any) -> None:
    if (
        not isinstance(new_email, str)
        or project.project_type == "email"
        or (user.email is not None and new_email.lower() == user.email.lower())
    ):
        return
    if not valid_email(new_email):
        raise IdentityFailure(
            "invalidData", "email", new_email, f"Invalid email in dataFields: {new_email}"
        )
    if new_email.lower() in project.forgotten_emails:
        raise IdentityFailure("forgotten", "email", new_email, "Contact is GDPR forgotten")
    if project.project_type == "hybrid" and project.first_by_email(new_email) is not None:
        raise IdentityFailure(
            "conflict",
            "email",
            new_email,
            f"Email/userId conflict: email {new_email} already exists",
        )


def identity_updates(project: Project, user: User, data: dict[str, Any]) -> None:
    """Identity changes carried in ``dataFields.email`` / ``dataFields.userId``."""
    new_email = data.get("email")
    new_id = data.get("userId")
    _check_new_user_id(project, user, new_id)
    _check_new_email(project, user, new_email)
    if isinstance(new_id, str) and new_id != user.user_id:
        project.set_identity(user, user.email, new_id)
    if isinstance(new_email, str) and project.project_type != "email" and new_email != user.email:
        project.set_identity(user, new_email, user.user_id)


def merge(target: dict[str, Any], update: dict[str, Any], nested: bool) -> None:
    """Iterable's dataFields merge: top-level replace (or deep merge), ``null`` deletes.

    Request bodies are parsed afresh per request and stored objects are only ever
    replaced, never mutated, so values are stored without copying (lists excepted: the
    emulator appends to list memberships in place).
    """
    for key, value in update.items():
        cls = type(value)
        if value is None:
            target.pop(key, None)
        elif cls is dict and nested:
            current = target.get(key)
            child = dict(current) if type(current) is dict else {}
            merge(child, value, nested=True)
            target[key] = child
        elif cls is list:
            target[key] = list(value)
        else:
            target[key] = value


def apply_user_fields(
    project: Project, user: User, data: dict[str, Any] | None, nested: bool
) -> None:
    """Merge a record's ``dataFields`` into the profile, identity changes first."""
    if data:
        touches_identity = "email" in data or "userId" in data
        if touches_identity:
            identity_updates(project, user, data)
        merge(user.data, data, nested)
        if touches_identity:
            # Identity fields mirror the real identifiers (email wins in email projects).
            for key, value in (("email", user.email), ("userId", user.user_id)):
                if value is None:
                    user.data.pop(key, None)
                else:
                    user.data[key] = value
    user.data["profileUpdatedAt"] = now_text()
