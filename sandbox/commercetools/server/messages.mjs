// Messages (GET /{projectKey}/messages) generated from the mock's own writes.
//
// Shapes follow the commercetools Message types (platform-sdk message.d.ts): base fields
// id, version 1, sequenceNumber (per resource, consecutive from 1), resource,
// resourceVersion, resourceUserProvidedIdentifiers, type, createdAt = lastModifiedAt,
// createdBy/lastModifiedBy, plus each type's payload fields.
//
// Creates and deletes are seen at the storage layer. Update actions are wrapped one by
// one, so every action that changed the resource yields its messages with the
// resourceVersion it produced (the mock bumps the version once per effective action);
// they are kept pending and only stored when the updated resource is saved, so a
// rejected update (e.g. a version conflict) produces no messages.
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { currentRequest } from "./context.mjs";

const clone = (value) => (value === undefined ? undefined : structuredClone(value));

const changed = (before, after, field) => !isDeepStrictEqual(before[field], after[field]);

/** Drop undefined fields so optional payload fields are absent rather than null. */
const compact = (payload) =>
	Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));

const maskCustomer = (customer) => {
	const copy = clone(customer);
	if (copy.password) copy.password = "****";
	delete copy.lowercaseEmail;
	return copy;
};

const userProvidedIdentifiers = (typeId, resource) => {
	const ids = compact({
		key: resource.key,
		externalId: typeId === "customer" ? resource.externalId : undefined,
		orderNumber: typeId === "order" ? resource.orderNumber : undefined,
		customerNumber: typeId === "customer" ? resource.customerNumber : undefined,
	});
	return Object.keys(ids).length > 0 ? ids : undefined;
};

/** Custom type and custom field changes: <Prefix>CustomTypeSet/Removed, CustomField*. */
const customMessages = (prefix, before, after) => {
	const oldCustom = before.custom;
	const newCustom = after.custom;
	if (isDeepStrictEqual(oldCustom, newCustom)) return [];
	const oldType = oldCustom?.type?.id;
	const newType = newCustom?.type?.id;
	if (oldType !== newType || !oldCustom || !newCustom) {
		if (!newCustom) {
			return [{ type: `${prefix}CustomTypeRemoved`, ...compact({ previousTypeId: oldType }) }];
		}
		return [
			{
				type: `${prefix}CustomTypeSet`,
				customFields: clone(newCustom),
				...compact({ previousTypeId: oldType }),
			},
		];
	}
	const out = [];
	const oldFields = oldCustom.fields ?? {};
	const newFields = newCustom.fields ?? {};
	for (const [name, value] of Object.entries(newFields)) {
		if (!(name in oldFields)) {
			out.push({ type: `${prefix}CustomFieldAdded`, name, value: clone(value) });
		} else if (!isDeepStrictEqual(oldFields[name], value)) {
			out.push({
				type: `${prefix}CustomFieldChanged`,
				name,
				value: clone(value),
				previousValue: clone(oldFields[name]),
			});
		}
	}
	for (const name of Object.keys(oldFields)) {
		if (!(name in newFields)) out.push({ type: `${prefix}CustomFieldRemoved`, name });
	}
	return out;
};

const addressRoles = (customer, addressId) => {
	const roles = [];
	if ((customer.billingAddressIds ?? []).includes(addressId)) roles.push("Billing");
	if ((customer.shippingAddressIds ?? []).includes(addressId)) roles.push("Shipping");
	return roles;
};

const customerActionMessages = (before, after) => {
	const out = [];
	if (changed(before, after, "email")) {
		out.push({ type: "CustomerEmailChanged", email: after.email, oldEmail: before.email });
	}
	if (!before.isEmailVerified && after.isEmailVerified) out.push({ type: "CustomerEmailVerified" });
	const simpleSets = [
		["firstName", "CustomerFirstNameSet"],
		["lastName", "CustomerLastNameSet"],
		["title", "CustomerTitleSet"],
		["dateOfBirth", "CustomerDateOfBirthSet"],
		["companyName", "CustomerCompanyNameSet"],
		["externalId", "CustomerExternalIdSet"],
	];
	for (const [field, type] of simpleSets) {
		if (changed(before, after, field)) out.push({ type, ...compact({ [field]: after[field] }) });
	}
	if (changed(before, after, "customerGroup")) {
		out.push({ type: "CustomerGroupSet", ...compact({ customerGroup: clone(after.customerGroup) }) });
	}
	if (changed(before, after, "stores")) {
		out.push({
			type: "CustomerStoresSet",
			stores: clone(after.stores ?? []),
			oldStores: clone(before.stores ?? []),
		});
	}
	if (changed(before, after, "password") && before.password !== undefined) {
		out.push({ type: "CustomerPasswordUpdated", reset: false });
	}
	const oldAddresses = new Map((before.addresses ?? []).map((a) => [a.id, a]));
	const newAddresses = new Map((after.addresses ?? []).map((a) => [a.id, a]));
	for (const [id, address] of newAddresses) {
		if (!oldAddresses.has(id)) {
			out.push({ type: "CustomerAddressAdded", address: clone(address) });
		} else if (!isDeepStrictEqual(oldAddresses.get(id), address)) {
			out.push({
				type: "CustomerAddressChanged",
				address: clone(address),
				addressRoles: addressRoles(after, id),
			});
		}
	}
	for (const [id, address] of oldAddresses) {
		if (!newAddresses.has(id)) {
			out.push({
				type: "CustomerAddressRemoved",
				address: clone(address),
				addressRoles: addressRoles(before, id),
			});
		}
	}
	if (changed(before, after, "defaultShippingAddressId")) {
		const address = newAddresses.get(after.defaultShippingAddressId);
		out.push({ type: "CustomerDefaultShippingAddressSet", ...compact({ address: clone(address) }) });
	}
	if (changed(before, after, "defaultBillingAddressId")) {
		const address = newAddresses.get(after.defaultBillingAddressId);
		out.push({ type: "CustomerDefaultBillingAddressSet", ...compact({ address: clone(address) }) });
	}
	out.push(...customMessages("Customer", before, after));
	return out;
};

const returnItems = (order) =>
	new Map((order.returnInfo ?? []).flatMap((info) => info.items ?? []).map((i) => [i.id, i]));

const orderActionMessages = (before, after, action) => {
	const out = [];
	const states = [
		["orderState", "OrderStateChanged", "oldOrderState"],
		["shipmentState", "OrderShipmentStateChanged", "oldShipmentState"],
		["paymentState", "OrderPaymentStateChanged", "oldPaymentState"],
	];
	for (const [field, type, oldField] of states) {
		if (changed(before, after, field)) {
			out.push({ type, [field]: after[field], ...compact({ [oldField]: before[field] }) });
		}
	}
	if (changed(before, after, "returnInfo")) {
		const oldInfos = before.returnInfo ?? [];
		const newInfos = after.returnInfo ?? [];
		if (action.action === "addReturnInfo" && newInfos.length === oldInfos.length + 1) {
			out.push({ type: "ReturnInfoAdded", returnInfo: clone(newInfos[newInfos.length - 1]) });
		} else if (action.action === "setReturnInfo") {
			out.push({ type: "ReturnInfoSet", returnInfo: clone(newInfos) });
		} else {
			const oldItems = returnItems(before);
			for (const [id, item] of returnItems(after)) {
				const old = oldItems.get(id);
				if (old && old.shipmentState !== item.shipmentState) {
					out.push({
						type: "OrderReturnShipmentStateChanged",
						returnItemId: id,
						returnShipmentState: item.shipmentState,
					});
				}
			}
		}
	}
	if (changed(before, after, "customerEmail")) {
		out.push({
			type: "OrderCustomerEmailSet",
			...compact({ email: after.customerEmail, oldEmail: before.customerEmail }),
		});
	}
	if (changed(before, after, "customerId") || changed(before, after, "customerGroup")) {
		const ref = (id) => (id ? { typeId: "customer", id } : undefined);
		out.push({
			type: "OrderCustomerSet",
			...compact({
				customer: ref(after.customerId),
				customerGroup: clone(after.customerGroup),
				oldCustomer: ref(before.customerId),
				oldCustomerGroup: clone(before.customerGroup),
			}),
		});
	}
	if (changed(before, after, "store")) {
		out.push({ type: "OrderStoreSet", ...compact({ store: clone(after.store) }) });
	}
	if (changed(before, after, "billingAddress")) {
		out.push({
			type: "OrderBillingAddressSet",
			...compact({ address: clone(after.billingAddress), oldAddress: clone(before.billingAddress) }),
		});
	}
	if (changed(before, after, "shippingAddress")) {
		out.push({
			type: "OrderShippingAddressSet",
			...compact({ address: clone(after.shippingAddress), oldAddress: clone(before.shippingAddress) }),
		});
	}
	out.push(...customMessages("Order", before, after));
	return out;
};

const ACTION_MESSAGES = { customer: customerActionMessages, order: orderActionMessages };

const CREATED = {
	customer: (resource) => ({ type: "CustomerCreated", customer: maskCustomer(resource) }),
	order: (resource, ctx) =>
		ctx.path.endsWith("/orders/import")
			? { type: "OrderImported", order: clone(resource) }
			: { type: "OrderCreated", order: clone(resource) },
};

const DELETED = {
	customer: (resource) => ({ type: "CustomerDeleted", ...compact({ email: resource.email }) }),
	order: (resource) => ({ type: "OrderDeleted", order: clone(resource) }),
};

export class MessageRecorder {
	/** @param {import("./storage.mjs").SandboxStorage} storage */
	constructor(storage) {
		this.storage = storage;
		this.sequences = new Map();
		storage.onWrite = this.onWrite.bind(this);
		storage.onDelete = this.onDelete.bind(this);
	}

	clear() {
		this.sequences.clear();
	}

	/**
	 * Wrap the update-action handlers of the repositories that emit messages.
	 * `afterAction(typeId, resource)` may correct the resource after each action, before
	 * the change is turned into messages.
	 */
	instrument(repositories, { afterAction = () => {} } = {}) {
		for (const typeId of Object.keys(ACTION_MESSAGES)) {
			const handler = repositories[typeId]?.actions;
			if (!handler) throw new Error(`commercetools-mock has no ${typeId} update actions`);
			for (const name of actionNames(handler)) {
				const original = handler[name];
				const diff = ACTION_MESSAGES[typeId];
				handler[name] = async function wrapped(context, resource, action) {
					const before = structuredClone(resource);
					await original.call(this, context, resource, action);
					afterAction(typeId, resource);
					const ctx = currentRequest();
					if (!ctx || isDeepStrictEqual(before, resource)) return;
					const payloads = diff(before, resource, action);
					if (payloads.length === 0) return;
					const pending = ctx.pendingMessages.get(resource.id) ?? [];
					// apply() increments the version after this action returns.
					for (const payload of payloads) pending.push({ payload, resourceVersion: before.version + 1 });
					ctx.pendingMessages.set(resource.id, pending);
				};
			}
		}
	}

	async onWrite(projectKey, typeId, resource, previous) {
		const ctx = currentRequest();
		if (!ctx || !(typeId in ACTION_MESSAGES)) return;
		// A write's messages carry the time the resource records for that write.
		const at = resource.lastModifiedAt;
		if (!previous) {
			await this.emit(projectKey, typeId, resource, CREATED[typeId](resource, ctx), resource.version, at);
		}
		const pending = ctx.pendingMessages.get(resource.id);
		if (pending) {
			ctx.pendingMessages.delete(resource.id);
			for (const { payload, resourceVersion } of pending) {
				await this.emit(projectKey, typeId, resource, payload, resourceVersion, at);
			}
		}
	}

	async onDelete(projectKey, typeId, resource) {
		if (!(typeId in DELETED)) return;
		await this.emit(projectKey, typeId, resource, DELETED[typeId](resource), resource.version);
	}

	/** Messages a bulk-loaded resource would have produced when it was created. */
	async emitCreated(projectKey, typeId, resource) {
		if (!(typeId in CREATED)) return;
		const payload = CREATED[typeId](resource, { path: "" });
		await this.emit(projectKey, typeId, resource, payload, resource.version, resource.createdAt);
	}

	async emit(projectKey, typeId, resource, payload, resourceVersion, at = undefined) {
		// Like the API, a project with messages disabled records none.
		const project = await this.storage.getProject(projectKey);
		if (!project.messages?.enabled) return;
		const ctx = currentRequest();
		const now = at ?? ctx?.now ?? new Date().toISOString();
		const seqKey = `${projectKey}\0${resource.id}`;
		const sequenceNumber = (this.sequences.get(seqKey) ?? 0) + 1;
		this.sequences.set(seqKey, sequenceNumber);
		const by = compact({
			clientId: ctx?.request?.credentials?.clientId || undefined,
			isPlatformClient: false,
		});
		const { type, ...fields } = payload;
		const message = compact({
			id: randomUUID(),
			version: 1,
			sequenceNumber,
			resource: { typeId, id: resource.id },
			resourceVersion,
			resourceUserProvidedIdentifiers: userProvidedIdentifiers(typeId, resource),
			type,
			...fields,
			createdAt: now,
			lastModifiedAt: now,
			createdBy: by,
			lastModifiedBy: by,
		});
		await this.storage.addMessage(projectKey, message);
	}
}

/** Update-action method names of a handler (its class and superclasses, minus plumbing). */
const actionNames = (handler) => {
	const names = new Set();
	for (let proto = Object.getPrototypeOf(handler); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
		for (const name of Object.getOwnPropertyNames(proto)) {
			if (name === "constructor" || name === "apply" || name === "beforeAction" || name.startsWith("_")) continue;
			if (typeof handler[name] === "function") names.add(name);
		}
	}
	return names;
};
