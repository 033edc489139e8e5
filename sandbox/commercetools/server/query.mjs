// Query evaluation for the sandbox storage: sort, predicates, paging.
//
// The mock's InMemoryStorage.query clones every stored resource, filters, sorts and only
// then slices a page, so paging through N resources costs O(N^2) clones. A keyset client
// (`sort=id asc`, `where=id > :last`, `limit=500`) asks for N/500 pages; at 100 000
// customers that is minutes. This module keeps the mock's semantics (same predicate
// parser, same comparison rules as its sortParser) but works on the stored objects
// without cloning, reuses a sorted index between writes, seeks straight to a keyset
// cursor, and stops as soon as the page is full when the client does not want `total`.
import { InMemoryStorage } from "@labdigital/commercetools-mock";

/** Parse `sort` parameters ("field", "field asc", "a.b desc"), repeatable. */
export const parseSort = (sort) => {
	if (sort === undefined || sort === null) return [];
	const clauses = Array.isArray(sort) ? sort : [sort];
	return clauses.flatMap((clause) => {
		const [field, direction] = String(clause).trim().split(/\s+/);
		if (!field) return [];
		return [{ path: field.split("."), desc: direction?.toLowerCase() === "desc" }];
	});
};

const resolvePath = (resource, path) => {
	let current = resource;
	for (const segment of path) {
		if (current === null || typeof current !== "object") return undefined;
		current = current[segment];
	}
	return current;
};

// Same rules as the mock's sortParser.compareValues: strings compare with < and >
// (not localeCompare) so that `sort id asc` agrees with the predicate `id > "..."`;
// missing values count as the largest.
export const compareValues = (left, right) => {
	if (left === undefined || left === null) return right === undefined || right === null ? 0 : 1;
	if (right === undefined || right === null) return -1;
	if (typeof left === "number" && typeof right === "number") return left - right;
	if (typeof left === "boolean" && typeof right === "boolean") return Number(left) - Number(right);
	const a = String(left);
	const b = String(right);
	return a < b ? -1 : a > b ? 1 : 0;
};

export const comparator = (clauses) => (left, right) => {
	for (const clause of clauses) {
		const result = compareValues(resolvePath(left, clause.path), resolvePath(right, clause.path));
		if (result !== 0) return clause.desc ? -result : result;
	}
	return 0;
};

const SIMPLE_OPERATORS = {
	"=": (value, other) => (Array.isArray(value) ? value.some((e) => e === other) : value === other),
	"!=": (value, other) => value !== other,
	">": (value, other) => value > other,
	">=": (value, other) => value >= other,
	"<": (value, other) => value < other,
	"<=": (value, other) => value <= other,
};

const SIMPLE_TERM =
	/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|>|<)\s*(?:"([^"\\]*)"|:([A-Za-z0-9_]+)|(-?\d+(?:\.\d+)?)|(true|false))\s*$/;

/** Split on top-level ` and ` outside string literals; null if the text has parentheses. */
const splitAnd = (text) => {
	const parts = [];
	let current = "";
	let inString = false;
	for (let i = 0; i < text.length; i++) {
		const ch = text[i];
		if (ch === '"') inString = !inString;
		if (!inString && (ch === "(" || ch === ")")) return null;
		if (!inString && /\s/.test(ch) && /^\s+and\s+/i.test(text.slice(i))) {
			parts.push(current);
			current = "";
			i += text.slice(i).match(/^\s+and\s+/i)[0].length - 1;
			continue;
		}
		current += ch;
	}
	parts.push(current);
	return parts;
};

/**
 * Compile a `where` string made only of `field <op> literal` terms joined by `and`
 * (the shapes paging and incremental clients send) into fast checks. Anything else
 * returns null and goes to the mock's full predicate parser.
 */
export const compileSimple = (where, vars) => {
	const parts = splitAnd(where);
	if (!parts) return null;
	const terms = [];
	for (const part of parts) {
		const m = SIMPLE_TERM.exec(part);
		if (!m) return null;
		const [, field, op, str, varName, num, bool] = m;
		if (field === "variants" || /^(and|or|not)$/i.test(field)) return null;
		let other;
		if (str !== undefined) other = str;
		else if (varName !== undefined) {
			if (!(varName in vars) || Array.isArray(vars[varName])) return null;
			other = vars[varName];
		} else if (num !== undefined) other = Number(num);
		else other = bool === "true";
		terms.push({ field, op, other, test: SIMPLE_OPERATORS[op] });
	}
	return terms;
};

const matchesSimple = (resource, terms) => {
	for (const term of terms) {
		const value = term.field in resource ? resource[term.field] : undefined;
		if (!term.test(value, term.other)) return false;
	}
	return true;
};

// The mock's predicate parser is not exported; its InMemoryStorage.query is. Calling that
// method on a stand-in `this` whose all() returns just our candidates uses the parser
// (and its error messages) unchanged.
const filterWithMockParser = async (candidates, where, vars) => {
	const shim = {
		forProjectKey: async () => ({ shim: true }),
		all: async () => candidates,
	};
	const params = { where, limit: candidates.length, offset: 0 };
	for (const [name, value] of Object.entries(vars)) params[`var.${name}`] = value;
	const result = await InMemoryStorage.prototype.query.call(shim, "shim", "shim", params);
	return result.results;
};

// The mock answers errors with its CommercetoolsError class, which it does not export.
// Capture it from a predicate it rejects, so our errors get the same handling and body.
let CommercetoolsError;
try {
	await filterWithMockParser([], ["("], {});
} catch (err) {
	CommercetoolsError = err.constructor;
}
if (!CommercetoolsError || CommercetoolsError === Error) {
	throw new Error("could not obtain commercetools-mock's error class; has the mock changed?");
}

/** An error the mock's error handler turns into a commercetools error response. */
export const apiError = (statusCode, code, message, extra = {}) =>
	new CommercetoolsError({ code, message, ...extra }, statusCode);

const VARIABLE = /"(?:[^"\\]|\\.)*"|:([A-Za-z0-9_]+)/g;

/** Real API: a predicate that references an input variable nobody supplied is a 400. */
const checkVariables = (where, vars) => {
	for (const clause of where) {
		for (const match of clause.matchAll(VARIABLE)) {
			if (match[1] !== undefined && !(match[1] in vars)) {
				throw apiError(400, "InvalidInput", `Missing parameter value for ${match[1]}`);
			}
		}
	}
};

/** Index of the first element for which `before(element)` is false (elements sorted). */
const lowerBound = (items, before) => {
	let lo = 0;
	let hi = items.length;
	while (lo < hi) {
		const mid = (lo + hi) >>> 1;
		if (before(items[mid])) lo = mid + 1;
		else hi = mid;
	}
	return lo;
};

/**
 * Find where a keyset scan can start: when the first sort clause is ascending on a
 * top-level field and a simple term bounds that field from below (`id > x`), everything
 * before the bound fails the predicate anyway.
 */
export const keysetStart = (sorted, clauses, terms) => {
	if (clauses.length === 0 || clauses[0].desc || clauses[0].path.length !== 1) return 0;
	const field = clauses[0].path[0];
	let start = 0;
	for (const term of terms) {
		if (term.field !== field || (term.op !== ">" && term.op !== ">=")) continue;
		if (typeof term.other !== "string" && typeof term.other !== "number") continue;
		const strict = term.op === ">";
		const bound = lowerBound(sorted, (item) => {
			const value = item[field];
			if (value === undefined || value === null) return false;
			if (typeof value !== typeof term.other) return false;
			return strict ? value <= term.other : value < term.other;
		});
		start = Math.max(start, bound);
	}
	return start;
};

// Stored timestamps are canonical ISO strings (`2024-01-04T10:00:00.000Z`) and predicates
// compare strings, so `>= "2024-01-04T10:00:00Z"` would wrongly exclude that very
// instant ("." sorts before "Z"). The API compares date-times as instants: rewrite
// date-time literals and variables to the canonical form first.
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const QUOTED_DATETIME =
	/"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))"/g;

export const canonicalDatetime = (text) => {
	if (typeof text !== "string" || !DATETIME.test(text)) return text;
	const parsed = new Date(text);
	return Number.isNaN(parsed.getTime()) ? text : parsed.toISOString();
};

const canonicalVars = (vars) =>
	Object.fromEntries(
		Object.entries(vars).map(([name, value]) => [
			name,
			Array.isArray(value) ? value.map(canonicalDatetime) : canonicalDatetime(value),
		]),
	);

const canonicalWhere = (where) =>
	where.map((clause) => clause.replace(QUOTED_DATETIME, (match, value) => `"${canonicalDatetime(value)}"`));

const CHUNK = 2000;

/**
 * Evaluate a query over `sorted` (stored objects, in the requested order).
 * Returns {page, total} where total is undefined when it was not computed.
 */
export const runQuery = async ({ sorted, clauses, where: rawWhere, vars: rawVars, offset, limit, needTotal }) => {
	const where = canonicalWhere(rawWhere);
	const vars = canonicalVars(rawVars);
	checkVariables(where, vars);
	const simple = [];
	const complex = [];
	for (const clause of where) {
		const terms = compileSimple(clause, vars);
		if (terms) simple.push(...terms);
		else complex.push(clause);
	}

	// Parse (and reject) the complex predicates even when there is nothing to filter.
	if (complex.length > 0) await filterWithMockParser([], complex, vars);

	const start = keysetStart(sorted, clauses, simple);
	const wanted = offset + limit;
	const matched = [];
	let total = 0;
	for (let i = start; i < sorted.length; i += CHUNK) {
		let chunk = [];
		const end = Math.min(i + CHUNK, sorted.length);
		for (let j = i; j < end; j++) {
			if (matchesSimple(sorted[j], simple)) chunk.push(sorted[j]);
		}
		if (complex.length > 0 && chunk.length > 0) {
			chunk = await filterWithMockParser(chunk, complex, vars);
		}
		for (const item of chunk) {
			if (matched.length < wanted) matched.push(item);
			total++;
		}
		if (!needTotal && matched.length >= wanted) break;
	}
	return { page: matched.slice(offset, wanted), total: needTotal ? total : undefined };
};
