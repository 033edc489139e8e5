// Fault injection and request statistics for the sandbox's admin API.

export const FAULT_DEFAULTS = Object.freeze({
	status_429: 0,
	status_502: 0,
	status_503: 0,
	status_504: 0,
	retry_after_seconds: 1,
	sequence: [],
	latency_ms: 0,
	token_ttl_seconds: null,
	paths: null,
	seed: null,
});

const RATE_KEYS = ["status_429", "status_502", "status_503", "status_504"];
const SEQUENCE_STATUSES = [401, 429, 500, 502, 503, 504];

export class FaultConfigError extends Error {}

/** Validate a fault configuration; unknown keys and out-of-range values are errors. */
export const validateFaults = (input) => {
	if (input === null || typeof input !== "object" || Array.isArray(input)) {
		throw new FaultConfigError("fault configuration must be a JSON object");
	}
	const config = { ...FAULT_DEFAULTS };
	for (const [key, value] of Object.entries(input)) {
		if (!(key in FAULT_DEFAULTS)) {
			throw new FaultConfigError(
				`unknown fault setting '${key}'; known: ${Object.keys(FAULT_DEFAULTS).join(", ")}`,
			);
		}
		if (RATE_KEYS.includes(key)) {
			if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
				throw new FaultConfigError(`${key} must be a fraction between 0 and 1, got ${JSON.stringify(value)}`);
			}
		} else if (key === "retry_after_seconds") {
			if (!Number.isInteger(value) || value < 0) {
				throw new FaultConfigError(`retry_after_seconds must be a non-negative integer, got ${JSON.stringify(value)}`);
			}
		} else if (key === "sequence") {
			if (!Array.isArray(value) || !value.every((status) => SEQUENCE_STATUSES.includes(status))) {
				throw new FaultConfigError(
					`sequence must be a list of statuses from ${SEQUENCE_STATUSES.join(", ")}, got ${JSON.stringify(value)}`,
				);
			}
		} else if (key === "latency_ms") {
			if (typeof value !== "number" || !(value >= 0 && value <= 60_000)) {
				throw new FaultConfigError(`latency_ms must be between 0 and 60000, got ${JSON.stringify(value)}`);
			}
		} else if (key === "token_ttl_seconds") {
			if (value !== null && (typeof value !== "number" || !(value > 0))) {
				throw new FaultConfigError(`token_ttl_seconds must be a positive number or null, got ${JSON.stringify(value)}`);
			}
		} else if (key === "paths") {
			if (value !== null) {
				if (typeof value !== "string") {
					throw new FaultConfigError(`paths must be a regular expression string or null, got ${JSON.stringify(value)}`);
				}
				try {
					new RegExp(value);
				} catch (err) {
					throw new FaultConfigError(`paths is not a valid regular expression: ${err.message}`);
				}
			}
		} else if (key === "seed") {
			if (value !== null && !Number.isInteger(value)) {
				throw new FaultConfigError(`seed must be an integer or null, got ${JSON.stringify(value)}`);
			}
		}
		config[key] = Array.isArray(value) ? [...value] : value;
	}
	const sum = RATE_KEYS.reduce((acc, key) => acc + config[key], 0);
	if (sum > 1) throw new FaultConfigError(`the status_* fractions add up to ${sum}, more than 1`);
	return config;
};

/** mulberry32: small, seedable, good enough to make fault sequences reproducible. */
const seededRandom = (seed) => {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
};

const FAULT_BODIES = {
	401: () => ({
		statusCode: 401,
		message: "invalid_token",
		errors: [{ code: "invalid_token", message: "invalid_token" }],
		error: "invalid_token",
	}),
	500: () => ({
		statusCode: 500,
		message: "Internal Server Error",
		errors: [{ code: "General", message: "Internal Server Error" }],
	}),
	429: (retryAfter) => ({
		statusCode: 429,
		message: `Too many requests. Retry after ${retryAfter} seconds.`,
		errors: [{ code: "TooManyRequests", message: `Too many requests. Retry after ${retryAfter} seconds.` }],
	}),
	502: () => ({
		statusCode: 502,
		message: "Bad Gateway. The infrastructure is scaling; retry with exponential backoff.",
		errors: [{ code: "General", message: "Bad Gateway" }],
	}),
	503: () => ({
		statusCode: 503,
		message: "The service is currently over capacity. Please retry with exponential backoff.",
		errors: [
			{
				code: "OverCapacity",
				message: "The service is currently over capacity. Please retry with exponential backoff.",
			},
		],
	}),
	504: () => ({
		statusCode: 504,
		message: "Gateway Timeout. The request took too long; retry with exponential backoff.",
		errors: [{ code: "General", message: "Gateway Timeout" }],
	}),
};

export class Faults {
	constructor(initial = {}) {
		this.set(initial);
	}

	/** Replace the whole configuration (settings not given go back to their defaults). */
	set(input) {
		this.config = validateFaults(input);
		this.pathPattern = this.config.paths === null ? null : new RegExp(this.config.paths);
		this.random = this.config.seed === null ? Math.random : seededRandom(this.config.seed);
		return this.config;
	}

	reset() {
		return this.set({});
	}

	appliesTo(path, isApiPath) {
		if (this.pathPattern) return this.pathPattern.test(path);
		return isApiPath;
	}

	/** Decide whether to fail this request; returns {status, headers, body} or null. */
	roll(path, isApiPath) {
		if (!this.appliesTo(path, isApiPath)) return null;
		if (this.config.sequence.length > 0) return this.failure(this.config.sequence.shift());
		const rates = RATE_KEYS.map((key) => this.config[key]);
		if (rates.every((rate) => rate === 0)) return null;
		const draw = this.random();
		let threshold = 0;
		for (const key of RATE_KEYS) {
			threshold += this.config[key];
			if (draw < threshold) return this.failure(Number(key.slice("status_".length)));
		}
		return null;
	}

	failure(status) {
		const retryAfter = this.config.retry_after_seconds;
		const headers = status === 429 || status === 503 ? { "retry-after": String(retryAfter) } : {};
		return { status, headers, body: FAULT_BODIES[status](retryAfter) };
	}

	/** Milliseconds to delay this request before answering it. */
	latency(path, isApiPath) {
		return this.config.latency_ms > 0 && this.appliesTo(path, isApiPath) ? this.config.latency_ms : 0;
	}
}

export class Stats {
	constructor() {
		this.reset();
	}

	reset() {
		this.total = 0;
		this.byPath = {};
		this.byStatus = {};
		this.maxOffset = null;
		this.maxLimit = null;
		this.faultsInjected = {};
		this.tokensIssued = 0;
		this.tokensExpiredRejections = 0;
		this.startedAt = new Date().toISOString();
	}

	recordPaging(query) {
		const offset = Number(query.offset);
		const limit = Number(query.limit);
		if (query.offset !== undefined && Number.isFinite(offset)) {
			this.maxOffset = this.maxOffset === null ? offset : Math.max(this.maxOffset, offset);
		}
		if (query.limit !== undefined && Number.isFinite(limit)) {
			this.maxLimit = this.maxLimit === null ? limit : Math.max(this.maxLimit, limit);
		}
	}

	record(method, path, status) {
		this.total++;
		const key = `${method} ${path}`;
		const perPath = (this.byPath[key] ??= {});
		perPath[status] = (perPath[status] ?? 0) + 1;
		this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
	}

	recordFault(status) {
		this.faultsInjected[status] = (this.faultsInjected[status] ?? 0) + 1;
	}

	toJSON() {
		return {
			since: this.startedAt,
			requests_total: this.total,
			requests_by_status: this.byStatus,
			requests_by_path: this.byPath,
			max_offset: this.maxOffset,
			max_limit: this.maxLimit,
			faults_injected: this.faultsInjected,
			tokens_issued: this.tokensIssued,
			expired_token_rejections: this.tokensExpiredRejections,
		};
	}
}
