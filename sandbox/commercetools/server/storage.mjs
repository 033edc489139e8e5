// InMemoryStorage with the behaviour the real commercetools API has and the mock lacks:
// `sort` and `withTotal` honoured on every query, historic timestamps from
// X-Sandbox-Timestamp, money fractionDigits by currency, carts marked Ordered, and a
// hook that turns writes into Messages.
import { InMemoryStorage } from "@labdigital/commercetools-mock";
import { currentRequest } from "./context.mjs";
import { apiError, comparator, parseSort, runQuery } from "./query.mjs";

// Real API: `total` is capped at the maximum offset once a predicate filters the results.
const MAX_TOTAL_WITH_WHERE = 10_000;

// ISO-4217 minor units for the currencies a sandbox is likely to see; others default to 2.
const FRACTION_DIGITS = {
	JPY: 0,
	KRW: 0,
	ISK: 0,
	CLP: 0,
	VND: 0,
	HUF: 2,
	BHD: 3,
	KWD: 3,
	JOD: 3,
	OMR: 3,
	TND: 3,
};

// URL segment -> storage type of the resources whose DELETE requires `?version=` (RAML).
const VERSIONED_DELETE = {
	customers: "customer",
	orders: "order",
	carts: "cart",
	products: "product",
	categories: "category",
	"customer-groups": "customer-group",
	stores: "store",
	types: "type",
	"product-types": "product-type",
	payments: "payment",
	channels: "channel",
	"discount-codes": "discount-code",
	"cart-discounts": "cart-discount",
	"tax-categories": "tax-category",
	"shipping-methods": "shipping-method",
	zones: "zone",
	states: "state",
	subscriptions: "subscription",
	"shopping-lists": "shopping-list",
	inventory: "inventory-entry",
};

/** The storage type a DELETE request addresses, from /{pk}[/in-store/key=..]/{resource}/.. */
const deletedType = (path) => {
	const segments = path.split("/").filter(Boolean);
	const at = segments[1] === "in-store" ? 3 : 1;
	return VERSIONED_DELETE[segments[at]];
};

export const fractionDigitsFor = (currencyCode) => FRACTION_DIGITS[currencyCode] ?? 2;

// Timestamp fields the mock fills with the wall clock; user-supplied ones (completedAt,
// returnDate, dateOfBirth) are left alone.
const CLOCK_FIELDS = new Set(["createdAt", "lastModifiedAt", "addedAt"]);

/** Replace clock timestamps produced during this request with the requested time. */
const backdate = (value, startedAt, now, depth = 0) => {
	if (depth > 8 || value === null || typeof value !== "object") return;
	if (Array.isArray(value)) {
		for (const item of value) backdate(item, startedAt, now, depth + 1);
		return;
	}
	for (const [key, field] of Object.entries(value)) {
		if (CLOCK_FIELDS.has(key) && typeof field === "string" && field >= startedAt) {
			value[key] = now;
		} else if (field !== null && typeof field === "object") {
			backdate(field, startedAt, now, depth + 1);
		}
	}
};

/** The mock hard-codes fractionDigits 0 for cart totals; derive it from the currency. */
const fixMoney = (value, depth = 0) => {
	if (depth > 8 || value === null || typeof value !== "object") return;
	if (Array.isArray(value)) {
		for (const item of value) fixMoney(item, depth + 1);
		return;
	}
	if (
		typeof value.currencyCode === "string" &&
		typeof value.centAmount === "number" &&
		value.type === "centPrecision"
	) {
		value.fractionDigits = fractionDigitsFor(value.currencyCode);
		return;
	}
	for (const field of Object.values(value)) {
		if (field !== null && typeof field === "object") fixMoney(field, depth + 1);
	}
};

export class SandboxStorage extends InMemoryStorage {
	constructor() {
		super();
		/** Called after a resource is stored: (projectKey, typeId, resource, previous) */
		this.onWrite = null;
		/** Called before a resource is stored, may amend it: (projectKey, typeId, resource, previous) */
		this.beforeWrite = null;
		/** Called after a resource is deleted: (projectKey, typeId, resource) */
		this.onDelete = null;
		this._generations = new Map();
		this._sortedCache = new Map();
	}

	async forProjectKey(projectKey) {
		const projectStorage = await super.forProjectKey(projectKey);
		if (!projectStorage.message) {
			// StorageMap is not exported; every project storage holds instances of it.
			projectStorage.message = new projectStorage.customer.constructor();
		}
		return projectStorage;
	}

	_bump(projectKey, typeId) {
		const key = `${projectKey}\0${typeId}`;
		this._generations.set(key, (this._generations.get(key) ?? 0) + 1);
	}

	/** Stored objects (not clones) of a type; callers must not mutate them. */
	async _raw(projectKey, typeId) {
		const projectStorage = await this.forProjectKey(projectKey);
		const map = projectStorage[typeId];
		if (!map) throw new Error(`No type ${typeId}`);
		return map._map;
	}

	async _sorted(projectKey, typeId, clauses) {
		const raw = await this._raw(projectKey, typeId);
		if (clauses.length === 0) return Array.from(raw.values());
		const sortKey = clauses.map((c) => `${c.path.join(".")} ${c.desc ? "desc" : "asc"}`).join(",");
		const cacheKey = `${projectKey}\0${typeId}\0${sortKey}`;
		const generation = this._generations.get(`${projectKey}\0${typeId}`) ?? 0;
		const cached = this._sortedCache.get(cacheKey);
		if (cached && cached.generation === generation) return cached.items;
		const items = Array.from(raw.values()).sort(comparator(clauses));
		this._sortedCache.set(cacheKey, { generation, items });
		return items;
	}

	async clear() {
		await super.clear();
		this._generations.clear();
		this._sortedCache.clear();
	}

	async add(projectKey, typeId, obj, params = {}) {
		const raw = await this._raw(projectKey, typeId);
		const previous = raw.get(obj.id);
		const ctx = currentRequest();
		if (ctx && typeId !== "message") {
			if (this.beforeWrite) await this.beforeWrite(projectKey, typeId, obj, previous);
			if (ctx.now) {
				if (!previous) obj.createdAt = ctx.now;
				obj.lastModifiedAt = ctx.now;
				backdate(obj, ctx.startedAt, ctx.now);
			} else if (!previous && obj.createdAt) {
				// Created and last modified at one instant, as commercetools records a new
				// resource: the mock reads its clock for each, at times a millisecond apart
				// (and the creation message carries lastModifiedAt).
				obj.lastModifiedAt = obj.createdAt;
			}
			if (typeId === "cart" || typeId === "order") fixMoney(obj);
		}
		const result = await super.add(projectKey, typeId, obj, params);
		this._bump(projectKey, typeId);
		if (ctx && this.onWrite && typeId !== "message") {
			await this.onWrite(projectKey, typeId, raw.get(obj.id), previous);
		}
		return result;
	}

	async delete(projectKey, typeId, id, params = {}) {
		const ctx = currentRequest();
		if (ctx?.method === "DELETE" && deletedType(ctx.path) === typeId) {
			const current = (await this._raw(projectKey, typeId)).get(id);
			const requested = ctx.request.query.version;
			if (current && requested === undefined) {
				throw apiError(400, "InvalidInput", "Missing required query parameter 'version'.");
			}
			if (current && Number(requested) !== current.version) {
				throw apiError(
					409,
					"ConcurrentModification",
					`Object ${id} has a different version than expected. Expected: ${requested} - Actual: ${current.version}.`,
					{ currentVersion: current.version },
				);
			}
		}
		const result = await super.delete(projectKey, typeId, id, params);
		if (result) {
			this._bump(projectKey, typeId);
			if (currentRequest() && this.onDelete) await this.onDelete(projectKey, typeId, result);
		}
		return result;
	}

	/** Store a message as-is (messages are immutable, so no clone-on-write hooks). */
	async addMessage(projectKey, message) {
		const raw = await this._raw(projectKey, "message");
		raw.set(message.id, message);
		this._bump(projectKey, "message");
	}

	async getByKey(projectKey, typeId, key, params = {}) {
		// The mock clones every stored resource to find one key.
		const raw = await this._raw(projectKey, typeId);
		for (const resource of raw.values()) {
			if (resource.key === key) return this.get(projectKey, typeId, resource.id, params);
		}
		return null;
	}

	async query(projectKey, typeId, params) {
		const ctx = currentRequest();
		const clauses = parseSort(params.sort ?? ctx?.sort);
		const where = params.where ?? [];
		const vars = Object.fromEntries(
			Object.entries(params)
				.filter(([key]) => key.startsWith("var."))
				.map(([key, value]) => [key.slice(4), value]),
		);
		const offset = params.offset ?? 0;
		const limit = params.limit ?? 20;
		const withTotal = ctx ? ctx.withTotal : true;

		const sorted = await this._sorted(projectKey, typeId, clauses);
		const { page, total } = await runQuery({
			sorted,
			clauses,
			where,
			vars,
			offset,
			limit,
			needTotal: withTotal,
		});

		let results = page.map((resource) => structuredClone(resource));
		if (params.expand !== undefined) {
			results = await Promise.all(results.map((r) => this.expand(projectKey, r, params.expand)));
		}
		const response = { limit, offset, count: results.length };
		if (withTotal) {
			response.total = where.length > 0 ? Math.min(total, MAX_TOTAL_WITH_WHERE) : total;
		}
		response.results = results;
		return response;
	}
}
