"""How each Iterable object is sent, and what Iterable's answer means for each row.

Runs in worker threads; returns one `Outcome` per row and never touches the warehouse.
Bulk requests that Iterable refuses as a whole (400 `BadJsonBody`,
`RequestFieldsTypesMismatched`, 413) are halved recursively until the bad rows stand alone,
so one bad row costs a few extra requests, not the batch. Partial failures inside a 200
(`failedUpdates.*`) become per-row rejections; everything else in the batch is delivered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from ctsync.core.config import IterableSettings
from ctsync.core.names import IterableObject, Operation, Outcome, RecordOutcome
from ctsync.core.redact import redact
from ctsync.sync import responses
from ctsync.sync.batching import Prepared
from ctsync.sync.iterable_client import ApiResponse, IterableClient, IterableTransientError
from ctsync.sync.responses import describe, identity_failures, is_absent, reason_for, should_split


class Delivery:
    """Sends groups of prepared rows of one object to Iterable; thread-safe."""

    BULK_OBJECTS = frozenset(
        {
            IterableObject.USERS,
            IterableObject.SUBSCRIPTIONS,
            IterableObject.EVENTS,
            IterableObject.CATALOG_ITEMS,
        }
    )

    def __init__(self, client: IterableClient, settings: IterableSettings) -> None:
        self.client = client
        self.settings = settings
        self.stopped = threading.Event()
        self._catalog_lock = threading.Lock()
        self._catalog_ready = False
        self._learned_lock = threading.Lock()
        self._learned: list[tuple[str, str, str]] = []
        self._bulk_group_action_disabled = threading.Event()
        # the request for (object, operation); (object, None): for every other operation
        self._handlers: dict[tuple[str, str | None], Callable[[list[Prepared]], list[Outcome]]]
        self._handlers = {
            (IterableObject.USERS, Operation.UPSERT): self._users_upsert,
            (IterableObject.USERS, Operation.MOVE): self._users_move,
            (IterableObject.USERS, Operation.UPDATE): self._users_update,
            (IterableObject.USERS, None): self._users_delete,
            (IterableObject.SUBSCRIPTIONS, None): self._subscriptions,
            (IterableObject.PURCHASES, None): self._purchases,
            (IterableObject.CARTS, None): self._carts,
            (IterableObject.EVENTS, None): self._events,
            (IterableObject.CATALOG_ITEMS, Operation.DELETE): self._catalog_delete,
            (IterableObject.CATALOG_ITEMS, None): self._catalog_items,
            (IterableObject.USER_DELETIONS, None): self._user_deletions,
        }

    def is_bulk(self, obj: str, operation: str) -> bool:
        if obj == IterableObject.USERS:
            return operation == Operation.UPSERT
        return obj in self.BULK_OBJECTS

    def send(self, obj: str, operation: str, items: list[Prepared]) -> list[Outcome]:
        """Deliver `items` (one request group) and return one outcome per row.

        Raises `IterableAuthError` (the run must stop); never raises for transient
        trouble, which comes back as RecordOutcome.FAILED outcomes.
        """
        if self.stopped.is_set():
            return []
        handler = self._handlers.get((obj, operation)) or self._handlers[(obj, None)]
        return handler(items)

    def _guarded(
        self, items: list[Prepared], endpoint: str, call: Callable[[], ApiResponse]
    ) -> ApiResponse | list[Outcome]:
        try:
            return call()
        except IterableTransientError as exc:
            return [
                Outcome(p.row, RecordOutcome.FAILED, endpoint, exc.status, exc.reason, redact(exc))
                for p in items
            ]

    def _bulk(
        self,
        items: list[Prepared],
        endpoint: str,
        method: str,
        path: str,
        body: Callable[[list[Prepared]], Any],
        interpret: Callable[[list[Prepared], ApiResponse], list[Outcome]],
    ) -> list[Outcome]:
        if self.stopped.is_set():
            return []
        response = self._guarded(
            items, endpoint, lambda: self.client.call(endpoint, method, path, body(items))
        )
        if isinstance(response, list):
            return response
        if response.ok:
            return interpret(items, response)
        if len(items) > 1 and should_split(response):
            middle = len(items) // 2
            return self._bulk(items[:middle], endpoint, method, path, body, interpret) + self._bulk(
                items[middle:], endpoint, method, path, body, interpret
            )
        if len(items) == 1:
            self._learn_types(items[0], response)
        reason, detail = reason_for(response), describe(response)
        return [
            Outcome(p.row, RecordOutcome.REJECTED, endpoint, response.status, reason, detail)
            for p in items
        ]

    def _learn_types(self, item: Prepared, response: ApiResponse) -> None:
        """Remember the field types a type-mismatch answer reveals, so the validator can
        refuse later rows with the same problem before they cost a split bulk request."""
        if response.code != "RequestFieldsTypesMismatched" or not isinstance(response.body, dict):
            return
        errors = (response.body.get("params") or {}).get("validationErrors") or {}
        if not isinstance(errors, dict):
            return
        for name, error in errors.items():
            if not isinstance(error, dict) or not error.get("expectedType"):
                continue
            source = str(error.get("category") or "")
            if source == "customEvent":
                category = f"event:{item.payload.get('eventName')}"
            elif source in ("user", "purchase", "catalog"):
                category = source
            else:
                continue
            with self._learned_lock:
                self._learned.append((category, str(name), str(error["expectedType"]).lower()))

    def take_learned_types(self) -> list[tuple[str, str, str]]:
        """(category, field, type) triples learned since the last call."""
        with self._learned_lock:
            learned, self._learned = self._learned, []
        return learned

    def _single(
        self,
        item: Prepared,
        endpoint: str,
        method: str,
        path: str,
        body: Any,
        absent_ok: bool = False,
    ) -> list[Outcome]:
        if self.stopped.is_set():
            return []
        response = self._guarded(
            [item], endpoint, lambda: self.client.call(endpoint, method, path, body)
        )
        if isinstance(response, list):
            return response
        code = response.code
        if response.ok and code in (None, "Success"):
            return [Outcome(item.row, RecordOutcome.SUCCEEDED, endpoint, response.status)]
        self._learn_types(item, response)
        if absent_ok and is_absent(response):
            # The user is already gone: the deletion's effect holds, so acknowledge it.
            return [
                Outcome(
                    item.row,
                    RecordOutcome.SUCCEEDED,
                    endpoint,
                    response.status,
                    None,
                    describe(response),
                )
            ]
        return [
            Outcome(
                item.row,
                RecordOutcome.REJECTED,
                endpoint,
                response.status,
                reason_for(response),
                describe(response),
            )
        ]

    # users ---------------------------------------------------------------------------

    def _users_upsert(self, items: list[Prepared]) -> list[Outcome]:
        return self._bulk(
            items,
            "bulk_update",
            "POST",
            "/api/users/bulkUpdate",
            lambda group: {"users": [p.payload for p in group]},
            self._interpret_user_bulk,
        )

    def _interpret_user_bulk(self, items: list[Prepared], response: ApiResponse) -> list[Outcome]:
        body = response.body if isinstance(response.body, dict) else {}
        by_email, by_user_id = identity_failures(body)
        return self._per_row(items, response, "bulk_update", by_email, by_user_id, {})

    def _per_row(
        self,
        items: list[Prepared],
        response: ApiResponse,
        endpoint: str,
        by_email: dict[str, str],
        by_user_id: dict[str, str],
        by_event_name: dict[str, str],
        identity: Callable[[dict[str, Any]], dict[str, Any]] = lambda payload: payload,
    ) -> list[Outcome]:
        outcomes = []
        for item in items:
            who = identity(item.payload)
            email = who.get("email")
            user_id = who.get("userId")
            reason = None
            if email and str(email).lower() in by_email:
                reason = by_email[str(email).lower()]
            elif user_id is not None and str(user_id) in by_user_id:
                reason = by_user_id[str(user_id)]
            elif item.payload.get("eventName") in by_event_name:
                reason = by_event_name[item.payload["eventName"]]
            if reason is None:
                outcomes.append(
                    Outcome(item.row, RecordOutcome.SUCCEEDED, endpoint, response.status)
                )
            else:
                subject = f"email {email}" if email else f"userId {user_id}"
                if reason == "iterable_disallowed_event":
                    subject = f"eventName {item.payload.get('eventName')}"
                outcomes.append(
                    Outcome(
                        item.row,
                        RecordOutcome.FAILED
                        if reason == "transient_error"
                        else RecordOutcome.REJECTED,
                        endpoint,
                        response.status,
                        reason,
                        redact(f"Iterable reported {subject} under {reason} in a bulk response"),
                    )
                )
        return outcomes

    def _users_move(self, items: list[Prepared]) -> list[Outcome]:
        """Email-based projects: move a profile to its new email with updateEmail, keeping
        everything Iterable holds for it (history, lists, unsubscribes)."""
        outcomes: list[Outcome] = []
        for item in items:
            body = {
                "currentEmail": item.payload["currentEmail"],
                "newEmail": item.payload["newEmail"],
            }
            for outcome in self._single(
                item, "update_email", "POST", "/api/users/updateEmail", body
            ):
                if (
                    outcome.outcome == RecordOutcome.REJECTED
                    and outcome.reason_code == "iterable_not_found"
                ):
                    # No profile under the old email (deleted in Iterable): nothing to move;
                    # the upsert that follows creates the profile under the new email.
                    outcome = outcome._replace(outcome=RecordOutcome.SUCCEEDED)
                outcomes.append(responses.email_change_conflict(outcome))
        return outcomes

    def _users_update(self, items: list[Prepared]) -> list[Outcome]:
        """userId and hybrid projects: a changed email goes through users/update, the user
        identified by userId and the new email in dataFields (Iterable's route for these
        project types), together with the rest of the profile."""
        outcomes: list[Outcome] = []
        for item in items:
            payload = item.payload
            body: dict[str, Any] = {
                "userId": payload["userId"],
                "dataFields": {**(payload.get("dataFields") or {}), "email": payload["email"]},
                "preferUserId": True,
            }
            for outcome in self._single(item, "user_update", "POST", "/api/users/update", body):
                outcomes.append(responses.email_change_conflict(outcome))
        return outcomes

    def _users_delete(self, items: list[Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for item in items:
            outcomes += self._delete_user(item, item.payload)
        return outcomes

    def _delete_user(self, item: Prepared, who: dict[str, Any]) -> list[Outcome]:
        email, user_id = who.get("email"), who.get("userId")
        if email and self.settings.project_type != "userId":
            path = f"/api/users/{quote(str(email), safe='@')}"
        else:
            path = f"/api/users/byUserId/{quote(str(user_id), safe='')}"
        return self._single(item, "user_delete", "DELETE", path, None, absent_ok=True)

    # subscriptions -------------------------------------------------------------------
    #
    # Each row changes one group of one person (docs/CONTRACTS.md §4a). Lists go through
    # lists/subscribe and lists/unsubscribe; channels and message types through the bulk
    # group action PUT /api/subscriptions/{group}/{id}?action=..., or, in a project where
    # that is not enabled (404), the single-user PATCH / DELETE routes. People Iterable does
    # not hold yet are created with their initial arrays by bulkUpdateSubscriptions: a new
    # profile has nothing an overwrite could drop.

    def _subscriptions(self, items: list[Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        creations = [p for p in items if p.payload.get("create") is True]
        if creations:
            outcomes += self._subscription_creations(creations)
        groups: dict[tuple[str, int, str], list[Prepared]] = {}
        for item in items:
            if item.payload.get("create") is True:
                continue
            key = (
                str(item.payload["subscriptionGroup"]),
                int(item.payload["subscriptionGroupId"]),
                str(item.payload["action"]),
            )
            groups.setdefault(key, []).append(item)
        for (group, group_id, action), members in groups.items():
            if group == "emailList":
                outcomes += self._list_action(members, group_id, action)
            else:
                outcomes += self._group_action(members, group, group_id, action)
        return outcomes

    def _subscription_creations(self, items: list[Prepared]) -> list[Outcome]:
        by_person: dict[tuple[Any, Any], list[Prepared]] = {}
        for item in items:
            by_person.setdefault(
                (item.payload.get("email"), item.payload.get("userId")), []
            ).append(item)
        # one request item per person (every row of a person carries the same arrays)
        firsts = [members[0] for members in by_person.values()]
        results = self._bulk(
            firsts,
            "bulk_update_subscriptions",
            "POST",
            "/api/users/bulkUpdateSubscriptions",
            lambda group: {
                "updateSubscriptionsRequests": [
                    {
                        **{k: p.payload[k] for k in ("email", "userId") if p.payload.get(k)},
                        **p.payload.get("arrays", {}),
                    }
                    for p in group
                ]
            },
            self._interpret_subscriptions,
        )
        outcomes = []
        for result in results:
            payload = next(p.payload for p in firsts if p.row.record_key == result.row.record_key)
            for member in by_person[(payload.get("email"), payload.get("userId"))]:
                outcomes.append(result._replace(row=member.row))
        return outcomes

    def _interpret_subscriptions(
        self, items: list[Prepared], response: ApiResponse
    ) -> list[Outcome]:
        body = response.body if isinstance(response.body, dict) else {}
        by_email = {
            str(v).lower(): "iterable_invalid_email" for v in body.get("invalidEmails") or []
        }
        by_user_id = {str(v): "iterable_invalid_user_id" for v in body.get("invalidUserIds") or []}
        # valid*Failures are Iterable-side internal errors: retry next run, don't blame the row.
        for value in body.get("validEmailFailures") or []:
            by_email.setdefault(str(value).lower(), "transient_error")
        for value in body.get("validUserIdFailures") or []:
            by_user_id.setdefault(str(value), "transient_error")
        return self._per_row(items, response, "bulk_update_subscriptions", by_email, by_user_id, {})

    def _who(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The identifier a subscription request carries for this project type."""
        if self.settings.project_type != "email" and payload.get("userId"):
            return {"userId": payload["userId"]}
        return {"email": payload.get("email")}

    def _list_action(self, items: list[Prepared], list_id: int, action: str) -> list[Outcome]:
        endpoint = f"lists_{action}"
        subscribe = action == "subscribe"

        def body(group: list[Prepared]) -> dict[str, Any]:
            subscribers = [
                {k: p.payload[k] for k in ("email", "userId") if p.payload.get(k)} for p in group
            ]
            request: dict[str, Any] = {"listId": list_id, "subscribers": subscribers}
            if subscribe:
                request["updateExistingUsersOnly"] = False
            else:
                request["channelUnsubscribe"] = False
            return request

        def interpret(group: list[Prepared], response: ApiResponse) -> list[Outcome]:
            answer = response.body if isinstance(response.body, dict) else {}
            by_email, by_user_id = identity_failures(answer)
            if not subscribe:
                # not on Iterable at all: not on the list either, which is what was wanted
                by_email = {k: v for k, v in by_email.items() if v != "iterable_not_found"}
                by_user_id = {k: v for k, v in by_user_id.items() if v != "iterable_not_found"}
            return self._per_row(group, response, endpoint, by_email, by_user_id, {})

        path = f"/api/lists/{action}"
        return self._bulk(items, endpoint, "POST", path, body, interpret)

    def _group_action(
        self, items: list[Prepared], group: str, group_id: int, action: str
    ) -> list[Outcome]:
        endpoint = f"subscriptions_{action}"
        if not self._bulk_group_action_disabled.is_set():

            def body(members: list[Prepared]) -> dict[str, Any]:
                users, by_user_id = [], []
                for p in members:
                    who = self._who(p.payload)
                    if "userId" in who:
                        by_user_id.append(who["userId"])
                    else:
                        users.append(who["email"])
                return {"users": users, "usersByUserId": by_user_id}

            def interpret(members: list[Prepared], response: ApiResponse) -> list[Outcome]:
                return [
                    Outcome(p.row, RecordOutcome.SUCCEEDED, endpoint, response.status)
                    for p in members
                ]

            path = f"/api/subscriptions/{group}/{group_id}?action={action}"
            outcomes = self._bulk(items, endpoint, "PUT", path, body, interpret)
            if not all(o.http_status == 404 for o in outcomes):
                return outcomes
            # The project has not enabled the bulk action: fall back to one call per user.
            self._bulk_group_action_disabled.set()
        outcomes = []
        for item in items:
            who = self._who(item.payload)
            base = f"/api/subscriptions/{group}/{group_id}"
            if "userId" in who:
                path = f"{base}/byUserId/{quote(str(who['userId']), safe='')}"
            else:
                path = f"{base}/user/{quote(str(who['email']), safe='@')}"
            method = "PATCH" if action == "subscribe" else "DELETE"
            outcomes += self._single(
                item,
                f"subscription_user_{action}",
                method,
                path,
                None,
                absent_ok=action == "unsubscribe",
            )
        return outcomes

    # commerce ------------------------------------------------------------------------

    def _purchases(self, items: list[Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for item in items:
            outcomes += self._single(
                item, "track_purchase", "POST", "/api/commerce/trackPurchase", item.payload
            )
        return outcomes

    def _carts(self, items: list[Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for item in items:
            body = item.payload
            if item.row.operation == Operation.DELETE:
                # A removed cart is an empty cart; send only the identity so a stale
                # profile snapshot from the last payload is not written back.
                user = body.get("user") or {}
                identity = {k: user[k] for k in ("email", "userId", "preferUserId") if k in user}
                body = {"user": identity, "items": []}
            outcomes += self._single(item, "update_cart", "POST", "/api/commerce/updateCart", body)
        return outcomes

    # events --------------------------------------------------------------------------

    def _events(self, items: list[Prepared]) -> list[Outcome]:
        return self._bulk(
            items,
            "track_bulk",
            "POST",
            "/api/events/trackBulk",
            lambda group: {"events": [p.payload for p in group]},
            self._interpret_events,
        )

    def _interpret_events(self, items: list[Prepared], response: ApiResponse) -> list[Outcome]:
        body = response.body if isinstance(response.body, dict) else {}
        by_email, by_user_id = identity_failures(body)
        by_name = {
            str(v): "iterable_disallowed_event" for v in body.get("disallowedEventNames") or []
        }
        return self._per_row(items, response, "track_bulk", by_email, by_user_id, by_name)

    # catalog -------------------------------------------------------------------------

    def _catalog_path(self) -> str:
        return f"/api/catalogs/{quote(self.settings.catalog_name, safe='')}"

    def _catalog_items(self, items: list[Prepared]) -> list[Outcome]:
        def body(group: list[Prepared]) -> dict[str, Any]:
            return {
                "documents": {p.payload["itemId"]: p.payload["value"] for p in group},
                "replaceUploadedFieldsOnly": False,
            }

        def interpret(group: list[Prepared], response: ApiResponse) -> list[Outcome]:
            return [
                Outcome(p.row, RecordOutcome.SUCCEEDED, "catalog_bulk", response.status)
                for p in group
            ]

        path = f"{self._catalog_path()}/items"
        outcomes = self._bulk(items, "catalog_bulk", "POST", path, body, interpret)
        missing = [
            o for o in outcomes if o.http_status == 404 and o.outcome == RecordOutcome.REJECTED
        ]
        if missing and self._ensure_catalog():
            missing_keys = {o.row.record_key for o in missing}
            retry = [p for p in items if p.row.record_key in missing_keys]
            kept = [o for o in outcomes if o.row.record_key not in missing_keys]
            return kept + self._bulk(retry, "catalog_bulk", "POST", path, body, interpret)
        return outcomes

    def _ensure_catalog(self) -> bool:
        """Create the catalog once (Iterable answers 404 for items of a missing catalog)."""
        with self._catalog_lock:
            if self._catalog_ready:
                return True
            try:
                response = self.client.call("catalog_create", "POST", self._catalog_path(), None)
            except IterableTransientError:
                return False
            # 400/409 here usually mean "already exists" (another worker or a race).
            self._catalog_ready = response.ok or response.status in (400, 409)
            return self._catalog_ready

    def _catalog_delete(self, items: list[Prepared]) -> list[Outcome]:
        def interpret(group: list[Prepared], response: ApiResponse) -> list[Outcome]:
            return [
                Outcome(p.row, RecordOutcome.SUCCEEDED, "catalog_bulk_delete", response.status)
                for p in group
            ]

        outcomes = self._bulk(
            items,
            "catalog_bulk_delete",
            "DELETE",
            f"{self._catalog_path()}/items",
            lambda group: {"itemIds": [p.payload["itemId"] for p in group]},
            interpret,
        )
        # Deleting from a catalog that does not exist leaves nothing behind: done.
        return [
            Outcome(o.row, RecordOutcome.SUCCEEDED, o.endpoint, o.http_status, None, o.detail)
            if o.outcome == RecordOutcome.REJECTED and o.http_status == 404
            else o
            for o in outcomes
        ]

    # deletions -----------------------------------------------------------------------

    def _user_deletions(self, items: list[Prepared]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for item in items:
            method = item.payload.get("method") or self.settings.user_deletion_method
            if method == "forget":
                outcomes += self._forget(item)
            else:
                outcomes += self._delete_user(item, item.payload)
        return outcomes

    def _forget(self, item: Prepared) -> list[Outcome]:
        email, user_id = item.payload.get("email"), item.payload.get("userId")
        project = self.settings.project_type
        if project == "userId" or (project == "hybrid" and not email):
            body = {"userId": user_id}
        else:
            body = {"email": email}
        outcomes = self._single(item, "forget", "POST", "/api/users/forget", body)
        # Forgetting someone already forgotten has the desired effect.
        return [
            Outcome(o.row, RecordOutcome.SUCCEEDED, o.endpoint, o.http_status, None, o.detail)
            if o.reason_code == "iterable_forgotten"
            else o
            for o in outcomes
        ]
