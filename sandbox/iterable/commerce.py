"""``commerce/*``: trackPurchase (upserts the user, empties the cart) and updateCart."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from ctsync.sandbox.iterable.errors import (
    ApiError,
    IdentityFailure,
    check_or_fail,
    commit,
    single_failure,
    success,
)
from ctsync.sandbox.iterable.events import event_id
from ctsync.sandbox.iterable.fields import SchemaCheck
from ctsync.sandbox.iterable.identity import apply_user_fields, check_identifiers, resolve
from ctsync.sandbox.iterable.project import Project, User


def _resolve_single(project: Project, user_req: dict[str, Any], check: SchemaCheck) -> User:
    try:
        check_identifiers(project, user_req.get("email"), user_req.get("userId"))
        commit(check)
        return resolve(
            project,
            user_req.get("email"),
            user_req.get("userId"),
            bool(user_req.get("preferUserId")),
        )
    except IdentityFailure as failure:
        raise single_failure(failure) from None


def _commerce_user(project: Project, body: dict[str, Any], check: SchemaCheck) -> tuple[User, Any]:
    user_req = body["user"]
    data = check_or_fail(check, "user", user_req.get("dataFields"))
    if user_req.get("email") is None and user_req.get("userId") is None:
        raise ApiError(
            400,
            "BadParams",
            "Either user.email or user.userId must be provided",
            {"obj.user": "email or userId required"},
        )
    return _resolve_single(project, user_req, check), data


def _check_items(check: SchemaCheck, items: list[dict[str, Any]]) -> None:
    for item in items:
        if item.get("dataFields"):
            check_or_fail(check, "purchase", {"shoppingCartItems": item["dataFields"]})


def _update_user(project: Project, body: dict[str, Any], check: SchemaCheck) -> User:
    """The user a commerce call addresses, its ``user.dataFields`` merged in."""
    user, data = _commerce_user(project, body, check)
    try:
        apply_user_fields(project, user, data, bool(body["user"].get("mergeNestedObjects")))
    except IdentityFailure as failure:
        raise single_failure(failure) from None
    return user


def op_track_purchase(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    purchase_id = event_id(body.get("id"), "obj.id")
    check = SchemaCheck(project.schema)
    purchase_data = check_or_fail(check, "purchase", body.get("dataFields"))
    _check_items(check, body["items"])
    user = _update_user(project, body, check)
    user.data["shoppingCartItems"] = []
    project.own(
        project.purchases,
        purchase_id,
        {
            "id": purchase_id,
            "eventName": "purchase",
            "eventType": "purchase",
            "email": user.email,
            "userId": user.user_id,
            "items": copy.deepcopy(body["items"]),
            "total": body["total"],
            "createdAt": body.get("createdAt") or int(time.time()),
            "dataFields": purchase_data or {},
            "campaignId": body.get("campaignId"),
            "templateId": body.get("templateId"),
            "_uid": user.uid,
        },
    )
    return 200, {
        "msg": f"Purchase with id: {purchase_id} tracked.",
        "code": "Success",
        "params": {"id": purchase_id},
    }


def op_update_cart(project: Project, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    check = SchemaCheck(project.schema)
    _check_items(check, body["items"])
    user = _update_user(project, body, check)
    user.data["shoppingCartItems"] = copy.deepcopy(body["items"])
    cart_id = uuid.uuid4().hex
    project.own(
        project.cart_updates,
        cart_id,
        {
            "id": cart_id,
            "eventName": "updateCart",
            "eventType": "updateCart",
            "email": user.email,
            "userId": user.user_id,
            "items": copy.deepcopy(body["items"]),
            "createdAt": int(time.time()),
            "_uid": user.uid,
        },
    )
    return 200, success()
