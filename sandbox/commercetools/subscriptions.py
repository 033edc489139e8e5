"""What a commercetools Subscription delivers for a change made in the sandbox: the
resource's newest message as a `Message` notification, and that notification inside a Google
Pub/Sub push envelope (one of the shapes `ctsync serve` accepts, see
`ctsync.app.jobs.deliveries`). The pipeline test and the freshness benchmark send these."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx


def message_notification(api: httpx.Client, project_key: str, resource_id: str) -> dict[str, Any]:
    """The newest message about `resource_id` as a `Message` notification (`api`: a client
    of the sandbox project, as `CommercetoolsSandbox.client()` makes)."""
    response = api.get(
        "/messages",
        params={
            "where": f'resource(id="{resource_id}")',
            "sort": "sequenceNumber desc",
            "limit": "1",
        },
    )
    response.raise_for_status()
    [message] = response.json()["results"]
    return {"notificationType": "Message", "projectKey": project_key, **message}


def pubsub_push(
    notification: dict[str, Any],
    message_id: str,
    subscription: str = "projects/sandbox/subscriptions/ctsync",
) -> dict[str, Any]:
    """`notification` as Google Pub/Sub pushes it; a redelivery has another `message_id`."""
    return {
        "message": {
            "data": base64.b64encode(json.dumps(notification).encode()).decode(),
            "messageId": message_id,
            "attributes": {},
        },
        "subscription": subscription,
    }
