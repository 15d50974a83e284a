/**
 * Typed errors: every failed call of the SDK rejects with an {@link InterpError} that carries the
 * gRPC code and the server's `google.rpc.Status` details — the `ErrorInfo` reason (one of the
 * contract's `interp.v1.ErrorReason` names without the `ERROR_REASON_` prefix), its domain and
 * metadata, and the `BadRequest` field violations.
 *
 * @example
 * try {
 *   await client.attention.analyzeAttention({model: "smollm2-135m", text: "Hi", selection: {layers: [40]}});
 * } catch (e) {
 *   if (e instanceof InterpError && e.reason === "LAYER_OUT_OF_RANGE") console.log(e.fieldViolations[0].field);
 * }
 */

import { Code, ConnectError } from "@connectrpc/connect";

import { ErrorReason } from "./gen/interp/v1/error_reason_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/third_party/google/rpc/error_details_pb.js";

/** gRPC status code names, indexed by code number (Connect's `Code` uses the same numbers). */
const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** A gRPC status code name, e.g. `"INVALID_ARGUMENT"`. */
export type StatusCodeName = (typeof CODE_NAMES)[number];

/** One offending request field, as the server's `google.rpc.BadRequest` names it. */
export interface FieldViolation {
  /** Path of the field, e.g. `"selection.layers[0]"`. */
  field: string;
  /** What is wrong with it. */
  description: string;
}

/** Everything an {@link InterpError} is built from (all but `message` and `code` optional). */
export interface InterpErrorInit {
  code: StatusCodeName;
  message: string;
  reason?: string;
  domain?: string;
  metadata?: Record<string, string>;
  fieldViolations?: FieldViolation[];
  cause?: unknown;
}

/** A call the server (or the transport) refused. */
export class InterpError extends Error {
  override name = "InterpError";
  /** gRPC status code name, e.g. `"INVALID_ARGUMENT"`. */
  readonly code: StatusCodeName;
  /** gRPC status code number (equal to Connect's `Code`; `INVALID_ARGUMENT` is 3). */
  readonly grpcCode: number;
  /** The server's `ErrorInfo.reason`, e.g. `"LAYER_OUT_OF_RANGE"`; `""` when it sent none. */
  readonly reason: string;
  /** The reason as the contract's enum (`ErrorReason.UNSPECIFIED` when absent or unknown). */
  readonly errorReason: ErrorReason;
  /** `ErrorInfo.domain` (`"interp.v1"` for the fleet's own errors). */
  readonly domain: string;
  /** `ErrorInfo.metadata`, e.g. `{error_id: "..."}` of an INTERNAL error. */
  readonly metadata: Record<string, string>;
  /** `BadRequest.field_violations`. */
  readonly fieldViolations: FieldViolation[];
  /** The status message without the code and reason in front. */
  readonly rawMessage: string;

  constructor(init: InterpErrorInit) {
    const reason = init.reason ?? "";
    super(`${init.code}${reason ? ` (${reason})` : ""}: ${init.message}`, { cause: init.cause });
    this.code = init.code;
    this.grpcCode = CODE_NAMES.indexOf(init.code);
    this.reason = reason;
    this.errorReason = reasonValue(reason);
    this.domain = init.domain ?? "";
    this.metadata = { ...(init.metadata ?? {}) };
    this.fieldViolations = [...(init.fieldViolations ?? [])];
    this.rawMessage = init.message;
  }

  /** The fields the server named, e.g. `["selection.layers[0]"]`. */
  get fields(): string[] {
    return this.fieldViolations.map((v) => v.field);
  }
}

/** The contract's enum value of a reason name (`"LAYER_OUT_OF_RANGE"` -> 40); UNSPECIFIED if unknown. */
export function reasonValue(reason: string): ErrorReason {
  const value = (ErrorReason as unknown as Record<string, unknown>)[reason];
  return typeof value === "number" ? (value as ErrorReason) : ErrorReason.UNSPECIFIED;
}

/** The reason name of an enum value (`40` -> `"LAYER_OUT_OF_RANGE"`); `""` for UNSPECIFIED. */
export function reasonName(value: ErrorReason): string {
  return value === ErrorReason.UNSPECIFIED ? "" : (ErrorReason[value] ?? "");
}

/** The gRPC code name of a Connect `Code` (or any gRPC code number). */
export function codeName(code: Code | number): StatusCodeName {
  return CODE_NAMES[code] ?? "UNKNOWN";
}

/**
 * Translate anything a call threw into an {@link InterpError}: a `ConnectError` with its
 * `ErrorInfo` and `BadRequest` details decoded, an `InterpError` as is, anything else as
 * UNKNOWN (an aborted call as CANCELLED).
 */
export function toInterpError(err: unknown): InterpError {
  if (err instanceof InterpError) return err;
  const ce = ConnectError.from(err);
  let reason = "";
  let domain = "";
  let metadata: Record<string, string> = {};
  const info = ce.findDetails(ErrorInfoSchema)[0];
  if (info) {
    reason = info.reason;
    domain = info.domain;
    metadata = { ...info.metadata };
  }
  const fieldViolations = ce
    .findDetails(BadRequestSchema)
    .flatMap((br) => br.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
  return new InterpError({
    code: codeName(ce.code),
    message: ce.rawMessage,
    reason,
    domain,
    metadata,
    fieldViolations,
    cause: err,
  });
}

export { Code };
