// Assembles the sandbox: the commercetools mock plus the corrections and extras that make
// it behave like the real API for ctsync (see sandbox/commercetools/server/README.md).
import { randomUUID, timingSafeEqual } from "node:crypto";
import { CommercetoolsMock } from "@labdigital/commercetools-mock";
import { currentRequest, requestContext } from "./context.mjs";
import { Faults, FaultConfigError, Stats } from "./faults.mjs";
import { MessageRecorder } from "./messages.mjs";
import { apiError, canonicalDatetime } from "./query.mjs";
import { grantedScopes, scopeError } from "./scopes.mjs";
import { SandboxStorage } from "./storage.mjs";

export const MAX_LIMIT = 500;
export const MAX_OFFSET = 10_000;

const ADMIN_PREFIX = "/_sandbox";

// Draft fields the mock drops when it creates a resource; the real API keeps them.
// `refs` are ResourceIdentifiers the API stores as references ({typeId, id}).
const DROPPED_ON_CREATE = {
	customer: {
		path: /\/customers$/,
		fields: ["locale", "salutation", "vatId"],
		refs: ["customerGroup"],
	},
	cart: {
		path: /\/carts$/,
		fields: ["key", "deleteDaysAfterLastModification"],
		refs: ["customerGroup"],
	},
	order: {
		path: /\/orders\/import$/,
		fields: [
			"completedAt",
			"shipmentState",
			"country",
			"inventoryMode",
			"taxRoundingMode",
			"taxCalculationMode",
			"itemShippingAddresses",
			"paymentInfo",
			"state",
		],
		refs: ["customerGroup"],
	},
};

// Fields unique per resource type on the real API. The mock checks only customer e-mails.
const UNIQUE_ON_CREATE = { order: ["orderNumber", "key"], customer: ["key", "customerNumber"] };
const NOT_UNIQUE_KEY = new Set(["key-value-document", "message"]);

const errorBody = (statusCode, code, message, extra = {}) => ({
	statusCode,
	message,
	errors: [{ code, message }],
	...extra,
});

const invalidInput = (message) => errorBody(400, "InvalidInput", message);

const single = (value) => (Array.isArray(value) ? value[value.length - 1] : value);

const list = (value) => {
	if (value === undefined || value === null) return undefined;
	return (Array.isArray(value) ? value : [value]).map(String);
};

const safeEqual = (a, b) => {
	const left = Buffer.from(String(a));
	const right = Buffer.from(String(b));
	return left.length === right.length && timingSafeEqual(left, right);
};

const parseBasic = (header) => {
	const match = /^Basic\s+(\S+)\s*$/i.exec(header ?? "");
	if (!match) return null;
	const decoded = Buffer.from(match[1], "base64").toString("utf8");
	const colon = decoded.indexOf(":");
	if (colon < 0) return null;
	return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
};

const bearerToken = (header) => {
	const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
	return match ? match[1] : null;
};

/**
 * Check paging parameters as the real API does and return the request's query settings,
 * or {error} with the commercetools error body.
 */
const readQuerySettings = (query) => {
	const limit = single(query.limit);
	if (limit !== undefined) {
		const n = Number(limit);
		if (!/^\d+$/.test(String(limit)) || n > MAX_LIMIT) {
			return {
				error: invalidInput(
					`Malformed parameter: limit: The limit parameter must be in the range of [0..${MAX_LIMIT}], got '${limit}'.`,
				),
			};
		}
	}
	const offset = single(query.offset);
	if (offset !== undefined) {
		const n = Number(offset);
		if (!/^\d+$/.test(String(offset)) || n > MAX_OFFSET) {
			return {
				error: invalidInput(
					`Malformed parameter: offset: The offset parameter must be in the range of [0..${MAX_OFFSET}], got '${offset}'.`,
				),
			};
		}
	}
	const withTotalRaw = single(query.withTotal);
	let withTotal = true;
	if (withTotalRaw !== undefined) {
		const text = String(withTotalRaw).toLowerCase();
		if (text !== "true" && text !== "false") {
			return {
				error: invalidInput(
					`Malformed parameter: withTotal: expected 'true' or 'false', got '${withTotalRaw}'.`,
				),
			};
		}
		withTotal = text === "true";
	}
	const sort = list(query.sort);
	for (const clause of sort ?? []) {
		if (!/^\s*[A-Za-z_][\w.]*(\s+(asc|desc))?\s*$/i.test(clause)) {
			return {
				error: invalidInput(
					`Malformed parameter: sort: '${clause}' is not '<field> asc' or '<field> desc'.`,
				),
			};
		}
	}
	return { sort, withTotal };
};

const readTimestamp = (header) => {
	if (header === undefined) return { now: null };
	const value = single(header);
	const parsed = new Date(value);
	if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(parsed.getTime())) {
		return {
			error: invalidInput(
				`Header X-Sandbox-Timestamp must be an ISO-8601 date-time such as 2024-05-01T12:00:00.000Z, got '${value}'.`,
			),
		};
	}
	return { now: parsed.toISOString() };
};

/**
 * The mock builds return items from its generic resource base (version, createdBy,
 * lastModifiedBy); a ReturnItem has none of those. Runs after every order update action.
 */
const cleanReturnItems = (typeId, resource) => {
	if (typeId !== "order") return;
	for (const info of resource.returnInfo ?? []) {
		for (const item of info.items ?? []) {
			delete item.version;
			delete item.createdBy;
			delete item.lastModifiedBy;
		}
	}
};

/**
 * The mock stores a `lowercaseEmail` on customers for its e-mail lookups; the API has no
 * such field, so keep it in storage but out of responses.
 */
const hideInternalCustomerField = (repositories) => {
	for (const name of ["customer", "my-customer"]) {
		const repository = repositories[name];
		if (!repository) continue;
		const original = repository.postProcessResource.bind(repository);
		repository.postProcessResource = async (...args) => {
			const resource = await original(...args);
			if (resource && typeof resource === "object") delete resource.lowercaseEmail;
			return resource;
		};
	}
};

/**
 * Build the sandbox. Returns the Fastify app (not yet listening) and its parts.
 *
 * @param {object} options
 * @param {string} options.projectKey
 * @param {string | undefined} options.clientId      when set with clientSecret, /oauth/token only accepts these credentials
 * @param {string | undefined} options.clientSecret
 * @param {object} [options.faults]                  initial fault configuration
 */
export const createSandbox = async ({ projectKey, clientId, clientSecret, faults: initialFaults = {} }) => {
	const storage = new SandboxStorage();
	const ctMock = new CommercetoolsMock({
		defaultProjectKey: projectKey,
		enableAuthentication: true,
		validateCredentials: true,
		silent: true,
		storage,
	});
	const recorder = new MessageRecorder(storage);
	// The mock keeps its repositories and OAuth server in fields TypeScript calls private;
	// they are ordinary properties at runtime and the only way to hook update actions.
	recorder.instrument(ctMock._repositories, { afterAction: cleanReturnItems });
	hideInternalCustomerField(ctMock._repositories);
	const oauth = ctMock._oauth2;
	const faults = new Faults(initialFaults);
	const stats = new Stats();
	const tokenIssuedAt = new Map();
	const tokenScopes = new Map();
	const app = ctMock.app;

	const enableMessages = async () => {
		const project = await storage.getProject(projectKey);
		project.messages = { ...project.messages, enabled: true };
		await storage.saveProject(project);
	};
	await enableMessages();

	const recordWrite = storage.onWrite;
	storage.beforeWrite = async (pk, typeId, resource, previous) => {
		const ctx = currentRequest();
		if (!previous && !NOT_UNIQUE_KEY.has(typeId)) {
			for (const field of UNIQUE_ON_CREATE[typeId] ?? ["key"]) {
				const value = resource[field];
				if (value === undefined || value === null) continue;
				for (const other of (await storage._raw(pk, typeId)).values()) {
					if (other[field] === value) {
						throw apiError(
							400,
							"DuplicateField",
							`A duplicate value '${JSON.stringify(value)}' exists for field '${field}'.`,
							{ field, duplicateValue: value },
						);
					}
				}
			}
		}
		const dropped = DROPPED_ON_CREATE[typeId];
		if (dropped && !previous && ctx?.method === "POST" && dropped.path.test(ctx.path)) {
			const draft = ctx.request.body ?? {};
			for (const field of dropped.fields) {
				if (draft[field] !== undefined && resource[field] === undefined) resource[field] = draft[field];
			}
			for (const field of dropped.refs) {
				if (draft[field] && resource[field] === undefined) {
					const target = await storage.getByResourceIdentifier(pk, draft[field]);
					resource[field] = { typeId: draft[field].typeId, id: target.id };
				}
			}
		}
		// OrderFromCartDraft.version is required and must match the cart (the mock ignores it).
		if (typeId === "order" && !previous && ctx?.method === "POST" && /\/orders$/.test(ctx.path)) {
			const draft = ctx.request.body ?? {};
			const cart = resource.cart?.id ? await storage.get(pk, "cart", resource.cart.id) : null;
			if (cart && draft.version === undefined) {
				throw apiError(400, "RequiredField", "A value is required for field version.", { field: "version" });
			}
			if (cart && draft.version !== cart.version) {
				throw apiError(
					409,
					"ConcurrentModification",
					`Object ${cart.id} has a different version than expected. Expected: ${draft.version} - Actual: ${cart.version}.`,
					{ currentVersion: cart.version },
				);
			}
			if (cart && cart.cartState === "Ordered") {
				throw apiError(400, "InvalidOperation", `Cart '${cart.id}' has already been ordered.`);
			}
		}
		// The mock copies a cart's line items into the order but not its custom line items.
		if (typeId === "order" && !previous && resource.cart?.id && (resource.customLineItems ?? []).length === 0) {
			const cart = await storage.get(pk, "cart", resource.cart.id);
			if (cart?.customLineItems?.length) resource.customLineItems = cart.customLineItems;
		}
		if (typeId === "cart") {
			const items = resource.lineItems ?? [];
			resource.totalLineItemQuantity =
				items.length > 0 ? items.reduce((sum, item) => sum + (item.quantity ?? 0), 0) : undefined;
		}
	};
	storage.onWrite = async (pk, typeId, resource, previous) => {
		await recordWrite(pk, typeId, resource, previous);
		// Real API: ordering a cart moves it to cartState Ordered.
		if (typeId === "order" && !previous && resource.cart?.typeId === "cart") {
			const cart = await storage.get(pk, "cart", resource.cart.id);
			if (cart && cart.cartState !== "Ordered") {
				cart.cartState = "Ordered";
				cart.version += 1;
				cart.lastModifiedAt = new Date().toISOString();
				await storage.add(pk, "cart", cart);
			}
		}
	};

	const isAdmin = (path) => path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`);
	const isOauth = (path) => path.startsWith("/oauth/");

	app.addHook("onRequest", (request, reply, done) => {
		const path = request.url.split("?", 1)[0];
		if (isAdmin(path)) {
			done();
			return;
		}
		const api = !isOauth(path);
		const proceed = () => {
			const fault = faults.roll(path, api);
			if (fault) {
				stats.recordFault(fault.status);
				reply.code(fault.status).headers(fault.headers).send(fault.body);
				return;
			}
			if (api) {
				const ttl = faults.config.token_ttl_seconds;
				const token = bearerToken(request.headers.authorization);
				if (ttl !== null && token && tokenIssuedAt.has(token)) {
					if (Date.now() - tokenIssuedAt.get(token) > ttl * 1000) {
						stats.tokensExpiredRejections++;
						reply.code(401).send(errorBody(401, "invalid_token", "invalid_token", { error: "invalid_token" }));
						return;
					}
				}
				// Tokens the sandbox did not issue are left to the mock's 401.
				if (token && tokenScopes.has(token)) {
					const denied = scopeError(tokenScopes.get(token), request.method, path, projectKey);
					if (denied) {
						reply.code(403).send(denied);
						return;
					}
				}
			}

			let settings = { sort: undefined, withTotal: true };
			if (api && request.method === "GET") {
				stats.recordPaging(request.query);
				settings = readQuerySettings(request.query);
				if (settings.error) {
					reply.code(400).send(settings.error);
					return;
				}
			}
			const timestamp = readTimestamp(request.headers["x-sandbox-timestamp"]);
			if (timestamp.error) {
				reply.code(400).send(timestamp.error);
				return;
			}
			const state = {
				method: request.method,
				path,
				sort: settings.sort,
				withTotal: settings.withTotal,
				now: timestamp.now,
				startedAt: new Date().toISOString(),
				pendingMessages: new Map(),
				request,
			};
			request.sandboxState = state;
			requestContext.run(state, done);
		};
		const delay = faults.latency(path, api);
		if (delay > 0) setTimeout(proceed, delay);
		else proceed();
	});

	// Body parsing resumes on the socket's async context, so re-enter ours before the
	// handlers run.
	app.addHook("preHandler", (request, reply, done) => {
		const state = request.sandboxState;
		if (!state) {
			done();
			return;
		}
		const path = state.path;
		if (path === "/oauth/token") {
			const failure = checkClientCredentials(request);
			if (failure) {
				reply.code(401).send(failure);
				return;
			}
			// The mock reads `scope` only from the query string; the real API also takes it
			// from the form body and, without one, grants all of the client's scopes.
			const scope = request.query.scope ?? request.body?.scope ?? `manage_project:${projectKey}`;
			const foreign = String(scope)
				.split(/\s+/)
				.filter((entry) => entry && !new RegExp(`^[a-z_]+:${projectKey}(:[\\w-]+)?$`).test(entry));
			if (foreign.length > 0) {
				const message = `Illegal scope: ${foreign.join(" ")}. Scopes must be <scope>:${projectKey}.`;
				reply.code(400).send(
					errorBody(400, "invalid_scope", message, { error: "invalid_scope", error_description: message }),
				);
				return;
			}
			request.query.scope = scope;
		}
		requestContext.run(state, done);
	});

	const checkClientCredentials = (request) => {
		if (!clientId || !clientSecret) return null;
		const creds = parseBasic(request.headers.authorization);
		// Missing Basic auth is rejected by the mock itself with the same body.
		if (!creds) return null;
		if (safeEqual(creds.id, clientId) && safeEqual(creds.secret, clientSecret)) return null;
		const message = "Please provide valid client credentials using HTTP Basic Authentication.";
		return errorBody(401, "invalid_client", message, {
			error: "invalid_client",
			error_description: message,
		});
	};

	app.addHook("onSend", async (request, reply, payload) => {
		const path = request.sandboxState?.path;
		if (!path || typeof payload !== "string") return payload;
		if (path === "/oauth/token" && reply.statusCode === 200) {
			const token = JSON.parse(payload);
			tokenIssuedAt.set(token.access_token, Date.now());
			tokenScopes.set(token.access_token, grantedScopes(token.scope, projectKey));
			stats.tokensIssued++;
			const ttl = faults.config.token_ttl_seconds;
			if (ttl !== null) token.expires_in = Math.max(1, Math.floor(ttl));
			// client_credentials tokens come without a refresh token on the real API.
			if ((request.query.grant_type ?? request.body?.grant_type) === "client_credentials") {
				delete token.refresh_token;
			}
			return JSON.stringify(token);
		}
		if (reply.statusCode === 401 && payload.startsWith("{")) {
			const body = JSON.parse(payload);
			if (body.error === undefined && body.errors?.[0]?.code) {
				body.error = body.errors[0].code;
				return JSON.stringify(body);
			}
		}
		return payload;
	});

	app.addHook("onResponse", (request, reply, done) => {
		const path = request.url.split("?", 1)[0];
		if (!isAdmin(path)) stats.record(request.method, path, reply.statusCode);
		done();
	});

	// GET /{projectKey}/messages and /{projectKey}/messages/{id}: the mock has neither.
	app.register(
		async (instance) => {
			instance.addHook("preHandler", oauth.createMiddleware());
			instance.get("/messages", async (request, reply) => {
				const query = request.query;
				const params = {
					expand: list(query.expand),
					where: list(query.where),
					limit: query.limit !== undefined ? Number(single(query.limit)) : undefined,
					offset: query.offset !== undefined ? Number(single(query.offset)) : undefined,
				};
				for (const key of Object.keys(query)) {
					if (key.startsWith("var.")) {
						const values = list(query[key]);
						params[key] = values.length === 1 ? values[0] : values;
					}
				}
				const result = await storage.query(request.params.projectKey, "message", params);
				return reply.code(200).send(result);
			});
			instance.get("/messages/:id", async (request, reply) => {
				const message = await storage.get(request.params.projectKey, "message", request.params.id);
				if (!message) {
					return reply
						.code(404)
						.send(
							errorBody(404, "ResourceNotFound", `The Resource with ID '${request.params.id}' was not found.`),
						);
				}
				return reply.code(200).send(message);
			});
		},
		{ prefix: "/:projectKey" },
	);

	const reset = async () => {
		await ctMock.clear();
		recorder.clear();
		faults.reset();
		stats.reset();
		await enableMessages();
	};

	app.get(`${ADMIN_PREFIX}/health`, async () => ({ ok: true, project_key: projectKey }));
	app.get(`${ADMIN_PREFIX}/faults`, async () => faults.config);
	app.post(`${ADMIN_PREFIX}/faults`, async (request, reply) => {
		try {
			return faults.set(request.body ?? {});
		} catch (err) {
			if (err instanceof FaultConfigError) {
				return reply.code(400).send(invalidInput(err.message));
			}
			throw err;
		}
	});
	app.delete(`${ADMIN_PREFIX}/faults`, async () => faults.reset());
	app.get(`${ADMIN_PREFIX}/stats`, async () => stats.toJSON());
	app.delete(`${ADMIN_PREFIX}/stats`, async () => {
		stats.reset();
		return stats.toJSON();
	});
	app.post(`${ADMIN_PREFIX}/reset`, async () => {
		await reset();
		return { reset: true };
	});

	// Bulk load of complete resources, stored as given (like the mock's unsafeAdd):
	// for tests and benchmarks that need 10^5 rows in seconds rather than minutes of REST
	// writes. Missing id/version/createdAt/lastModifiedAt are filled in; with
	// "messages": true, customers and orders also get their Created/Imported message
	// dated at their createdAt.
	app.post(`${ADMIN_PREFIX}/bulk/:typeId`, async (request, reply) => {
		const { typeId } = request.params;
		const body = request.body ?? {};
		const resources = body.resources;
		if (!Array.isArray(resources)) {
			return reply.code(400).send(invalidInput("body must be {\"resources\": [...], \"messages\": bool}"));
		}
		let raw;
		try {
			raw = await storage._raw(projectKey, typeId);
		} catch {
			return reply.code(400).send(invalidInput(`unknown resource type '${typeId}'`));
		}
		const now = new Date().toISOString();
		for (const [index, resource] of resources.entries()) {
			if (resource === null || typeof resource !== "object" || Array.isArray(resource)) {
				return reply.code(400).send(invalidInput(`resources[${index}] is not a JSON object`));
			}
			if (resource.id !== undefined && typeof resource.id !== "string") {
				return reply.code(400).send(invalidInput(`resources[${index}].id must be a string`));
			}
			if (typeId === "customer" && typeof resource.email !== "string") {
				return reply.code(400).send(invalidInput(`resources[${index}] (customer) has no email`));
			}
		}
		for (const resource of resources) {
			resource.id ??= randomUUID();
			resource.version ??= 1;
			resource.createdAt ??= now;
			resource.lastModifiedAt ??= resource.createdAt;
			resource.createdAt = canonicalDatetime(resource.createdAt);
			resource.lastModifiedAt = canonicalDatetime(resource.lastModifiedAt);
			if (typeId === "customer") {
				resource.email = resource.email.toLowerCase();
				// The mock's e-mail uniqueness check reads this field.
				resource.lowercaseEmail = resource.email;
			}
			raw.set(resource.id, resource);
			if (body.messages) await recorder.emitCreated(projectKey, typeId, resource);
		}
		storage._bump(projectKey, typeId);
		return { stored: resources.length, type_id: typeId };
	});

	return { app, ctMock, storage, faults, stats, reset };
};
