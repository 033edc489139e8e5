"""Consent configuration checked against the Iterable project.

Every row of ``seeds/iterable_consent_rules.csv`` names an email list, channel or message
type id. ``check_consent_rules`` reads ``GET /api/lists``, ``/api/channels`` and
``/api/messageTypes`` and names every row whose id Iterable does not know, whose kind does
not match, or whose message type sits on a channel of the wrong medium. ``ctsync doctor``
reports the problems; the sync stops the subscriptions object on them (a configuration
error is never retried as transient).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctsync.core.paths import SEEDS_DIR
from ctsync.sync.iterable_client import IterableClient

RULES_PATH = SEEDS_DIR / "iterable_consent_rules.csv"
# The medium a consent attribute's channels must have (other attributes are not checked).
ATTRIBUTE_MEDIUM = {"email": "Email", "sms": "SMS"}


class ConsentConfigError(RuntimeError):
    """A consent rule names an id the Iterable project does not have (the message says which)."""


@dataclass(frozen=True)
class ConsentRule:
    line: int
    consent_attribute: str
    iterable_kind: str
    iterable_id: int
    iterable_name: str
    source_of_truth: str

    def describe(self) -> str:
        return (
            f"seeds/iterable_consent_rules.csv line {self.line} "
            f"({self.consent_attribute},{self.iterable_kind},{self.iterable_id},"
            f"{self.iterable_name},{self.source_of_truth})"
        )


def load_rules(path: Path | None = None) -> list[ConsentRule]:
    with (path or RULES_PATH).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        ConsentRule(
            line=index + 2,
            consent_attribute=row["consent_attribute"].strip(),
            iterable_kind=row["iterable_kind"].strip(),
            iterable_id=int(row["iterable_id"]),
            iterable_name=row.get("iterable_name", "").strip(),
            source_of_truth=row["source_of_truth"].strip(),
        )
        for index, row in enumerate(rows)
    ]


def _items(client: IterableClient, path: str, key: str) -> list[dict[str, Any]]:
    response = client.call(f"get_{key}", "GET", path)
    if not response.ok or not isinstance(response.body, dict):
        raise ConsentConfigError(
            f"GET {path} answered HTTP {response.status}: cannot check the consent rules"
        )
    return [item for item in response.body.get(key) or [] if isinstance(item, dict)]


def check_consent_rules(
    client: IterableClient, rules: list[ConsentRule] | None = None
) -> list[str]:
    """One message per rule Iterable would refuse (empty when all are fine)."""
    rules = load_rules() if rules is None else rules
    lists = {int(item["id"]) for item in _items(client, "/api/lists", "lists")}
    channels = {int(item["id"]): item for item in _items(client, "/api/channels", "channels")}
    message_types = {
        int(item["id"]): item for item in _items(client, "/api/messageTypes", "messageTypes")
    }
    problems = []
    for rule in rules:
        medium = ATTRIBUTE_MEDIUM.get(rule.consent_attribute)
        if rule.iterable_kind == "email_list":
            if rule.iterable_id not in lists:
                problems.append(f"{rule.describe()}: Iterable has no list {rule.iterable_id}")
        elif rule.iterable_kind == "channel":
            channel = channels.get(rule.iterable_id)
            if channel is None:
                kind = " (it is a message type)" if rule.iterable_id in message_types else ""
                problems.append(
                    f"{rule.describe()}: Iterable has no channel {rule.iterable_id}{kind}"
                )
            elif medium and channel.get("messageMedium") != medium:
                problems.append(
                    f"{rule.describe()}: channel {rule.iterable_id} is a "
                    f"{channel.get('messageMedium')} channel, not {medium}"
                )
        elif rule.iterable_kind == "message_type":
            message_type = message_types.get(rule.iterable_id)
            if message_type is None:
                kind = " (it is a channel)" if rule.iterable_id in channels else ""
                problems.append(
                    f"{rule.describe()}: Iterable has no message type {rule.iterable_id}{kind}"
                )
                continue
            channel = channels.get(int(message_type.get("channelId") or 0))
            if channel is None:
                problems.append(
                    f"{rule.describe()}: message type {rule.iterable_id} belongs to channel "
                    f"{message_type.get('channelId')}, which Iterable does not list"
                )
            elif medium and channel.get("messageMedium") != medium:
                problems.append(
                    f"{rule.describe()}: message type {rule.iterable_id} is on "
                    f"{channel.get('messageMedium')} channel {channel['id']}, not {medium}"
                )
        else:
            problems.append(f"{rule.describe()}: unknown iterable_kind {rule.iterable_kind!r}")
    return problems
