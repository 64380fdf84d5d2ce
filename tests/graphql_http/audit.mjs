// Runs every server audit of graphql-http (the GraphQL over HTTP spec's reference checks)
// against the URL given as the only argument, and prints one JSON summary on stdout:
//   {"url": ..., "total": N, "ok": N, "notice": N, "warn": N, "error": N,
//    "failed": [{"id", "name", "status", "reason", "response": {status, contentType, body}}]}
// "failed" lists every audit that is not ok. Exit status: 0 once the summary is printed (the
// caller judges it), 2 on bad usage or if the audits could not run at all.
//
// Usage: node audit.mjs http://127.0.0.1:8080/graphql

// serverAudits lives in lib/audits; the package exports it from its main entry
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url || process.argv.length !== 3) {
  console.error("usage: node audit.mjs URL   (for example http://127.0.0.1:8080/graphql)");
  process.exit(2);
}

async function describe(response) {
  // An audit that failed holds the response it judged; its body may be read already.
  try {
    const text = await response.clone().text();
    return {
      status: response.status,
      contentType: response.headers.get("content-type"),
      body: text.length > 500 ? text.slice(0, 500) + "..." : text,
    };
  } catch {
    return { status: response.status, contentType: response.headers.get("content-type") };
  }
}

try {
  const results = await Promise.all(serverAudits({ url }).map(({ fn }) => fn()));
  const summary = { url, total: results.length, ok: 0, notice: 0, warn: 0, error: 0, failed: [] };
  for (const result of results) {
    summary[result.status] += 1;
    if (result.status !== "ok") {
      summary.failed.push({
        id: result.id,
        name: result.name,
        status: result.status,
        reason: result.reason,
        response: result.response ? await describe(result.response) : null,
      });
    }
  }
  console.log(JSON.stringify(summary, null, 2));
} catch (error) {
  console.error(`the audits could not run against ${url}: ${error?.stack ?? error}`);
  process.exit(2);
}
