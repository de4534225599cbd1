// A strict OCPP-J CSMS for the end-to-end tests (issues 6 and 7, DESIGN §9): npm `ocpp-rpc`
// with strictMode, which validates every message in both directions against the official JSON
// schemas it bundles for the protocol (OCPP 1.6: station calls against <Action>.req, our
// results against <Action>.conf, and the reverse; OCPP 2.0.1: <Action>Request /
// <Action>Response the same way).
//
//   node tests/e2e/strict_csms.mjs [--protocol ocpp1.6|ocpp2.0.1] [--boot-interval 10]
//        [--password PW] [--tls-cert PEM --tls-key PEM [--client-ca PEM]]
//
// --protocol (default ocpp1.6) is the only WebSocket subprotocol accepted and the schema set.
//
// Security profiles (docs/ocpp.md "Security"): --password answers a handshake without that
// HTTP Basic password (username = the station id) with HTTP 401 (profiles 1-2); --tls-cert /
// --tls-key serve wss:// (TLS 1.2+); --client-ca also requires a client certificate from
// that CA (profile 3).
//
// stdout: one JSON object per line:
//   {"event":"listening","url":"ws://127.0.0.1:PORT/ocpp"}     first line; the station id is appended
//   {"event":"rejected","identity":..,"protocols":[..]}        an upgrade without PROTOCOL (HTTP 400)
//   {"event":"connected","identity":..,"protocol":PROTOCOL}
//   {"event":"message","dir":"in"|"out","message":[...]}      every OCPP frame, as sent
//   {"event":"validation_error","dir":"in"|"out","kind":"call"|"result","method":..,"error":..,"details":[..]}
//   {"event":"bad_message","message":..,"error":..}           a frame that is not OCPP-J at all
//   {"event":"reply","id":N,"result":{..}} / {"event":"reply","id":N,"error":{"code":..,"message":..}}
//   {"event":"disconnected","identity":..,"code":..,"reason":..}
// stdin (control): one JSON object per line, {"id":N,"action":"Reset","params":{"type":"Hard"}}:
// the CSMS calls action on the connected station and answers with a "reply" line. EOF on stdin
// (the test ended) stops the process.
import { readFileSync } from "node:fs";
import https from "node:https";
import readline from "node:readline";
import rpc from "ocpp-rpc";

const { RPCServer } = rpc;

const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
};
const PROTOCOL = arg("--protocol", "ocpp1.6");
const bootIntervalS = parseInt(arg("--boot-interval", "10"), 10);
const password = arg("--password", null);
const tlsCert = arg("--tls-cert", null);
const clientCa = arg("--client-ca", null);

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const now = () => new Date().toISOString();

const server = new RPCServer({
    protocols: [PROTOCOL],
    strictMode: true,
    respondWithDetailedErrors: true,
});

// DESIGN §9: a client that offers no OCPP subprotocol is refused at the upgrade.
server.auth((accept, reject, handshake) => {
    if (!handshake.protocols.has(PROTOCOL)) {
        emit({ event: "rejected", identity: handshake.identity, protocols: [...handshake.protocols] });
        reject(400, `the subprotocol ${PROTOCOL} is required`);
        return;
    }
    if (password !== null && (!handshake.password || handshake.password.toString() !== password)) {
        emit({ event: "unauthorized", identity: handshake.identity });
        reject(401, "wrong or missing Basic-auth credentials");
        return;
    }
    accept({}, PROTOCOL);
});

let station = null;
let txId = 0;

const answers16 = {
    BootNotification: () => ({ status: "Accepted", currentTime: now(), interval: bootIntervalS }),
    Heartbeat: () => ({ currentTime: now() }),
    StatusNotification: () => ({}),
    Authorize: () => ({ idTagInfo: { status: "Accepted" } }),
    StartTransaction: () => ({ transactionId: ++txId, idTagInfo: { status: "Accepted" } }),
    StopTransaction: () => ({ idTagInfo: { status: "Accepted" } }),
    MeterValues: () => ({}),
    DataTransfer: () => ({ status: "Accepted" }),
    DiagnosticsStatusNotification: () => ({}),
    FirmwareStatusNotification: () => ({}),
    // the 1.6 security whitepaper's station messages (security profiles 1-3)
    SecurityEventNotification: () => ({}),
    LogStatusNotification: () => ({}),
    SignedFirmwareStatusNotification: () => ({}),
    SignCertificate: () => ({ status: "Accepted" }),
};

// OCPP 2.0.1 (Part 2 B01, E01-E03, F, K, P): the station chooses the transactionId; a
// TransactionEvent that carries an idToken needs idTokenInfo in its answer.
const answers201 = {
    BootNotification: () => ({ currentTime: now(), interval: bootIntervalS, status: "Accepted" }),
    Heartbeat: () => ({ currentTime: now() }),
    Authorize: () => ({ idTokenInfo: { status: "Accepted" } }),
    TransactionEvent: ({ params }) => (params.idToken ? { idTokenInfo: { status: "Accepted" } } : {}),
    DataTransfer: () => ({ status: "Accepted" }),
};
for (const action of ["StatusNotification", "MeterValues", "NotifyReport", "NotifyEvent",
    "NotifyChargingLimit", "ClearedChargingLimit", "ReportChargingProfiles",
    "SecurityEventNotification", "FirmwareStatusNotification", "LogStatusNotification"]) {
    answers201[action] = () => ({});
}

const ANSWERS = { "ocpp1.6": answers16, "ocpp2.0.1": answers201 };
if (!(PROTOCOL in ANSWERS)) {
    process.stderr.write(`--protocol: one of ${Object.keys(ANSWERS).join(", ")}\n`);
    process.exit(2);
}
const answers = ANSWERS[PROTOCOL];

server.on("client", (client) => {
    station = client;
    emit({ event: "connected", identity: client.identity, protocol: client.protocol });
    client.on("message", ({ message, outbound }) => {
        let parsed;
        try {
            parsed = JSON.parse(message);
        } catch {
            parsed = message;
        }
        emit({ event: "message", dir: outbound ? "out" : "in", message: parsed });
    });
    client.on("strictValidationFailure", ({ method, error, outbound, isCall }) => {
        emit({
            event: "validation_error", dir: outbound ? "out" : "in",
            kind: isCall ? "call" : "result", method, error: error.message,
            details: (error.details && error.details.errors) || [],
        });
    });
    client.on("badMessage", ({ buffer, error }) => {
        emit({ event: "bad_message", message: buffer.toString("utf8"), error: error.message });
    });
    client.on("close", ({ code, reason }) => {
        emit({ event: "disconnected", identity: client.identity, code, reason: String(reason) });
        if (station === client) station = null;
    });
    for (const [action, answer] of Object.entries(answers)) {
        client.handle(action, answer);
    }
});

control();

function control() {
    const rl = readline.createInterface({ input: process.stdin });
    rl.on("line", async (line) => {
        if (!line.trim()) return;
        let cmd;
        try {
            cmd = JSON.parse(line);
        } catch (err) {
            emit({ event: "reply", id: null, error: { code: "BadControl", message: err.message } });
            return;
        }
        if (station === null) {
            emit({ event: "reply", id: cmd.id, error: { code: "NoStation", message: "no station" } });
            return;
        }
        try {
            const result = await station.call(cmd.action, cmd.params ?? {});
            emit({ event: "reply", id: cmd.id, result });
        } catch (err) {
            emit({
                event: "reply", id: cmd.id,
                error: { code: err.rpcErrorCode ?? err.name, message: err.message },
            });
        }
    });
    rl.on("close", () => process.exit(0));
}

for (const sig of ["SIGTERM", "SIGINT"]) {
    process.on(sig, () => process.exit(0));
}

if (tlsCert === null) {
    const http = await server.listen(0, "127.0.0.1");
    emit({ event: "listening", url: `ws://127.0.0.1:${http.address().port}/ocpp` });
} else {
    const tls = https.createServer({
        cert: readFileSync(tlsCert), key: readFileSync(arg("--tls-key")), minVersion: "TLSv1.2",
        ca: clientCa === null ? undefined : readFileSync(clientCa),
        requestCert: clientCa !== null, rejectUnauthorized: clientCa !== null,
    });
    tls.on("upgrade", server.handleUpgrade);
    tls.on("tlsClientError", (err) => emit({ event: "tls_error", error: err.message }));
    tls.listen(0, "127.0.0.1", () => {
        emit({ event: "listening", url: `wss://127.0.0.1:${tls.address().port}/ocpp` });
    });
}
