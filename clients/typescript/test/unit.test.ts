/**
 * Tests that need no fleet: tensor decoding and encoding (float16 and bfloat16 included), the
 * builders, and error decoding — from a hand-built gRPC trailer, and end to end through an
 * in-process Connect gRPC server that answers with the fleet's kind of rich status.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { connectNodeAdapter } from "@connectrpc/connect-node";

import {
  at,
  BadRequestSchema,
  capture,
  collect,
  DataType,
  decodeTensor,
  encodeTensor,
  ErrorInfoSchema,
  ErrorReason,
  finalResult,
  floatToBfloat16,
  floatToHalf,
  halfToFloat,
  InterpClient,
  InterpError,
  isStored,
  logitDifference,
  meanAblate,
  ModelHostService,
  noise,
  objectRef,
  ObjectRefSchema,
  patch,
  ResultDelivery,
  StatusSchema,
  steer,
  StorageService,
  storedTensor,
  TensorSchema,
  texts,
  tokens,
  tokenScore,
  toInterpError,
  toNumbers,
  zeroAblate,
} from "../src/index.js";

const le16 = (...xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer);
const raw = (dtype: DataType, shape: number[], bytes: Uint8Array) =>
  create(TensorSchema, { dtype, shape: shape.map(BigInt), data: { case: "raw", value: bytes } });

describe("tensors", () => {
  test("float32 decodes with its shape, also from an unaligned slice of a larger buffer", () => {
    const f = new Float32Array([1.5, -2, 3.25, 0, 1e-3, 7]);
    const padded = new Uint8Array(f.byteLength + 1);
    padded.set(new Uint8Array(f.buffer), 1);
    const t = decodeTensor(raw(DataType.FLOAT32, [2, 3], padded.subarray(1)));
    assert.equal(t.dtype, "float32");
    assert.deepEqual(t.shape, [2, 3]);
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual([...t.data], [...f]);
    assert.equal(at(t, 1, 0), 0);
    assert.throws(() => at(t, 2, 0), RangeError);
  });

  test("float16 is widened to float32: normals, subnormals, signed zero, infinities, NaN", () => {
    const bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555];
    const t = decodeTensor(raw(DataType.FLOAT16, [bits.length], le16(...bits)));
    assert.ok(t.data instanceof Float32Array);
    const v = [...t.data];
    assert.deepEqual(v.slice(0, 5), [1, -2, 65504, 2 ** -24, 2 ** -14]);
    assert.ok(Object.is(v[5], -0));
    assert.equal(v[6], Infinity);
    assert.equal(v[7], -Infinity);
    assert.ok(Number.isNaN(v[8]));
    assert.ok(Math.abs(v[9]! - 1 / 3) < 1e-3);
  });

  test("bfloat16 is widened to float32 (the upper half of a float32)", () => {
    const t = decodeTensor(raw(DataType.BFLOAT16, [2, 2], le16(0x3f80, 0xc000, 0x4049, 0xff80)));
    assert.equal(t.dtype, "bfloat16");
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual([...t.data], [1, -2, 3.140625, -Infinity]);
  });

  test("int64 decodes to BigInt64Array (exact), int32, float64 and bool to their arrays", () => {
    const big = new BigInt64Array([2n ** 62n + 1n, -5n, 49152n]);
    const i64 = decodeTensor(raw(DataType.INT64, [3], new Uint8Array(big.buffer)));
    assert.ok(i64.data instanceof BigInt64Array);
    assert.deepEqual([...i64.data], [...big]);
    assert.deepEqual(toNumbers(i64.data).slice(1), [-5, 49152]);
    const i32 = decodeTensor(raw(DataType.INT32, [2], new Uint8Array(new Int32Array([-7, 1 << 30]).buffer)));
    assert.ok(i32.data instanceof Int32Array);
    assert.deepEqual([...i32.data], [-7, 1 << 30]);
    const f64 = decodeTensor(raw(DataType.FLOAT64, [1], new Uint8Array(new Float64Array([Math.PI]).buffer)));
    assert.ok(f64.data instanceof Float64Array);
    assert.equal(f64.data[0], Math.PI);
    const b = decodeTensor(raw(DataType.BOOL, [3], new Uint8Array([1, 0, 1])));
    assert.equal(b.dtype, "bool");
    assert.deepEqual([...b.data], [1, 0, 1]);
  });

  test("a scalar (empty shape) has one element", () => {
    const t = decodeTensor(raw(DataType.FLOAT32, [], new Uint8Array(new Float32Array([2.5]).buffer)));
    assert.deepEqual(t.shape, []);
    assert.deepEqual([...t.data], [2.5]);
  });

  test("byte count, dtype and stored data are checked", () => {
    assert.throws(() => decodeTensor(raw(DataType.FLOAT32, [2], new Uint8Array(7))), /7 bytes, but shape \[2\] of float32 needs 8/);
    assert.throws(() => decodeTensor(raw(DataType.UNSPECIFIED, [1], new Uint8Array(4))), TypeError);
    const ref = create(ObjectRefSchema, { key: "dev/runs/x.safetensors", byteSize: 10n, sha256: "ab".repeat(32) });
    const stored = storedTensor(ref, [1, 5, 576], "float32");
    assert.ok(isStored(stored));
    assert.equal(objectRef(stored), ref);
    assert.equal(stored.dtype, DataType.FLOAT32);
    assert.deepEqual(stored.shape, [1n, 5n, 576n]);
    assert.throws(() => decodeTensor(stored), /object store/);
    assert.throws(() => objectRef(encodeTensor([1])), /inline/);
  });

  test("encode -> decode round trips every dtype", () => {
    const values = [0, 1, -2.5, 0.1, 1000];
    for (const dtype of ["float32", "float64", "float16", "bfloat16"] as const) {
      const t = decodeTensor(encodeTensor(values, [5], { dtype }));
      assert.equal(t.dtype, dtype);
      const tol = dtype === "bfloat16" ? 4 : dtype === "float16" ? 0.5 : 1e-5;
      t.data.forEach((v, i) => assert.ok(Math.abs(Number(v) - values[i]!) <= tol * Math.max(1e-3, Math.abs(values[i]!) / 100), `${dtype} ${i}: ${v}`));
    }
    assert.deepEqual([...decodeTensor(encodeTensor(new Int32Array([3, -4]))).data], [3, -4]);
    assert.deepEqual([...decodeTensor(encodeTensor([5n, -6n])).data], [5n, -6n]);
    assert.deepEqual([...decodeTensor(encodeTensor([true, false], [2])).data], [1, 0]);
    const m = encodeTensor(new Float32Array(6), [2, 3], { dimNames: ["a", "b"] });
    assert.deepEqual(decodeTensor(m).dimNames, ["a", "b"]);
    assert.throws(() => encodeTensor([1, 2, 3], [2, 2]), /do not fit/);
  });

  test("float16 and bfloat16 encoders round to nearest even", () => {
    assert.equal(floatToHalf(1), 0x3c00);
    assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // a tie: stays even
    assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02); // a tie: rounds up to even
    assert.equal(floatToHalf(65520), 0x7c00); // rounds past the largest half: infinity
    assert.equal(floatToHalf(2 ** -25), 0); // half the smallest subnormal: ties to 0
    assert.equal(floatToHalf(3 * 2 ** -25), 0x0002);
    assert.equal(halfToFloat(floatToHalf(-0.000123)), halfToFloat(0x8808));
    assert.equal(floatToBfloat16(1), 0x3f80);
    assert.equal(floatToBfloat16(Math.PI), 0x4049);
    assert.ok(Number.isNaN(decodeTensor(raw(DataType.BFLOAT16, [1], le16(floatToBfloat16(NaN)))).data[0]));
  });
});

describe("builders", () => {
  test("interventions carry their site, selection and action", () => {
    const z = zeroAblate("blocks.4.attn.hook_z", { heads: [2], sequences: [0] });
    assert.equal(z.hookSite, "blocks.4.attn.hook_z");
    assert.deepEqual(z.heads, [2]);
    assert.equal(z.action.case, "zeroAblation");
    const ref = create(ObjectRefSchema, { key: "dev/runs/y.safetensors", byteSize: 1n, sha256: "cd".repeat(32) });
    const stored = storedTensor(ref, [1, 3, 4], DataType.FLOAT32);
    const p = patch("blocks.0.hook_resid_pre", stored, { positions: [1], keep: 0.25 });
    assert.equal(p.action.case, "patch");
    assert.equal(p.action.value.source, stored); // passed back unchanged
    assert.equal(p.action.value.keep, 0.25);
    const fromSeq = patch("blocks.0.hook_resid_pre", null, { sourceSequences: [1], sequences: [0] });
    assert.deepEqual(fromSeq.sourceSequences, [1]);
    assert.equal(fromSeq.action.case === "patch" && fromSeq.action.value.source, undefined);
    const s = steer("blocks.3.hook_resid_post", new Float32Array([1, 2]), 4);
    assert.ok(s.action.case === "steering");
    assert.equal(s.action.value.scale, 4);
    assert.deepEqual([...decodeTensor(s.action.value.vector!).data], [1, 2]);
    const m = meanAblate("blocks.1.mlp.hook_post", { referenceTexts: ["a b"], neurons: [3] });
    assert.ok(m.action.case === "meanAblation");
    assert.deepEqual(m.action.value.referenceTexts?.texts, ["a b"]);
    const n = noise("hook_embed", 0.5, { seed: 7 });
    assert.ok(n.action.case === "noise" && n.action.value.seed === 7n);
  });

  test("metrics, capture specs and inputs", () => {
    const ts = tokenScore(42, { kind: "prob", positions: [-1] });
    assert.ok(ts.metric.case === "token");
    assert.deepEqual(ts.metric.value.tokenIds, [42n]);
    const ld = logitDifference([1, 2], [3, 4]);
    assert.ok(ld.metric.case === "logitDifference");
    assert.deepEqual(ld.metric.value.incorrectTokenIds, [3n, 4n]);
    assert.deepEqual(capture(["a", "b"], { delivery: "store" }), { capture: ["a", "b"], delivery: ResultDelivery.OBJECT_STORE, maxInlineBytes: 0n });
    assert.equal(capture(["a"], { delivery: "inline" }).delivery, ResultDelivery.INLINE);
    assert.deepEqual(capture(["a"], { pools: [[0, [1, 2]]] }).capturePooling, { pools: [{ sequence: 0, positions: [1, 2] }] });
    assert.throws(() => capture(["a"], { delivery: "disk" as never }), /unknown delivery/);
    assert.deepEqual(texts(["x"]), { case: "texts", value: { texts: ["x"] } });
    assert.deepEqual(tokens([[1, 2]]), { case: "tokens", value: { sequences: [{ ids: [1n, 2n] }] } });
  });
});

describe("errors", () => {
  test("a gRPC trailer with a rich status becomes an InterpError with reason and field violations", () => {
    const status = create(StatusSchema, {
      code: Code.InvalidArgument,
      message: "selection.layers[0]: 40 is outside [0, 30)",
      details: [
        anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "LAYER_OUT_OF_RANGE", domain: "interp.v1", metadata: { k: "v" } })),
        anyPack(
          BadRequestSchema,
          create(BadRequestSchema, { fieldViolations: [{ field: "selection.layers[0]", description: "40 is outside [0, 30)" }] }),
        ),
      ],
    });
    const trailer = new Headers({
      "grpc-status": "3",
      "grpc-message": encodeURIComponent(status.message),
      "grpc-status-details-bin": Buffer.from(toBinary(StatusSchema, status)).toString("base64").replace(/=+$/, ""),
    });
    const ce = findTrailerError(trailer);
    assert.ok(ce instanceof ConnectError);
    const e = toInterpError(ce);
    assert.ok(e instanceof InterpError && e instanceof Error);
    assert.equal(e.code, "INVALID_ARGUMENT");
    assert.equal(e.grpcCode, 3);
    assert.equal(e.reason, "LAYER_OUT_OF_RANGE");
    assert.equal(e.errorReason, ErrorReason.LAYER_OUT_OF_RANGE);
    assert.equal(e.domain, "interp.v1");
    assert.deepEqual(e.metadata, { k: "v" });
    assert.deepEqual(e.fieldViolations, [{ field: "selection.layers[0]", description: "40 is outside [0, 30)" }]);
    assert.deepEqual(e.fields, ["selection.layers[0]"]);
    assert.equal(e.rawMessage, "selection.layers[0]: 40 is outside [0, 30)");
    assert.equal(e.message, "INVALID_ARGUMENT (LAYER_OUT_OF_RANGE): selection.layers[0]: 40 is outside [0, 30)");
    assert.equal(e.cause, ce);
  });

  test("errors without details, unknown reasons, aborts and plain errors", () => {
    const bare = toInterpError(new ConnectError("gone", Code.Unavailable));
    assert.deepEqual([bare.code, bare.reason, bare.errorReason, bare.fieldViolations], ["UNAVAILABLE", "", ErrorReason.UNSPECIFIED, []]);
    const future = toInterpError(
      new ConnectError("x", Code.NotFound, undefined, [{ desc: ErrorInfoSchema, value: { reason: "SOMETHING_NEW", domain: "interp.v1" } }]),
    );
    assert.deepEqual([future.code, future.reason, future.errorReason], ["NOT_FOUND", "SOMETHING_NEW", ErrorReason.UNSPECIFIED]);
    assert.equal(toInterpError(new DOMException("stop", "AbortError")).code, "CANCELLED");
    assert.equal(toInterpError(new Error("boom")).code, "UNKNOWN");
    const same = new InterpError({ code: "INTERNAL", message: "m" });
    assert.equal(toInterpError(same), same);
  });
});

/** An in-process gRPC server (Connect's node adapter over HTTP/2) that answers like the fleet. */
describe("client against an in-process gRPC server", () => {
  let server: http2.Http2Server;
  let endpoint = "";
  const attempts = { tokenize: 0, runModel: 0 };
  let serverSawCancel = false;
  /** The deadline the last DeleteTensors call told the server (ms left), if any. */
  let deleteTimeoutMs: number | undefined;
  const invalid = (field: string) =>
    new ConnectError(`${field}: bad`, Code.InvalidArgument, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "HOOK_SITE_UNKNOWN", domain: "interp.v1" } },
      { desc: BadRequestSchema, value: { fieldViolations: [{ field, description: "bad" }] } },
    ]);

  before(async () => {
    const routes = (router: ConnectRouter) =>
      router.service(ModelHostService, {
        listModels(_req, ctx) {
          if (ctx.requestHeader.get("x-api-key") !== "k-test") {
            throw new ConnectError("no API key", Code.Unauthenticated, undefined, [
              { desc: ErrorInfoSchema, value: { reason: "API_KEY_MISSING", domain: "interp.v1" } },
            ]);
          }
          return { models: [{ name: "toy", loaded: true }] };
        },
        getModelInfo() {
          throw invalid("capture[0]");
        },
        tokenize() {
          attempts.tokenize += 1;
          if (attempts.tokenize < 3) throw new ConnectError("replica restarting", Code.Unavailable);
          return { tokenized: [{ tokens: ["a"] }] };
        },
        runModel() {
          attempts.runModel += 1;
          throw new ConnectError("replica restarting", Code.Unavailable);
        },
        async *generate(req, ctx) {
          if (req.model === "endless") {
            ctx.signal.addEventListener("abort", () => (serverSawCancel = true));
            for (let i = 0; !ctx.signal.aborted && i < 10_000; i++) {
              yield { event: { case: "token", value: { text: "x", position: i } } };
              await new Promise((resolve) => setTimeout(resolve, 5));
            }
            return;
          }
          yield { event: { case: "token", value: { text: "a" } } };
          yield { event: { case: "token", value: { text: "b" } } };
          throw new ConnectError("max_new_tokens: too many", Code.InvalidArgument, undefined, [
            { desc: ErrorInfoSchema, value: { reason: "MAX_NEW_TOKENS_OUT_OF_RANGE", domain: "interp.v1" } },
            { desc: BadRequestSchema, value: { fieldViolations: [{ field: "max_new_tokens", description: "too many" }] } },
          ]);
        },
        async *loadModel() {
          yield { stage: "loading", progress: 0.5 };
          yield { stage: "ready", progress: 1, info: { name: "toy", numLayers: 2 } };
        },
      }).service(StorageService, {
        // A backend that never answers: only the caller's deadline ends the call.
        async readTensors(_req, ctx) {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          return {};
        },
        deleteTensors(req, ctx) {
          deleteTimeoutMs = ctx.timeoutMs();
          return { deleted: req.objects.length };
        },
      });
    server = http2.createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("sends the API key and decodes rich errors of unary calls", async () => {
    const c = new InterpClient({ endpoint, apiKey: "k-test", timeoutMs: 10_000 });
    try {
      assert.equal(c.baseUrl, `http://${endpoint}`);
      const { models } = await c.modelHost.listModels({});
      assert.deepEqual(models.map((m) => m.name), ["toy"]);
      const e = await c.modelHost.getModelInfo({ model: "toy" }).catch((x: unknown) => x);
      assert.ok(e instanceof InterpError);
      assert.deepEqual([e.code, e.reason, e.fields], ["INVALID_ARGUMENT", "HOOK_SITE_UNKNOWN", ["capture[0]"]]);
    } finally {
      c.close();
    }
    const anonymous = new InterpClient({ endpoint, apiKey: "", retries: 1 });
    try {
      const e = await anonymous.modelHost.listModels({}).catch((x: unknown) => x);
      assert.ok(e instanceof InterpError);
      assert.deepEqual([e.code, e.reason], ["UNAUTHENTICATED", "API_KEY_MISSING"]);
    } finally {
      anonymous.close();
    }
  });

  test("retries UNAVAILABLE, except for calls that write to the store", async () => {
    const c = new InterpClient({ endpoint, apiKey: "k-test", retries: 3 });
    try {
      const r = await c.modelHost.tokenize({ model: "toy" });
      assert.deepEqual(r.tokenized[0]!.tokens, ["a"]);
      assert.equal(attempts.tokenize, 3);
      const e = await c.modelHost
        .runModel({ model: "toy", ...capture(["x"], { delivery: "store" }) })
        .catch((x: unknown) => x);
      assert.ok(e instanceof InterpError && e.code === "UNAVAILABLE");
      assert.equal(attempts.runModel, 1);
    } finally {
      c.close();
    }
  });

  test("server streams are async iterables whose errors are InterpErrors", async () => {
    const c = new InterpClient({ endpoint, apiKey: "k-test" });
    try {
      const seen: string[] = [];
      const e = await (async () => {
        for await (const ev of c.modelHost.generate({ model: "toy" })) {
          if (ev.event.case === "token") seen.push(ev.event.value.text);
        }
      })().catch((x: unknown) => x);
      assert.deepEqual(seen, ["a", "b"]);
      assert.ok(e instanceof InterpError);
      assert.deepEqual([e.code, e.reason, e.fields], ["INVALID_ARGUMENT", "MAX_NEW_TOKENS_OUT_OF_RANGE", ["max_new_tokens"]]);
      const events = await collect(c.modelHost.loadModel({ model: "toy" }));
      assert.equal(events.at(-1)!.info!.numLayers, 2);
      const noResult = await finalResult(c.modelHost.generate({ model: "toy" })).catch((x: unknown) => x);
      assert.ok(noResult instanceof InterpError && noResult.code === "INVALID_ARGUMENT");
    } finally {
      c.close();
    }
  });

  test("leaving a stream early cancels the call on the server", async () => {
    const c = new InterpClient({ endpoint, apiKey: "k-test" });
    try {
      let n = 0;
      for await (const ev of c.modelHost.generate({ model: "endless" })) {
        assert.equal(ev.event.case, "token");
        if (++n === 3) break;
      }
      for (let i = 0; i < 100 && !serverSawCancel; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(serverSawCancel, "the server's handler was not cancelled");
    } finally {
      c.close();
    }
  });

  test("an unreachable endpoint is UNAVAILABLE", async () => {
    const probe = http2.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const c = new InterpClient({ endpoint: `127.0.0.1:${port}`, apiKey: "x", retries: 1 });
    try {
      const e = await c.modelHost.listModels({}).catch((x: unknown) => x);
      assert.ok(e instanceof InterpError);
      assert.equal(e.code, "UNAVAILABLE");
    } finally {
      c.close();
    }
  });

  test("every call has a deadline: 300 s by default (the Python SDK's), the client's, or the call's own", async () => {
    const byDefault = new InterpClient({ endpoint, apiKey: "k-test" });
    try {
      assert.equal(await byDefault.deleteTensors([]), 0);
      // the server is told the time left: a little under 300 s
      assert.ok(deleteTimeoutMs !== undefined && deleteTimeoutMs > 290_000 && deleteTimeoutMs <= 300_000, String(deleteTimeoutMs));
    } finally {
      byDefault.close();
    }
    const short = new InterpClient({ endpoint, apiKey: "k-test", timeoutMs: 300 });
    try {
      const started = Date.now();
      const e = await short.readTensors([]).catch((x: unknown) => x);
      assert.ok(e instanceof InterpError, String(e));
      assert.equal(e.code, "DEADLINE_EXCEEDED");
      assert.ok(Date.now() - started < 5_000, `the call took ${Date.now() - started} ms`);
      const stream = await collect(short.modelHost.generate({ model: "endless" })).catch((x: unknown) => x);
      assert.ok(stream instanceof InterpError && stream.code === "DEADLINE_EXCEEDED", String(stream));
      assert.equal(await short.deleteTensors([], { timeoutMs: 60_000 }), 0);
      assert.ok(deleteTimeoutMs !== undefined && deleteTimeoutMs > 50_000 && deleteTimeoutMs <= 60_000, String(deleteTimeoutMs));
    } finally {
      short.close();
    }
  });

  test("endpoint, key and TLS defaults come from the environment", () => {
    const saved = { ...process.env };
    try {
      process.env.INTERP_ENDPOINT = "example.org:443";
      process.env.INTERP_API_KEY = "env-key";
      process.env.INTERP_TLS = "1";
      const c = new InterpClient();
      assert.deepEqual([c.endpoint, c.baseUrl, c.apiKey], ["example.org:443", "https://example.org:443", "env-key"]);
      c.close();
      delete process.env.INTERP_ENDPOINT;
      delete process.env.INTERP_TLS;
      const d = new InterpClient({ apiKey: "explicit" });
      assert.deepEqual([d.baseUrl, d.apiKey], ["http://127.0.0.1:50051", "explicit"]);
      d.close();
    } finally {
      process.env = saved;
    }
  });
});

/** TLS: a self-signed certificate made with openssl (skipped where openssl is missing). */
describe("client over TLS", () => {
  let dir = "";
  let server: http2.Http2SecureServer | undefined;
  let endpoint = "";
  const openssl = spawnSync("openssl", ["version"]).status === 0;

  before(async () => {
    if (!openssl) return;
    dir = mkdtempSync(join(tmpdir(), "interp-tls-"));
    const r = spawnSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "ca.pem"), "-subj", "/CN=localhost",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-addext", "basicConstraints=critical,CA:TRUE",
    ]);
    assert.equal(r.status, 0, String(r.stderr));
    const routes = (router: ConnectRouter) =>
      router.service(ModelHostService, { listModels: () => ({ models: [{ name: "over-tls" }] }) });
    server = http2.createSecureServer(
      { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "ca.pem")), allowHTTP1: false },
      connectNodeAdapter({ routes }),
    );
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a trusted CA file connects over https; plain text or an untrusted certificate is UNAVAILABLE", { skip: !openssl && "openssl is not installed" }, async () => {
    const c = new InterpClient({ endpoint, apiKey: "k", ca: join(dir, "ca.pem") });
    try {
      assert.equal(c.baseUrl, `https://${endpoint}`);
      assert.deepEqual((await c.modelHost.listModels({})).models.map((m) => m.name), ["over-tls"]);
    } finally {
      c.close();
    }
    for (const options of [{ tls: false }, { tls: true }]) {
      const bad = new InterpClient({ endpoint, apiKey: "k", retries: 1, timeoutMs: 5_000, ...options });
      try {
        const e = await bad.modelHost.listModels({}).catch((x: unknown) => x);
        assert.ok(e instanceof InterpError, String(e));
        assert.equal(e.code, "UNAVAILABLE", `${JSON.stringify(options)}: ${e.message}`);
      } finally {
        bad.close();
      }
    }
  });
});
