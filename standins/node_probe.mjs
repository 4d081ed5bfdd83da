// Drives examples/node-consumer/reader.mjs for tests/integration/test_node_consumer.py: runs the
// steps of argv[2] (JSON) on a manual clock against the Secrets Manager of AWS_ENDPOINT_URL and
// prints {"results": [...], "calls": N} (N: GetSecretValue commands sent).
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { TokenReader } from "./reader.mjs";

const plan = JSON.parse(process.argv[2]);
let now = new Date(plan.now ?? Date.now());
const client = new SecretsManagerClient({});
let calls = 0;
client.middlewareStack.add(
  (next) => async (args) => {
    calls += 1;
    return next(args);
  },
  { step: "initialize", name: "countGetSecretValue" },
);
const readers = new Map();
const reader = (secret) => {
  if (!readers.has(secret)) readers.set(secret, new TokenReader(secret, { client, clock: () => now }));
  return readers.get(secret);
};
const attempt = async (fn) => {
  try {
    return { token: await fn() };
  } catch (err) {
    return { error: err.name, message: err.message, secondsLeft: err.secondsLeft ?? null };
  }
};

const results = [];
for (const step of plan.steps) {
  if (step.op === "token") results.push(await attempt(() => reader(step.secret).token()));
  else if (step.op === "refresh") results.push(await attempt(() => reader(step.secret).refresh()));
  else if (step.op === "invalidate") results.push({ done: reader(step.secret).invalidate() === undefined });
  else if (step.op === "advance") {
    now = new Date(now.getTime() + step.seconds * 1000);
    results.push({ now: now.toISOString() });
  } else if (step.op === "parallel") {
    const all = await Promise.all(Array.from({ length: step.n }, () => attempt(() => reader(step.secret).token())));
    results.push({ tokens: [...new Set(all.map((r) => r.token ?? r.error))] });
  } else throw new Error(`unknown step ${step.op}`);
}
process.stdout.write(JSON.stringify({ results, calls }));
