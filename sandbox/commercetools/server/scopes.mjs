// OAuth scope checks as the real API applies them (RAML `securedBy` per resource).
//
// A token's scopes are `<scope>:<projectKey>` (store-scoped ones add `:<storeKey>`).
// `manage_project` grants everything, `manage_<x>` implies `view_<x>`. Resources missing
// from the table accept any scope of the project.

const RULES = {
	customers: { read: ["view_customers"], write: ["manage_customers"] },
	orders: { read: ["view_orders"], write: ["manage_orders"] },
	carts: { read: ["view_orders"], write: ["manage_orders"] },
	messages: { read: ["view_messages", "view_orders"], write: [] },
	products: { read: ["view_products", "view_published_products"], write: ["manage_products"] },
	"product-projections": { read: ["view_products", "view_published_products"], write: ["manage_products"] },
	"product-types": { read: ["view_products"], write: ["manage_products"] },
	categories: { read: ["view_categories", "view_products"], write: ["manage_categories", "manage_products"] },
	"customer-groups": {
		read: ["view_customer_groups", "view_customers"],
		write: ["manage_customer_groups", "manage_customers"],
	},
	stores: { read: ["view_stores"], write: ["manage_stores"] },
	types: { read: ["view_types"], write: ["manage_types"] },
};

const managing = (viewScope) => viewScope.replace(/^view_(published_)?/, "manage_");

/** Parse a token's `scope` string into the scope names granted for `projectKey`. */
export const grantedScopes = (scope, projectKey) => {
	const names = new Set();
	for (const entry of String(scope ?? "").split(/\s+/)) {
		const [name, key] = entry.split(":");
		if (name && key === projectKey) names.add(name);
	}
	return names;
};

/**
 * The error body for a request the token may not make, or null when it may.
 * @param {Set<string>} granted  scope names for this project
 */
export const scopeError = (granted, method, path, projectKey) => {
	const segments = path.split("/").filter(Boolean);
	const insufficient = (missing) => {
		const message = `Insufficient scope. One of the following scopes is missing: ${missing.join(", ")}`;
		return {
			statusCode: 403,
			message,
			errors: [{ code: "insufficient_scope", message }],
			error: "insufficient_scope",
		};
	};
	if (segments[0] !== projectKey || granted.size === 0) return insufficient([`manage_project:${segments[0]}`]);
	if (granted.has("manage_project")) return null;
	const resource = segments[1] === "in-store" ? segments[3] : segments[1];
	const rule = RULES[resource];
	if (!rule) return null;
	const isRead = method === "GET" || method === "HEAD" || (method === "POST" && path.endsWith("/search"));
	const accepted = isRead ? [...rule.read, ...rule.read.map(managing), ...rule.write] : rule.write;
	if (accepted.some((scope) => granted.has(scope))) return null;
	return insufficient((isRead ? rule.read : rule.write).map((scope) => `${scope}:${projectKey}`));
};
