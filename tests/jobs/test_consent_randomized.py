"""Randomized consent histories over HTTP, both sandboxes (issue 10).

5 000 registered customers and 300 guest carts, each customer with a random consent history
in commercetools; rounds of random changes on both sides (commercetools opt-ins and
opt-outs through the API, recipients unsubscribing, re-subscribing, complaining and
bouncing in Iterable, another tool changing a list and a message type no rule covers,
pending double opt-ins), each followed by ingest (both sources) → dbt → sync.

After every sync:
* nobody is subscribed to a group a `commercetools` or `opt_out_wins` rule covers without a
  recorded opt-in newer than their latest opt-out (complaints and bounces: never);
* list 31 (rule `commercetools`) holds exactly the people the decision table says;
* `iterable`-owned groups change only when the person acted in Iterable;
* the list and message type no rule covers are exactly as the other tool / the recipients
  left them;
and at the end `sync --full` writes nothing.

Runtime is kept down by bulk-loading the initial shop, changing ~10 % per round, and
building only the dbt models the subscriptions need.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from ctsync.app.transform import run_dbt_build
from ctsync.core.config import IterableSettings
from ctsync.ingest.iterable.pipeline import run_iterable_ingest
from ctsync.ingest.pipeline import run_ingest
from ctsync.sandbox.commercetools.launcher import CommercetoolsSandbox
from ctsync.sandbox.commercetools.seed_catalog import customer_type_draft
from ctsync.sandbox.iterable.emulator import IterableEmulator
from ctsync.sync.engine import run_sync

pytestmark = pytest.mark.slow

CUSTOMERS = 5000
GUESTS = 300
ROUNDS = 2
SEED = 20260101
EMAIL_GROUPS = {
    ("list", 31): "commercetools",
    ("channel", 11): "opt_out_wins",
    ("mt", 22): "iterable",
}
SMS_GROUPS = {("channel", 13): "opt_out_wins", ("mt", 23): "iterable"}
RULE = {**EMAIL_GROUPS, **SMS_GROUPS}
ATTRIBUTE = {**{g: "email" for g in EMAIL_GROUPS}, **{g: "sms" for g in SMS_GROUPS}}
EVENT_ARRAY = {"list": "emailListIds", "channel": "channelIds", "mt": "messageTypeIds"}
OTHER_MESSAGE_TYPE = 26  # on channel 11, no rule covers it
SELECT = ["+iterable__subscriptions_changes", "audit__consent_decisions"]
DBT_VARS = {"consent_double_opt_in_attributes": ["email"]}
NO_TESTS = ["resource_type:test", "resource_type:unit_test"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def _sec(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")


class Consent:
    """One customer's consent in commercetools, as the test set it."""

    def __init__(self) -> None:
        self.fields: dict[str, dict[str, datetime | bool | None]] = {
            "email": {"flag": None, "in": None, "out": None, "confirmed": None},
            "sms": {"flag": None, "in": None, "out": None, "confirmed": None},
        }

    def custom_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attribute, state in self.fields.items():
            for key, name in (
                ("flag", "OptIn"),
                ("in", "OptInAt"),
                ("out", "OptOutAt"),
                ("confirmed", "OptInConfirmedAt"),
            ):
                value = state[key]
                if value is not None:
                    out[attribute + name] = value if key == "flag" else _iso(value)  # type: ignore[arg-type]
        return out

    def recorded_in(self, attribute: str) -> datetime | None:
        state = self.fields[attribute]
        if not state["flag"] or state["in"] is None:
            return None
        if attribute == "email" and state["confirmed"] is None:
            return None  # pending double opt-in
        return _sec(state["in"])  # type: ignore[arg-type]

    def opt_out(self, attribute: str) -> datetime | None:
        state = self.fields[attribute]
        if state["out"] is not None:
            return _sec(state["out"])  # type: ignore[arg-type]
        if not state["flag"] and state["in"] is not None:
            return _sec(state["in"])  # type: ignore[arg-type]
        return None


def _initial(rng: random.Random, now: datetime) -> Consent:
    consent = Consent()
    for attribute, opted_in in (("email", 0.5), ("sms", 0.3)):
        state = consent.fields[attribute]
        roll = rng.random()
        first = now - timedelta(days=rng.randint(30, 700), seconds=rng.randint(0, 86_000))
        if roll < opted_in:
            state.update(flag=True, **{"in": first})
            if attribute == "email" and rng.random() < 0.9:
                state["confirmed"] = first + timedelta(hours=1)
            if rng.random() < 0.2:
                state["out"] = first - timedelta(days=rng.randint(1, 20))
        elif roll < opted_in + 0.2:
            state.update(
                flag=False, out=first, **{"in": first - timedelta(days=rng.randint(1, 90))}
            )
        elif roll < opted_in + 0.25:
            state["flag"] = True  # a flag without a recorded time
    return consent


class World:
    def __init__(
        self,
        ct: CommercetoolsSandbox,
        emu: IterableEmulator,
        warehouse: Path,
        rng: random.Random,
    ) -> None:
        self.ct = ct
        self.emu = emu
        self.warehouse = warehouse
        self.rng = rng
        self.consent: dict[str, Consent] = {}
        self.guests: list[str] = []
        self.vip_list = 0
        self.vip: set[str] = set()  # person keys on the VIP list (set by "another tool")
        self.other_type_off: set[str] = set()  # unsubscribed from message type 26
        self.iterable_owned_before: dict[tuple[str, tuple[str, int]], bool] = {}
        self.pending: list[tuple[Any, ...]] = []
        self.built = False
        self.settings = IterableSettings(
            api_key=emu.api_key, api_url=emu.api_url, project_type="hybrid", rate_scale=1000.0
        )

    # -- the pipeline ------------------------------------------------------------------

    def pipeline(self, full: bool = False) -> Any:
        run_ingest(warehouse=self.warehouse, resources=["customers", "carts", "types"])
        run_iterable_ingest(self.warehouse, settings=self.settings)
        # seeds and tests once; later rounds run the models only
        built = run_dbt_build(
            warehouse=self.warehouse,
            select=SELECT,
            exclude=NO_TESTS,
            vars=DBT_VARS,
            command="run" if self.built else "build",
        )
        self.built = True
        assert built.success, [p.message for p in built.failures][:3]
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            self.pending = con.execute(
                "select d.record_key, d.decision_reason, d.is_subscribed, "
                "d.is_subscribed_in_iterable, d.read_back_at, d.iterable_opt_in_at, "
                "d.iterable_opt_out_at, d.commercetools_opt_in_at, d.commercetools_opt_out_at "
                ", c.payload, l.acknowledged_at, l.payload, "
                "(select list(endpoint || '@' || cast(attempted_at as varchar)) "
                " from ctsync.sync_changelog g where g.record_key = c.record_key) "
                "from iterable.iterable__subscriptions c "
                "inner join audit.audit__consent_decisions d on d.record_key = c.record_key "
                "left join ctsync.sync_ledger l on l.object = 'subscriptions' "
                "and l.record_key = c.record_key "
                "limit 5"
            ).fetchall()
        result = run_sync(
            self.settings, self.warehouse, objects=["subscriptions"], full=full, progress=False
        )
        assert result.status == "succeeded", result.error_message
        return result

    # -- Iterable as it is now --------------------------------------------------------

    def held(self) -> dict[str, dict[str, Any]]:
        people = {}
        for user in self.emu.users():
            key = user.get("userId") or user["email"].lower()
            people[key] = user["dataFields"]
        return people

    def recipient_choices(self) -> dict[tuple[str, tuple[str, int]], dict[str, list[datetime]]]:
        choices: dict[tuple[str, tuple[str, int]], dict[str, list[datetime]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for event in self.emu.consent_events():
            source = event.get("unsubSource") or event.get("signupSource")
            if source == "API":
                continue  # ctsync's own writes (and the other tool's list changes)
            person = event.get("userId") or event["email"].lower()
            when = _parse(event["createdAt"])
            kind = event["eventType"]
            for group in RULE:
                if kind in ("emailComplaint", "emailBounce"):
                    if ATTRIBUTE[group] == "email":
                        choices[(person, group)]["final"].append(when)
                    continue
                named = event.get(EVENT_ARRAY[group[0]]) or []
                if group[1] not in named:
                    continue
                if kind == "emailSubscribe":
                    choices[(person, group)]["in"].append(when)
                elif kind == "emailUnSubscribe":
                    choices[(person, group)]["out"].append(when)
        return choices

    # -- the checks --------------------------------------------------------------------

    def check(self) -> None:
        held = self.held()
        choices = self.recipient_choices()
        people = [(c, self.consent[c]) for c in self.consent] + [(g, None) for g in self.guests]
        violations: list[str] = []
        on_list_expected: set[str] = set()
        for person, consent in people:
            data = held.get(person)
            for group, rule in RULE.items():
                mine = choices.get((person, group), {})
                iterable_in = max(mine.get("in", []), default=None)
                iterable_out = max(mine.get("out", []), default=None)
                final = bool(mine.get("final"))
                attribute = ATTRIBUTE[group]
                ct_in = consent.recorded_in(attribute) if consent else None
                ct_out = consent.opt_out(attribute) if consent else None
                if group == ("list", 31) and consent is not None:
                    if ct_in and not final and (iterable_out is None or ct_in > iterable_out):
                        on_list_expected.add(person)
                if data is None:
                    continue
                subscribed = _is_subscribed(data, group)
                if rule == "iterable":
                    before = self.iterable_owned_before.get((person, group))
                    if before is not None and before != subscribed and not mine:
                        violations.append(f"{person} {group}: iterable-owned group changed")
                    self.iterable_owned_before[(person, group)] = subscribed
                    continue
                if not subscribed:
                    continue
                if final:
                    violations.append(f"{person} {group}: subscribed after a complaint/bounce")
                    continue
                outs = [t for t in (ct_out, iterable_out) if t is not None]
                latest_out = max(outs, default=None)
                ins = [ct_in] if rule == "commercetools" else [ct_in, iterable_in]
                if rule == "commercetools" and consent is not None and ct_in is None:
                    violations.append(f"{person} {group}: subscribed, commercetools says no")
                    continue
                if not any(i is not None and (latest_out is None or i > latest_out) for i in ins):
                    violations.append(
                        f"{person} {group}: subscribed without an opt-in newer than {latest_out}"
                    )
        on_list = {p for p, data in held.items() if 31 in (data.get("userListIds") or [])}
        registered_on_list = on_list & set(self.consent)
        missing = sorted(on_list_expected - registered_on_list)[:5]
        extra = sorted(registered_on_list - on_list_expected)[:5]
        assert not missing and not extra, f"list 31: missing {missing}, unexpected {extra}"
        assert not violations, f"{len(violations)} violation(s), e.g. {violations[:5]}"
        # what no rule covers is exactly as the other tool and the recipients left it
        vip_now = {
            p for p, data in held.items() if self.vip_list in (data.get("userListIds") or [])
        }
        assert vip_now == self.vip
        off_now = {
            p
            for p, data in held.items()
            if OTHER_MESSAGE_TYPE in (data.get("unsubscribedMessageTypeIds") or [])
        }
        assert off_now == self.other_type_off

    # -- changes -------------------------------------------------------------------------

    def change_commercetools(self, fraction: float) -> None:
        now = datetime.now(UTC)
        chosen = self.rng.sample(sorted(self.consent), int(len(self.consent) * fraction))
        plans = []
        for customer_id in chosen:
            attribute = "email" if self.rng.random() < 0.7 else "sms"
            state = self.consent[customer_id].fields[attribute]
            if state["flag"]:
                state.update(flag=False, out=now)
            else:
                state.update(flag=True, **{"in": now})
                if attribute == "email":
                    state["confirmed"] = now if self.rng.random() < 0.85 else None
            plans.append((customer_id, attribute))

        def update(plan: tuple[str, str]) -> None:
            customer_id, attribute = plan
            prefix = attribute
            fields = self.consent[customer_id].custom_fields()
            with self.ct.client() as client:
                customer = client.get(f"/customers/{customer_id}").json()
                current = customer["custom"]["fields"]
                actions: list[dict[str, Any]] = []
                for name in ("OptIn", "OptInAt", "OptOutAt", "OptInConfirmedAt"):
                    field = prefix + name
                    if fields.get(field) is not None:
                        actions.append(
                            {"action": "setCustomField", "name": field, "value": fields[field]}
                        )
                    elif field in current:  # unset: remove it
                        actions.append({"action": "setCustomField", "name": field})
                response = client.post(
                    f"/customers/{customer_id}",
                    json={"version": customer["version"], "actions": actions},
                )
                assert response.status_code == 200, response.text

        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(update, plans))

    def change_iterable(self, fraction: float) -> None:
        held = sorted(self.held())
        rng = self.rng
        groups = [("listId", 31), ("channelId", 11), ("messageTypeId", 22), ("channelId", 13)]
        for person in rng.sample(held, int(len(held) * fraction)):
            who = {"email": person} if "@" in person else {"userId": person}
            roll = rng.random()
            if roll < 0.55:
                key, value = rng.choice(groups)
                self.emu.recipient("unsubscribe", **who, **{key: value})
            elif roll < 0.85:
                key, value = rng.choice(groups)
                self.emu.recipient("subscribe", **who, **{key: value})
            elif roll < 0.92:
                self.emu.recipient("complaint", **who)
            else:
                self.emu.recipient("hard_bounce", **who)
        for person in rng.sample(held, int(len(held) * fraction / 2)):
            who = {"email": person} if "@" in person else {"userId": person}
            if rng.random() < 0.5:
                action = "unsubscribe" if person in self.vip else "subscribe"
                response = httpx.post(
                    f"{self.emu.api_url}/api/lists/{action}",
                    json={"listId": self.vip_list, "subscribers": [who]},
                    headers={"Api-Key": self.emu.api_key},
                )
                assert response.status_code == 200
                (self.vip.discard if action == "unsubscribe" else self.vip.add)(person)
            else:
                action = "subscribe" if person in self.other_type_off else "unsubscribe"
                self.emu.recipient(action, **who, messageTypeId=OTHER_MESSAGE_TYPE)
                (self.other_type_off.discard if action == "subscribe" else self.other_type_off.add)(
                    person
                )


def _is_subscribed(data: dict[str, Any], group: tuple[str, int]) -> bool:
    kind, group_id = group
    if kind == "list":
        return group_id in (data.get("userListIds") or [])
    if kind == "channel":
        return group_id not in (data.get("unsubscribedChannelIds") or [])
    return group_id not in (data.get("unsubscribedMessageTypeIds") or [])


def _load_shop(world: World, rng: random.Random) -> None:
    ct = world.ct
    draft = customer_type_draft()
    for name, kind in (
        ("emailOptInConfirmedAt", "DateTime"),
        ("smsOptOutAt", "DateTime"),
    ):
        draft["fieldDefinitions"].append(
            {
                "name": name,
                "label": {"en": name},
                "required": False,
                "type": {"name": kind},
                "inputHint": "SingleLine",
            }
        )
    with ct.client() as client:
        response = client.post("/types", json=draft)
        assert response.status_code in (200, 201), response.text
        type_id = response.json()["id"]
    now = datetime.now(UTC)
    customers = []
    for index in range(CUSTOMERS):
        customer_id = f"00000000-0000-4000-8000-{index:012d}"
        consent = _initial(rng, now)
        world.consent[customer_id] = consent
        customers.append(
            {
                "id": customer_id,
                "email": f"person{index}@example.com",
                "isEmailVerified": True,
                "customerNumber": f"C{index:05d}",
                "addresses": [],
                "custom": {
                    "type": {"typeId": "type", "id": type_id},
                    "fields": consent.custom_fields(),
                },
            }
        )
    ct.bulk_load("customer", customers)
    carts = []
    for index in range(GUESTS):
        email = f"guest{index}@example.com"
        world.guests.append(email)
        carts.append(
            {
                "id": f"10000000-0000-4000-8000-{index:012d}",
                "customerEmail": email,
                "cartState": "Active",
                "lineItems": [],
                "customLineItems": [],
                "totalPrice": {
                    "type": "centPrecision",
                    "currencyCode": "EUR",
                    "centAmount": 0,
                    "fractionDigits": 2,
                },
                "taxMode": "Platform",
                "inventoryMode": "None",
                "origin": "Customer",
            }
        )
    ct.bulk_load("cart", carts)


def test_consent_histories_never_subscribe_anyone_without_a_newer_opt_in(
    commercetools_sandbox: CommercetoolsSandbox,
    iterable_emulator: IterableEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ct, emu = commercetools_sandbox, iterable_emulator
    ct.reset()
    emu.reset(project_type="hybrid", rate_scale=math.inf)
    for name, value in {**ct.env(), **emu.env()}.items():
        monkeypatch.setenv(name, value)
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CTSYNC_WAREHOUSE", str(warehouse))
    rng = random.Random(SEED)
    world = World(ct, emu, warehouse, rng)
    emu.add_message_type(11, "OptOut", name="Partner offers", id=OTHER_MESSAGE_TYPE)
    world.vip_list = httpx.post(
        f"{emu.api_url}/api/lists", json={"name": "VIP"}, headers={"Api-Key": emu.api_key}
    ).json()["listId"]
    _load_shop(world, rng)
    try:
        first = world.pipeline()
        assert first.objects["subscriptions"].succeeded > CUSTOMERS / 2
        world.check()
        for _ in range(ROUNDS):
            world.change_iterable(0.08)
            world.change_commercetools(0.08)
            world.pipeline()
            world.check()
        # nothing changed since: a full resync writes nothing
        full = world.pipeline(full=True)
        assert full.objects["subscriptions"].sent == 0, world.pending
        world.check()
    finally:
        ct.reset()
