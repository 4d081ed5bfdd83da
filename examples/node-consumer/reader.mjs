// Read the token sync-job keeps in AWS Secrets Manager, from Node.js (18+), with
// @aws-sdk/client-secrets-manager. The same contract as the Python TokenReader
// (sync_job/reader.py, docs/reader.md, docs/payload.schema.json):
//
// - always the AWSCURRENT version: sync-job stages each new token under a label of its own first;
// - the one validity rule (sync_job/bearer.py EXPIRY_SKEW_SECONDS): a token is usable while MORE
//   than 60 s remain before expires_at; with 60 s or fewer it is refused (TokenExpiredError), as
//   `sync-job token`, `sync-job status` and every shell recipe refuse it;
// - cached in memory until expires_at - 60 s, then read again; concurrent callers share one read;
// - invalidate() drops the cache (on the EventBridge "Secret Label Updated" event for AWSCURRENT,
//   docs/consumers.md), so the next token() reads once;
// - errors name the secret, never the token.
//
//   import { TokenReader } from "./reader.mjs";
//   const reader = new TokenReader("paxos/sandbox/access-token");   // keep one per secret
//   const res = await fetch(url, { headers: await reader.authorizationHeader() });
//   if (res.status === 401) { await reader.refresh(); /* retry once */ }

import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

export const EXPIRY_SKEW_SECONDS = 60;
export const VERSION_STAGE = "AWSCURRENT";
export const MAX_TOKEN_LENGTH = 32768;

// Visible ASCII (RFC 9110 VCHAR, %x21-7E): what `Authorization: Bearer <token>` carries safely
// (no CR/LF, control, space or non-ASCII); the rule of sync_job/bearer.py.
const B64TOKEN = /^[\x21-\x7e]+$/;
// RFC 3339 §5.6 date-time with an offset (a space for the T allowed; fractions of any length).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const STATUS_HINT = "sync-job may be failing: check `sync-job status`";

export class TokenReaderError extends Error {
  constructor(message, secretId) {
    super(message);
    this.name = "TokenReaderError";
    this.secretId = secretId;
  }
}

/** The secret cannot be read, or its payload is not a usable sync-job payload. */
export class TokenUnavailableError extends TokenReaderError {
  constructor(message, secretId) {
    super(message, secretId);
    this.name = "TokenUnavailableError";
  }
}

/** The stored token has expired or has 60 s or fewer left: sync-job is behind. */
export class TokenExpiredError extends TokenReaderError {
  constructor(message, secretId, expiresAt, secondsLeft) {
    super(message, secretId);
    this.name = "TokenExpiredError";
    this.expiresAt = expiresAt;
    this.secondsLeft = secondsLeft;
  }
}

/** Seconds from `now` to `expiresAt` (Dates); negative once expired. */
export function secondsLeft(expiresAt, now) {
  return (expiresAt.getTime() - now.getTime()) / 1000;
}

/** The one validity rule: true while more than EXPIRY_SKEW_SECONDS remain. */
export function isUsable(expiresAt, now) {
  return secondsLeft(expiresAt, now) > EXPIRY_SKEW_SECONDS;
}

/** An RFC 3339 timestamp with an offset as a Date, or null. */
export function parseTimestamp(value) {
  if (typeof value !== "string" || !RFC3339.test(value)) return null;
  const ms = Date.parse(value.toUpperCase().replace(" ", "T"));
  return Number.isFinite(ms) ? new Date(ms) : null;
}

function iso(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The payload's usable fields, or a TokenUnavailableError naming the problem (never the token).
 * Unknown fields are ignored: later versions add fields without changing schema_version.
 */
export function parsePayload(text, secretId) {
  const unusable = (problem) =>
    new TokenUnavailableError(
      `secret ${JSON.stringify(secretId)} (${VERSION_STAGE}) is not a usable sync-job payload: ${problem}`,
      secretId,
    );
  if (typeof text !== "string") throw unusable("it has no SecretString");
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw unusable("its SecretString is not JSON");
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw unusable("its SecretString is not a JSON object");
  }
  const { access_token: accessToken, token_type: tokenType, expires_at: rawExpiry } = doc;
  if (accessToken === undefined) throw unusable("field 'access_token' is missing");
  if (typeof accessToken !== "string" || accessToken.length === 0) {
    throw unusable("field 'access_token' is missing or not a non-empty string");
  }
  if (accessToken.length > MAX_TOKEN_LENGTH) {
    throw unusable(`field 'access_token' is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  if (!B64TOKEN.test(accessToken)) {
    throw unusable("field 'access_token' has characters an Authorization header cannot carry safely");
  }
  if (tokenType === undefined) throw unusable("field 'token_type' is missing");
  if (typeof tokenType !== "string" || tokenType.toLowerCase() !== "bearer") {
    throw unusable("field 'token_type' is not 'bearer'");
  }
  if (rawExpiry === undefined) throw unusable("field 'expires_at' is missing");
  const expiresAt = parseTimestamp(rawExpiry);
  if (expiresAt === null) {
    throw unusable("field 'expires_at' is not an RFC 3339 timestamp that converts to UTC");
  }
  return { accessToken, expiresAt };
}

export class TokenReader {
  /**
   * @param {string} secretId name or ARN of the token secret
   * @param {{client?: SecretsManagerClient, clock?: () => Date}} [options] `client` defaults to
   *   `new SecretsManagerClient({})` (region, credentials and AWS_ENDPOINT_URL from the usual
   *   chain); `clock` returns the current time (tests inject one).
   */
  constructor(secretId, { client, clock } = {}) {
    if (typeof secretId !== "string" || secretId.trim() === "") {
      throw new TypeError("secretId must be a non-empty secret name or ARN");
    }
    this.secretId = secretId;
    this.client = client ?? new SecretsManagerClient({});
    this.clock = clock ?? (() => new Date());
    this.cached = null; // { accessToken, expiresAt }
    this.inflight = null; // the one read in progress, shared by concurrent callers
  }

  /** expires_at of the cached token (a Date), or null before the first good read. */
  get expiresAt() {
    return this.cached ? this.cached.expiresAt : null;
  }

  /** The access token: from memory while usable by the rule, else read from Secrets Manager. */
  async token() {
    const cached = this.cached;
    if (cached && isUsable(cached.expiresAt, this.clock())) return cached.accessToken;
    return (await this.read()).accessToken;
  }

  /** Read the secret now, whatever the cache holds (after the API answered 401). */
  async refresh() {
    this.cached = null;
    return (await this.read()).accessToken;
  }

  /** Drop the cached token; no call, never throws. The next token() reads once. */
  invalidate() {
    this.cached = null;
  }

  async authorizationHeader() {
    return { Authorization: `Bearer ${await this.token()}` };
  }

  read() {
    if (!this.inflight) {
      this.inflight = this.readOnce().finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  async readOnce() {
    const sid = this.secretId;
    let response;
    try {
      response = await this.client.send(
        new GetSecretValueCommand({ SecretId: sid, VersionStage: VERSION_STAGE }),
      );
    } catch (err) {
      // An AWS error answer has $metadata and names its code; a network error has a Node code.
      const code = (err?.$metadata ? err.name : err?.code ?? err?.name) ?? "unknown error";
      const detail =
        code === "ResourceNotFoundException"
          ? `secret ${JSON.stringify(sid)} was not found, or has no ${VERSION_STAGE} version`
          : `reading secret ${JSON.stringify(sid)} failed: ${code}`;
      throw new TokenUnavailableError(`${detail} (${STATUS_HINT})`, sid);
    }
    const token = parsePayload(response.SecretString, sid);
    const now = this.clock();
    const left = secondsLeft(token.expiresAt, now);
    if (!isUsable(token.expiresAt, now)) {
      const when =
        left <= 0
          ? `expired at ${iso(token.expiresAt)}, ${Math.round(-left)}s ago`
          : `expires at ${iso(token.expiresAt)}, in ${Math.round(left)}s, ` +
            `not more than the ${EXPIRY_SKEW_SECONDS}s the validity rule requires`;
      throw new TokenExpiredError(
        `the token in secret ${JSON.stringify(sid)} ${when}; ${STATUS_HINT}`,
        sid,
        token.expiresAt,
        left,
      );
    }
    this.cached = token;
    return token;
  }
}
