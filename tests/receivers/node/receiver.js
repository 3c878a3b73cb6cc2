// A webhook receiver as an OPD's Node.js developer would write it, verifying with the
// `standardwebhooks` package from the npm registry:
//   WEBHOOK_SECRET=whsec_... RECEIVER_DIR=/tmp/r PORT=8000 node receiver.js
// Same plan and log files as the PHP receiver (see ../php/receiver.php).
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");
const { Webhook } = require("standardwebhooks");

const dir = process.env.RECEIVER_DIR;
const keyField = process.env.RECEIVER_KEY_FIELD || "id";
const webhook = new Webhook(process.env.WEBHOOK_SECRET);
let served = 0;

function record(entry) {
  fs.appendFileSync(path.join(dir, "log.jsonl"), JSON.stringify(entry) + "\n");
}

function plan() {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "plan.json"), "utf8"));
  } catch {
    return [];
  }
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const id = request.headers["webhook-id"] || "";
    let event;
    try {
      event = webhook.verify(body, request.headers);
    } catch (error) {
      record({ id, status: 401, verified: false, reason: error.message });
      response.writeHead(401).end();
      return;
    }
    const step = plan()[served++] || { status: 200 };
    const binary = (request.headers["content-type"] || "") === "application/json";
    const data = binary ? event : event.data || {};
    const entry = {
      id,
      key: data[keyField] ?? null,
      type: request.headers["ce-type"] || event.type || null,
      fields: Object.keys(data),
      verified: true,
    };
    if (step.hang !== undefined) {
      record({ ...entry, status: "hang" });
      setTimeout(() => response.writeHead(200).end(), step.hang * 1000);
      return;
    }
    const status = step.status || 200;
    record({ ...entry, status });
    const headers = { "content-type": "application/json" };
    if (step.retry_after !== undefined) headers["retry-after"] = String(step.retry_after);
    response.writeHead(status, headers).end(JSON.stringify({ received: id }));
  });
});

server.keepAliveTimeout = 30000;
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
