"""``users/*``: update and bulkUpdate, get, delete, GDPR forget, updateEmail, getFields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctsync.sandbox.iterable.errors import (
    ApiError,
    BulkOutcome,
    IdentityFailure,
    check_or_fail,
    commit,
    missing_identity,
    record_failure,
    single_failure,
    success,
    user_bulk_body,
)
from ctsync.sandbox.iterable.fields import SchemaCheck
from ctsync.sandbox.iterable.identity import (
    apply_user_fields,
    check_identifiers,
    resolve,
    valid_email,
    valid_user_id,
)
from ctsync.sandbox.iterable.project import Project, User, now_text


def op_update(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    check = SchemaCheck(project.schema, body.get("createNewFields"))
    data = check_or_fail(check, "user", body.get("dataFields"))
    email, user_id = body.get("email"), body.get("userId")
    if email is None and user_id is None:
        raise ApiError(400, "BadParams", "Either email or userId must be provided")
    try:
        check_identifiers(project, email, user_id)
    except IdentityFailure as failure:
        raise single_failure(failure) from None
    try:
        user = resolve(project, email, user_id, bool(body.get("preferUserId")))
        commit(check)
        apply_user_fields(project, user, data, bool(body.get("mergeNestedObjects")))
    except IdentityFailure as failure:
        raise single_failure(failure) from None
    return 200, success()


def bulk_users(
    project: Project,
    records: list[dict[str, Any]],
    path: str,
    check: SchemaCheck,
    create: bool,
    after: Callable[[User], None] | None = None,
) -> BulkOutcome:
    """Shared loop of bulkUpdate and lists/subscribe: type-check all, then apply each."""
    checked = []
    for index, record in enumerate(records):
        if record.get("email") is None and record.get("userId") is None:
            raise missing_identity(f"obj.{path}[{index}]")
        checked.append(check_or_fail(check, "user", record.get("dataFields")))
    commit(check)
    outcome = BulkOutcome()
    for record, data in zip(records, checked, strict=True):
        try:
            user = resolve(
                project,
                record.get("email"),
                record.get("userId"),
                bool(record.get("preferUserId")),
                create=create,
            )
            apply_user_fields(project, user, data, bool(record.get("mergeNestedObjects")))
            if after is not None:
                after(user)
            outcome.success += 1
        except IdentityFailure as failure:
            outcome.fail += 1
            record_failure(outcome, failure, record)
    return outcome


def op_bulk_update(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    check = SchemaCheck(project.schema, body.get("createNewFields"))
    outcome = bulk_users(project, body["users"], "users", check, create=True)
    return 200, user_bulk_body(outcome, check)


def op_get_user_by_email(project: Project, email: str) -> tuple[int, dict[str, Any]]:
    if not valid_email(email):
        raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {email}")
    user = project.first_by_email(email)
    return 200, ({"user": user.view()} if user else {})


def op_get_user_by_user_id(project: Project, user_id: str) -> tuple[int, dict[str, Any]]:
    user = project.first_by_user_id(user_id)
    return 200, ({"user": user.view()} if user else {})


def op_delete_user_by_email(project: Project, email: str) -> tuple[int, dict[str, Any]]:
    if project.project_type == "userId":
        raise ApiError(
            400,
            "BadParams",
            "Deleting by email is not supported in userID-based projects; "
            "use DELETE /api/users/byUserId/{userId}",
        )
    if not valid_email(email):
        raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {email}")
    user = project.first_by_email(email)
    if user is None:
        raise ApiError(400, "BadParams", f"User does not exist. Email: {email} UserId: ")
    project.remove(user)
    return 200, success()


def op_delete_user_by_user_id(project: Project, user_id: str) -> tuple[int, dict[str, Any]]:
    users = list(project.by_user_id.get(user_id, []))
    if not users:
        raise ApiError(400, "BadParams", f"User does not exist. Email:  UserId: {user_id}")
    for user in users:
        project.remove(user)
    return 200, {
        "msg": f"All users associated with {user_id} were successfully deleted",
        "code": "Success",
        "params": None,
    }


def _check_forget(project: Project, email: str | None, user_id: str | None) -> None:
    if email is None and user_id is None:
        raise ApiError(400, "BadParams", "Either email or userId must be provided")
    if project.project_type == "email" and email is None:
        raise ApiError(400, "BadParams", "Email-based projects forget users by email")
    if project.project_type == "userId" and user_id is None:
        raise ApiError(400, "BadParams", "UserID-based projects forget users by userId")
    if email is not None and not valid_email(email):
        raise ApiError(400, "InvalidEmailAddressError", f"Invalid email: {email}")
    if user_id is not None and not valid_user_id(user_id):
        raise ApiError(400, "InvalidUserIdError", f"Invalid userId: {user_id}")


def op_forget(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    email, user_id = body.get("email"), body.get("userId")
    _check_forget(project, email, user_id)
    targets: list[User] = []
    if email is not None:
        targets += project.by_email.get(email.lower(), [])
        project.forgotten_emails.add(email.lower())
    if user_id is not None:
        targets += project.by_user_id.get(user_id, [])
        project.forgotten_user_ids.add(user_id)
    for user in dict.fromkeys(targets):
        if user.email is not None and project.project_type != "userId":
            project.forgotten_emails.add(user.email.lower())
        if user.user_id is not None and project.project_type != "email":
            project.forgotten_user_ids.add(user.user_id)
        project.remove(user)
    return 200, success()


def op_update_email(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    current_email, current_id = body.get("currentEmail"), body.get("currentUserId")
    new_email = body["newEmail"]
    if current_email is None and current_id is None:
        raise ApiError(400, "BadParams", "Either currentEmail or currentUserId is required")
    if current_email is not None and not valid_email(current_email):
        raise ApiError(400, "InvalidEmailAddressError", f"Invalid currentEmail {current_email}")
    if not valid_email(new_email):
        raise ApiError(400, "InvalidEmailAddressError", f"Invalid newEmail {new_email}")
    if new_email.lower() in project.forgotten_emails:
        raise ApiError(409, "ForgottenUserError", "Contact is GDPR forgotten")
    user = project.find_user(current_email, current_id)
    if user is None:
        if current_email is not None:
            raise ApiError(400, "UnknownEmailError", f"No user exists with email {current_email}")
        raise ApiError(400, "UnknownUserIdError", f"No user exists with userId {current_id}")
    other = project.first_by_email(new_email)
    if project.project_type != "userId" and other is not None and other is not user:
        raise ApiError(
            409, "EmailAlreadyExists", f"Email/userId conflict: {new_email} already exists"
        )
    project.set_identity(user, new_email, user.user_id)
    user.data["profileUpdatedAt"] = now_text()
    return 200, success()


def op_get_fields(project: Project) -> tuple[int, dict[str, Any]]:
    return 200, {"fields": dict(project.schema.fields("user"))}
