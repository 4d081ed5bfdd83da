#!/usr/bin/env node
// `node token.mjs SECRET_ID`: print the stored token alone on stdout, or nothing and exit 1 with
// one line on stderr (naming the secret, never the token) when none is usable by the rule.
import { TokenReader, TokenReaderError } from "./reader.mjs";

const secretId = process.argv[2];
if (!secretId) {
  process.stderr.write("usage: node token.mjs SECRET_ID\n");
  process.exit(2);
}
try {
  process.stdout.write(`${await new TokenReader(secretId).token()}\n`);
} catch (err) {
  if (!(err instanceof TokenReaderError)) throw err;
  process.stderr.write(`sync-job-token: error: ${err.name}: ${err.message}\n`);
  process.exit(1);
}
