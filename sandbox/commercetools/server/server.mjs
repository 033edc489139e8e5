#!/usr/bin/env node
// Starts the commercetools sandbox on a loopback port.
//
//   node server/server.mjs --port 0 --project-key demo [--host 127.0.0.1]
//        [--faults '{"status_429": 0.1}'] [--status-429 0.1] [--status-503 0.05]
//        [--token-ttl-seconds 5] [--fault-paths REGEX] [--fault-seed 1] [--exit-on-stdin-close]
//
// Client credentials are read from the environment (CT_SANDBOX_CLIENT_ID,
// CT_SANDBOX_CLIENT_SECRET), never from the command line where `ps` would show them;
// without them any Basic credentials are accepted. CT_SANDBOX_FAULTS may hold the initial
// fault JSON. The first stdout line is machine-readable:
//   {"ready": true, "port": N, "host": "127.0.0.1", "project_key": "...", "api_url": "...", "auth_url": "..."}
import { parseArgs } from "node:util";
import { createSandbox } from "./app.mjs";
import { validateFaults } from "./faults.mjs";

const fail = (message) => {
	process.stderr.write(`commercetools sandbox: ${message}\n`);
	process.exit(2);
};

let parsed;
try {
	parsed = parseArgs({
		options: {
			port: { type: "string", default: "0" },
			host: { type: "string", default: "127.0.0.1" },
			"project-key": { type: "string", default: "ctsync-sandbox" },
			faults: { type: "string" },
			"status-429": { type: "string" },
			"status-503": { type: "string" },
			"token-ttl-seconds": { type: "string" },
			"fault-paths": { type: "string" },
			"fault-seed": { type: "string" },
			"exit-on-stdin-close": { type: "boolean", default: false },
		},
		strict: true,
	});
} catch (err) {
	fail(err.message);
}
const opts = parsed.values;

const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got '${opts.port}'`);
if (!/^[a-z0-9_-]{2,36}$/.test(opts["project-key"])) {
	fail(`--project-key must be 2-36 characters of a-z, 0-9, '-' or '_', got '${opts["project-key"]}'`);
}

let faults = {};
try {
	const fromJson = opts.faults ?? process.env.CT_SANDBOX_FAULTS;
	if (fromJson) faults = JSON.parse(fromJson);
	const numeric = (flag, key) => {
		if (opts[flag] !== undefined) {
			const value = Number(opts[flag]);
			if (Number.isNaN(value)) fail(`--${flag} must be a number, got '${opts[flag]}'`);
			faults[key] = value;
		}
	};
	numeric("status-429", "status_429");
	numeric("status-503", "status_503");
	numeric("token-ttl-seconds", "token_ttl_seconds");
	numeric("fault-seed", "seed");
	if (opts["fault-paths"] !== undefined) faults.paths = opts["fault-paths"];
	validateFaults(faults);
} catch (err) {
	fail(`invalid fault configuration: ${err.message}`);
}

const clientId = process.env.CT_SANDBOX_CLIENT_ID || undefined;
const clientSecret = process.env.CT_SANDBOX_CLIENT_SECRET || undefined;
if (Boolean(clientId) !== Boolean(clientSecret)) {
	fail("set both CT_SANDBOX_CLIENT_ID and CT_SANDBOX_CLIENT_SECRET, or neither");
}

const { app } = await createSandbox({ projectKey: opts["project-key"], clientId, clientSecret, faults });
try {
	await app.listen({ port, host: opts.host });
} catch (err) {
	fail(`cannot listen on ${opts.host}:${port}: ${err.message}`);
}
const actualPort = app.server.address().port;
const base = `http://${opts.host}:${actualPort}`;
process.stdout.write(
	`${JSON.stringify({
		ready: true,
		port: actualPort,
		host: opts.host,
		project_key: opts["project-key"],
		api_url: base,
		auth_url: base,
	})}\n`,
);

let closing = false;
const shutdown = async () => {
	if (closing) return;
	closing = true;
	await app.close();
	process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
if (opts["exit-on-stdin-close"]) {
	// The launcher holds our stdin open; if it dies without stopping us, stdin closes.
	process.stdin.on("end", shutdown);
	process.stdin.on("close", shutdown);
	process.stdin.resume();
}
