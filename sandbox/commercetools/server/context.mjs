// Per-request state shared between the Fastify hooks and the storage layer.
//
// The mock's services do not pass `sort`, `withTotal` or our timestamp header down to the
// storage, and its repositories call storage methods without the request. An
// AsyncLocalStorage entered in an `onRequest` hook follows the request through every
// await, so the storage can read what the client asked for.
import { AsyncLocalStorage } from "node:async_hooks";

export const requestContext = new AsyncLocalStorage();

/** @returns {RequestState | undefined} */
export const currentRequest = () => requestContext.getStore();

/**
 * @typedef {object} RequestState
 * @property {string} method
 * @property {string} path            URL path without the query string
 * @property {string[] | undefined} sort
 * @property {boolean} withTotal
 * @property {string | null} now      ISO timestamp writes use (X-Sandbox-Timestamp), or null for the clock
 * @property {string} startedAt       wall-clock ISO time the request arrived
 * @property {Map<string, object[]>} pendingMessages  messages produced by update actions, keyed by resource id
 * @property {import("fastify").FastifyRequest} request  for the body, query and credentials
 */
