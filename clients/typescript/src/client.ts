/**
 * The TypeScript client of the interpretability fleet: one gRPC (HTTP/2) connection to the
 * gateway, an `x-api-key` on every call, a default deadline, and a typed client per service.
 *
 * @example
 * const c = new InterpClient({endpoint: "127.0.0.1:50051", apiKey: "interp-dev-key"});
 * const {tokenized} = await c.modelHost.tokenize({model: "smollm2-135m", texts: {texts: ["Hi there"]}});
 * for await (const ev of c.modelHost.generate({model: "smollm2-135m", input: {case: "text", value: "Hi"}, maxNewTokens: 4})) {
 *   if (ev.event.case === "token") process.stdout.write(ev.event.value.text);
 * }
 * c.close();
 *
 * Unary RPCs return promises; server-streaming RPCs (LoadModel, Generate, Attribute and the
 * progress-streaming analyses of the activations, probing and circuits services) return async
 * iterables: leaving the loop early cancels the call on the server. Every failure rejects (or
 * throws from the loop) with an {@link InterpError}.
 */

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { type CallOptions, type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { InterpError, toInterpError } from "./errors.js";
import { ActivationsService } from "./gen/interp/v1/activations_service_pb.js";
import { AttentionService } from "./gen/interp/v1/attention_service_pb.js";
import { AttributionService } from "./gen/interp/v1/attribution_service_pb.js";
import { CircuitsService } from "./gen/interp/v1/circuits_service_pb.js";
import { ModelHostService } from "./gen/interp/v1/model_host_service_pb.js";
import { ProbingService } from "./gen/interp/v1/probing_service_pb.js";
import { StorageService } from "./gen/interp/v1/storage_service_pb.js";
import { type ObjectRef, ResultDelivery, type Tensor } from "./gen/interp/v1/tensor_pb.js";
import { type DecodedTensor, decodeTensor, objectRef } from "./tensors.js";

/** Where a client connects when no endpoint is given and `$INTERP_ENDPOINT` is unset. */
export const DEFAULT_ENDPOINT = "127.0.0.1:50051";
/** Default deadline of a call: 300 s, as in the Python SDK. */
export const DEFAULT_TIMEOUT_MS = 300_000;

/** Options of {@link InterpClient}. */
export interface InterpClientOptions {
  /** `host:port` of the gateway (or an `http://` / `https://` URL); default `$INTERP_ENDPOINT`,
   * else `127.0.0.1:50051`. */
  endpoint?: string;
  /** Sent as `x-api-key`; default `$INTERP_API_KEY`, else the key a local fleet on a loopback
   * endpoint published in its runtime file (as the Python SDK does). `""` sends no key. */
  apiKey?: string;
  /** Connect over TLS (`https://`); default `$INTERP_TLS` (`1`/`true`/`yes`), and true when a
   * CA is given or the endpoint is an `https://` URL. */
  tls?: boolean;
  /** PEM of the certificate authorities to trust, or a path to it (default `$INTERP_CA_FILE`;
   * the system's roots when unset). */
  ca?: string | Buffer;
  /** Default deadline per call in milliseconds (override per call with `{timeoutMs}`);
   * default 300 000. */
  timeoutMs?: number;
  /** Attempts of a unary call that fails with UNAVAILABLE (default 3), with back-off. Calls
   * asking for `RESULT_DELIVERY_OBJECT_STORE` are tried once: each try writes new objects. */
  retries?: number;
  /** Largest message accepted from the server, in bytes (default 64 MiB, as the Python SDK). */
  maxMessageBytes?: number;
  /** Connect interceptors run on every call after the API-key one (logging, tracing, ...). */
  interceptors?: Interceptor[];
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** The key a local fleet on `endpoint` published (`$INTERP_RUNTIME_DIR/fleet-<port>.json`). */
export function localFleetKey(endpoint: string): string | undefined {
  const i = endpoint.lastIndexOf(":");
  const host = endpoint.slice(0, i);
  const port = endpoint.slice(i + 1);
  if (i < 0 || !LOOPBACK.has(host) || !/^\d+$/.test(port)) return undefined;
  const dir = process.env.INTERP_RUNTIME_DIR || join(homedir(), ".local", "share", "interp-suite", "runtime");
  try {
    const data: unknown = JSON.parse(readFileSync(join(dir, `fleet-${Number(port)}.json`), "utf8"));
    const key = typeof data === "object" && data !== null ? (data as { api_key?: unknown }).api_key : undefined;
    return typeof key === "string" && key ? key : undefined;
  } catch {
    return undefined;
  }
}

function truthy(v: string | undefined): boolean {
  return ["1", "true", "yes"].includes((v ?? "").toLowerCase());
}

/** A service client whose calls reject with {@link InterpError}. */
export type ServiceClient<S extends DescService> = Client<S>;

/**
 * The public services of the fleet, by the {@link InterpClient} field that serves each: the one
 * place a service is named, so a new one is one line here (tests/test_sdk_typescript.py compares
 * this table with the server's registry, and the fleet suite calls every method in it).
 */
export const SERVICES = {
  /** interp.v1.ModelHostService: models, tokenization, RunModel, Generate (streaming), LoadModel (streaming). */
  modelHost: ModelHostService,
  /** interp.v1.AttentionService. */
  attention: AttentionService,
  /** interp.v1.AttributionService: Attribute (streaming), ListAttributionMethods. */
  attribution: AttributionService,
  /** interp.v1.ActivationsService: four streaming analyses and LogitLens. */
  activations: ActivationsService,
  /** interp.v1.ProbingService: ProbeRepresentations and CompareRepresentations (streaming). */
  probing: ProbingService,
  /** interp.v1.CircuitsService: PatchPaths and DetectHeads (unary), the rest streaming. */
  circuits: CircuitsService,
  /** interp.v1.StorageService: ReadTensors, DeleteTensors. */
  storage: StorageService,
} as const;

/** A typed client per entry of {@link SERVICES}: the service fields of {@link InterpClient}. */
export type ServiceClients = { readonly [K in keyof typeof SERVICES]: ServiceClient<(typeof SERVICES)[K]> };

/** The service fields of {@link InterpClient}, declared from {@link SERVICES} (merged into the
 * class; its constructor assigns them). */
export interface InterpClient extends ServiceClients {}

/**
 * A connection to the gateway with a typed client per service (`modelHost`, `attention`, ...:
 * the keys of {@link SERVICES}). Create one per endpoint and reuse it (calls share one HTTP/2
 * connection); `close()` ends the connection.
 */
export class InterpClient {
  /** `host:port` or URL of the gateway. */
  readonly endpoint: string;
  /** The base URL used (`http://host:port` or `https://host:port`). */
  readonly baseUrl: string;
  /** The API key sent, if any. */
  readonly apiKey: string | undefined;
  /** Default deadline per call in milliseconds. */
  readonly timeoutMs: number;
  /** The Connect transport (gRPC over HTTP/2), for clients of other services. */
  readonly transport: Transport;

  private readonly sessions: Http2SessionManager;
  private readonly retries: number;
  private healthClient: Client<DescService> | undefined;

  constructor(options: InterpClientOptions = {}) {
    const endpoint = options.endpoint || process.env.INTERP_ENDPOINT || DEFAULT_ENDPOINT;
    this.endpoint = endpoint;
    let ca = options.ca ?? (process.env.INTERP_CA_FILE || undefined);
    if (typeof ca === "string" && !ca.includes("-----BEGIN")) ca = readFileSync(ca);
    const scheme = /^(https?):\/\//.exec(endpoint)?.[1];
    const tls = options.tls ?? (scheme === "https" || ca !== undefined || truthy(process.env.INTERP_TLS));
    const hostPort = endpoint.replace(/^https?:\/\//, "").replace(/\/+$/, "");
    this.baseUrl = `${tls ? "https" : "http"}://${hostPort}`;
    this.apiKey = options.apiKey ?? (process.env.INTERP_API_KEY || localFleetKey(hostPort));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = Math.max(1, options.retries ?? 3);
    const maxBytes = options.maxMessageBytes ?? 64 << 20;

    this.sessions = new Http2SessionManager(this.baseUrl, {}, ca !== undefined ? { ca } : {});
    const key = this.apiKey;
    const apiKey: Interceptor = (next) => (req) => {
      if (key) req.header.set("x-api-key", key);
      return next(req);
    };
    this.transport = createGrpcTransport({
      baseUrl: this.baseUrl,
      sessionManager: this.sessions,
      interceptors: [apiKey, ...(options.interceptors ?? [])],
      defaultTimeoutMs: this.timeoutMs,
      readMaxBytes: maxBytes,
      writeMaxBytes: maxBytes,
    });
    for (const [name, desc] of Object.entries(SERVICES)) (this as Record<string, unknown>)[name] = this.service(desc);
  }

  /**
   * A typed client of any service on this connection, with the SDK's error translation and
   * retries (the services above are made this way).
   */
  service<S extends DescService>(desc: S): ServiceClient<S> {
    return wrapClient(desc, createClient(desc, this.transport), this.retries);
  }

  /** End the connection (open calls fail). */
  close(): void {
    this.sessions.abort();
  }

  // -- storage ------------------------------------------------------------------------------------

  /** Read stored tensors (returned `Tensor`s or bare `ObjectRef`s) as inline Tensors, in order. */
  async readTensors(items: readonly (Tensor | ObjectRef)[], options?: CallOptions): Promise<Tensor[]> {
    const objects = items.map(objectRef);
    return (await this.storage.readTensors({ objects }, options)).tensors;
  }

  /** Delete stored tensors now instead of waiting for the store's time-to-live; the number
   * removed or already gone. */
  async deleteTensors(items: readonly (Tensor | ObjectRef)[], options?: CallOptions): Promise<number> {
    const objects = items.map(objectRef);
    return (await this.storage.deleteTensors({ objects }, options)).deleted;
  }

  /** A returned Tensor as a typed array, read from the store first if it is a reference. */
  async toArray(t: Tensor, options?: CallOptions): Promise<DecodedTensor> {
    if (t.data.case === "object") {
      const [inline] = await this.readTensors([t], options);
      return decodeTensor(inline!);
    }
    return decodeTensor(t);
  }

  // -- health -------------------------------------------------------------------------------------

  /**
   * The standard gRPC health status of the endpoint (`service` `""`) or of one service (e.g.
   * `"interp.v1.ModelHostService"`): `"SERVING"`, `"NOT_SERVING"`, ...
   */
  async health(service = "", options: CallOptions = {}): Promise<string> {
    this.healthClient ??= wrapClient(HEALTH.service, createClient(HEALTH.service, this.transport), this.retries);
    const check = this.healthClient.check as unknown as (req: { service: string }, o?: CallOptions) => Promise<{ status: number }>;
    const res = await check({ service }, { timeoutMs: 5_000, ...options });
    return HEALTH.statusNames[res.status] ?? `UNKNOWN_STATUS_${res.status}`;
  }
}

// -- plumbing ---------------------------------------------------------------------------------------

type AnyFn = (request: unknown, options?: CallOptions) => unknown;

/** Whether a unary request may be sent again: not when it asks for its tensors in the store. */
function repeatable(request: unknown): boolean {
  const r = request as { delivery?: unknown; options?: { delivery?: unknown } } | undefined;
  return r?.delivery !== ResultDelivery.OBJECT_STORE && r?.options?.delivery !== ResultDelivery.OBJECT_STORE;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Node error codes of a connection that could not be made or was lost (TLS included). */
const CONNECTION_LOST = /^(ECONNRESET|EPIPE|ERR_HTTP2_|ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

function nodeErrorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

/**
 * The InterpError of a failed call. Failures of the connection itself that Connect reports as
 * CANCELLED (an HTTP/2 stream reset the caller did not ask for, e.g. a plain-text client at a TLS
 * port), ABORTED (a reset connection) or INTERNAL (a TLS certificate not trusted) are reported
 * as UNAVAILABLE, the code gRPC's own clients give them — and the one retries act on. Errors the
 * server sent keep their code.
 */
function callError(e: unknown, signal: AbortSignal | undefined): InterpError {
  const err = toInterpError(e);
  const wire = (err.cause as { isWireError?: boolean } | undefined)?.isWireError === true;
  if (wire || signal?.aborted) return err;
  const lost =
    err.code === "CANCELLED" ||
    ((err.code === "ABORTED" || err.code === "INTERNAL") && nodeErrorCodes(err.cause).some((c) => CONNECTION_LOST.test(c)));
  return lost ? new InterpError({ code: "UNAVAILABLE", message: `connection failed: ${err.rawMessage}`, cause: err.cause }) : err;
}

/** Wrap a Connect client: unary calls retried on UNAVAILABLE and rejected with InterpError,
 * streams rethrowing InterpError (and cancelling the call when the consumer stops early). */
function wrapClient<S extends DescService>(desc: S, raw: Client<S>, retries: number): Client<S> {
  const calls = raw as unknown as Record<string, AnyFn>;
  const out: Record<string, AnyFn> = {};
  for (const method of desc.methods) {
    const fn = calls[method.localName]!;
    if (method.methodKind === "unary") {
      out[method.localName] = async (request, options) => {
        const attempts = repeatable(request) ? retries : 1;
        for (let attempt = 0; ; attempt++) {
          try {
            return await fn(request, options);
          } catch (e) {
            const err = callError(e, options?.signal);
            if (err.code === "UNAVAILABLE" && attempt + 1 < attempts && !options?.signal?.aborted) {
              await sleep(Math.min(2000, 200 * 2 ** attempt) * (0.5 + Math.random()));
              continue;
            }
            throw err;
          }
        }
      };
    } else if (method.methodKind === "server_streaming") {
      out[method.localName] = (request, options) =>
        (async function* () {
          try {
            yield* fn(request, options) as AsyncIterable<unknown>;
          } catch (e) {
            throw callError(e, options?.signal);
          }
        })();
    } else {
      out[method.localName] = fn; // no client- or bidi-streaming methods in the contract
    }
  }
  return out as unknown as Client<S>;
}

// -- streams ----------------------------------------------------------------------------------------

type EventCase = { case: string; value: unknown } | { case: undefined; value?: undefined };
type EventOf<M> = M extends { event: infer E } ? E : never;
/** The result type of a progress-then-result stream message (its `event` oneof's `result`). */
export type ResultOf<M> = Extract<EventOf<M>, { case: "result" }> extends { value: infer R } ? R : never;
/** The other events of such a stream (progress, or Generate's tokens). */
export type ProgressOf<M> = Exclude<EventOf<M>, { case: "result" } | { case: undefined }> extends { value: infer P } ? P : never;

/**
 * The result of a stream of progress events closed by one result (Attribute, the activations,
 * probing and circuits analyses, Generate); `onProgress` sees every other event.
 *
 * @example const circuit = await finalResult(c.circuits.discoverCircuit(req), (p) => console.error(p.stage));
 */
export async function finalResult<M extends { event: EventCase }>(
  events: AsyncIterable<M>,
  onProgress?: (event: ProgressOf<M>) => void,
): Promise<ResultOf<M>> {
  for await (const m of events) {
    if (m.event.case === "result") return m.event.value as ResultOf<M>;
    if (m.event.case !== undefined) onProgress?.(m.event.value as ProgressOf<M>);
  }
  throw new InterpError({ code: "UNAVAILABLE", reason: "BACKEND_UNAVAILABLE", message: "the stream ended without a result" });
}

/** Every message of a stream, in order. */
export async function collect<M>(events: AsyncIterable<M>): Promise<M[]> {
  const out: M[] = [];
  for await (const m of events) out.push(m);
  return out;
}

// -- grpc.health.v1 -----------------------------------------------------------------------------------

/** grpc/health/v1/health.proto's Check, described here (the file is not part of the contract). */
const HEALTH = (() => {
  const file = create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      { name: "HealthCheckRequest", field: [{ name: "service", number: 1, label: 1, type: 9, jsonName: "service" }] },
      {
        name: "HealthCheckResponse",
        field: [{ name: "status", number: 1, label: 1, type: 14, typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus", jsonName: "status" }],
        enumType: [
          {
            name: "ServingStatus",
            value: [
              { name: "UNKNOWN", number: 0 },
              { name: "SERVING", number: 1 },
              { name: "NOT_SERVING", number: 2 },
              { name: "SERVICE_UNKNOWN", number: 3 },
            ],
          },
        ],
      },
    ],
    service: [
      {
        name: "Health",
        method: [{ name: "Check", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse" }],
      },
    ],
  });
  const registry = createFileRegistry(file, () => undefined);
  const service = registry.getService("grpc.health.v1.Health")!;
  return { service, statusNames: ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] };
})();
