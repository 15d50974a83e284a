/**
 * Builders for the typed pieces of a model-host request — interventions, metrics, capture specs
 * and inputs — mirroring the Python SDK's `interpretability.experiments`. Every builder returns
 * the contract's own message (or init object), so what is built here is exactly what a Python or
 * Go user sends.
 *
 * Tensors are `Tensor` messages a previous call returned (inline or stored: pass them back
 * unchanged, a stored one is read from the store by the server), or typed arrays / number arrays
 * encoded inline as float32 (see `encodeTensor` for other types and shapes).
 *
 * @example
 * const clean = await c.modelHost.runModel({model, input: texts(["The capital of France is"]),
 *   ...capture(["blocks.6.hook_resid_pre"], {delivery: "store"})});
 * const src = clean.activations[0].tensor!;           // an ObjectRef-backed Tensor
 * const out = await c.modelHost.runModel({model, input: texts(["The capital of Italy is"]),
 *   interventions: [patch("blocks.6.hook_resid_pre", src)], topK: 1});
 */

import { create, type MessageInitShape } from "@bufbuild/protobuf";

import {
  type Intervention,
  InterventionSchema,
  type Metric,
  MetricSchema,
  type RunModelRequestSchema,
  ScoreKind,
} from "./gen/interp/v1/model_host_service_pb.js";
import { ResultDelivery, type Tensor } from "./gen/interp/v1/tensor_pb.js";
import { type DecodedTensor, encodeTensor, type TensorData } from "./tensors.js";

/** A tensor argument: a returned or built Tensor message (inline or stored), a decoded tensor,
 * or elements (encoded inline; number arrays as float32). */
export type TensorLike = Tensor | DecodedTensor | TensorData | readonly number[];

/** Which entries an intervention changes: the product of its selections (empty: all). */
export interface Selection {
  /** Sequence positions (query positions for `attn.hook_pattern`). */
  positions?: readonly number[];
  /** Heads, for sites with a head dimension. */
  heads?: readonly number[];
  /** Sequences of the request's batch (indices from 0). */
  sequences?: readonly number[];
  /** Key positions, for `attn.hook_pattern` only. */
  keyPositions?: readonly number[];
  /** Entries of the site's last axis (MLP neurons, residual dimensions). */
  neurons?: readonly number[];
}

type Action = NonNullable<MessageInitShape<typeof InterventionSchema>["action"]>;

/** Coerce a tensor argument to a Tensor message. */
export function toTensor(t: TensorLike): Tensor {
  if (isTensorMessage(t)) return t;
  if (isDecoded(t)) return encodeTensor(t.data, t.shape, { dtype: t.dtype, dimNames: t.dimNames });
  return encodeTensor(t as TensorData | readonly number[]);
}

function isTensorMessage(t: unknown): t is Tensor {
  return typeof t === "object" && t !== null && (t as { $typeName?: string }).$typeName === "interp.v1.Tensor";
}

function isDecoded(t: unknown): t is DecodedTensor {
  return typeof t === "object" && t !== null && "shape" in t && "data" in t && "dtype" in t && !ArrayBuffer.isView(t);
}

function intervention(hookSite: string, sel: Selection, action: Action, sourceSequences: readonly number[] = []): Intervention {
  return create(InterventionSchema, {
    hookSite,
    positions: [...(sel.positions ?? [])],
    heads: [...(sel.heads ?? [])],
    sequences: [...(sel.sequences ?? [])],
    keyPositions: [...(sel.keyPositions ?? [])],
    neurons: [...(sel.neurons ?? [])],
    sourceSequences: [...sourceSequences],
    action,
  });
}

/** Zero the selected entries of a site. */
export function zeroAblate(hookSite: string, sel: Selection = {}): Intervention {
  return intervention(hookSite, sel, { case: "zeroAblation", value: {} });
}

/**
 * Replace the selected entries with a mean: `mean` given (shaped like one position of the
 * site), computed on the server from `referenceTexts`, or (neither) this request's own mean
 * over its real tokens.
 */
export function meanAblate(
  hookSite: string,
  opts: Selection & { mean?: TensorLike; referenceTexts?: readonly string[] } = {},
): Intervention {
  const { mean, referenceTexts, ...sel } = opts;
  const value =
    mean !== undefined
      ? { mean: toTensor(mean) }
      : referenceTexts && referenceTexts.length
        ? { referenceTexts: { texts: [...referenceTexts] } }
        : {};
  return intervention(hookSite, sel, { case: "meanAblation", value });
}

/**
 * Patch the selected entries from another run's activation at the same site: `source` is a
 * Tensor a previous call returned (inline or an object reference, passed back unchanged) or
 * elements shaped like the site's capture; or, with `source` null, from other sequences of
 * this same request (`sourceSequences`: one per changed sequence, or one for all). `keep`
 * keeps that fraction of the current activation (`keep * current + (1 - keep) * source`).
 */
export function patch(
  hookSite: string,
  source: TensorLike | null,
  opts: Selection & { sourceSequences?: readonly number[]; keep?: number } = {},
): Intervention {
  const { sourceSequences = [], keep = 0, ...sel } = opts;
  const value = source === null ? { keep } : { source: toTensor(source), keep };
  return intervention(hookSite, sel, { case: "patch", value }, sourceSequences);
}

/** A sender of an edge patch: a site name, or a site with the heads (summed) of `attn.hook_result`. */
export type EdgeSenderLike = string | { hookSite: string; heads?: readonly number[] };

/**
 * Patch only the edges from `senders` (sites writing to the residual stream) into `hookSite`
 * (`blocks.L.hook_q_input` / `hook_k_input` / `hook_v_input`, `blocks.L.hook_mlp_in`, the last
 * `hook_resid_post`): the site sees the senders' output in `sourceSequences` of this request.
 */
export function edgePatch(
  hookSite: string,
  senders: readonly EdgeSenderLike[],
  sourceSequences: readonly number[],
  opts: Omit<Selection, "keyPositions" | "neurons"> & { meanSource?: boolean } = {},
): Intervention {
  const { meanSource = false, ...sel } = opts;
  const value = {
    meanSource,
    senders: senders.map((s) => (typeof s === "string" ? { hookSite: s } : { hookSite: s.hookSite, heads: [...(s.heads ?? [])] })),
  };
  return intervention(hookSite, sel, { case: "edgePatch", value }, sourceSequences);
}

/** Add `scale * direction` to the selected entries (`direction` shaped like one position, or
 * one head where heads are selected). */
export function steer(hookSite: string, direction: TensorLike, scale = 1, sel: Omit<Selection, "keyPositions" | "neurons"> = {}): Intervention {
  return intervention(hookSite, sel, { case: "steering", value: { vector: toTensor(direction), scale } });
}

/** Multiply the selected entries by `factor` (e.g. attention-pattern entries, or MLP neurons). */
export function scale(hookSite: string, factor: number, sel: Selection = {}): Intervention {
  return intervention(hookSite, sel, { case: "scale", value: { factor } });
}

/** Add seeded Gaussian noise (the corruption step of causal tracing). */
export function noise(hookSite: string, std: number, opts: Omit<Selection, "keyPositions" | "neurons"> & { seed?: number | bigint } = {}): Intervention {
  const { seed = 0, ...sel } = opts;
  return intervention(hookSite, sel, { case: "noise", value: { std, seed: BigInt(seed) } });
}

// -- metrics ----------------------------------------------------------------------------------

/** `"log_prob"` (default), `"logit"` or `"prob"`. */
export type ScoreKindName = "log_prob" | "logit" | "prob";

const SCORE: Record<ScoreKindName, ScoreKind> = {
  log_prob: ScoreKind.LOG_PROB,
  logit: ScoreKind.LOGIT,
  prob: ScoreKind.PROBABILITY,
};

const ids = (v: number | bigint | readonly (number | bigint)[]) => (Array.isArray(v) ? v : [v]).map((x) => BigInt(x));

/** A target token's score at a position (default: each sequence's last real token); one id
 * shared by every sequence or one per sequence. */
export function tokenScore(
  tokenIds: number | bigint | readonly (number | bigint)[],
  opts: { positions?: readonly number[]; kind?: ScoreKindName } = {},
): Metric {
  return create(MetricSchema, {
    metric: { case: "token", value: { tokenIds: ids(tokenIds), positions: [...(opts.positions ?? [])], kind: SCORE[opts.kind ?? "log_prob"] } },
  });
}

/** `logit(correct) - logit(incorrect)`, the usual patching metric. */
export function logitDifference(
  correct: number | bigint | readonly (number | bigint)[],
  incorrect: number | bigint | readonly (number | bigint)[],
  opts: { positions?: readonly number[] } = {},
): Metric {
  return create(MetricSchema, {
    metric: {
      case: "logitDifference",
      value: { correctTokenIds: ids(correct), incorrectTokenIds: ids(incorrect), positions: [...(opts.positions ?? [])] },
    },
  });
}

/** A sequence-classification head's class score. */
export function classScore(classIndex: number | readonly number[], opts: { kind?: ScoreKindName } = {}): Metric {
  const classIndices = Array.isArray(classIndex) ? [...classIndex] : [classIndex as number];
  return create(MetricSchema, { metric: { case: "classScore", value: { classIndices, kind: SCORE[opts.kind ?? "log_prob"] } } });
}

/** One entry (`index` within a position, e.g. `[neuron]`) of a site, or its projection on
 * `direction`. */
export function activationScore(
  hookSite: string,
  opts: { index?: readonly number[]; direction?: TensorLike; positions?: readonly number[] } = {},
): Metric {
  return create(MetricSchema, {
    metric: {
      case: "activation",
      value: {
        hookSite,
        index: [...(opts.index ?? [])],
        positions: [...(opts.positions ?? [])],
        ...(opts.direction !== undefined ? { direction: toTensor(opts.direction) } : {}),
      },
    },
  });
}

// -- captures and inputs ---------------------------------------------------------------------

/** How captured tensors come back: `"inline"`, `"store"` (object references) or `"auto"`
 * (inline when small; the server's choice). */
export type DeliveryName = "inline" | "store" | "auto";

const DELIVERY: Record<DeliveryName, ResultDelivery> = {
  auto: ResultDelivery.UNSPECIFIED,
  inline: ResultDelivery.INLINE,
  store: ResultDelivery.OBJECT_STORE,
};

/** A ResultDelivery from its short name. */
export function delivery(name: DeliveryName): ResultDelivery {
  const d = DELIVERY[name];
  if (d === undefined) throw new TypeError(`unknown delivery ${JSON.stringify(name)}; known: inline, store, auto`);
  return d;
}

/** The capture fields of a RunModel (or Generate) request, to spread into it. */
export type CaptureSpec = Pick<MessageInitShape<typeof RunModelRequestSchema>, "capture" | "delivery" | "maxInlineBytes" | "capturePooling">;

/**
 * Capture `sites`: `{delivery: "store"}` returns object references, `"inline"` raw bytes,
 * `"auto"` (default) lets the server choose by size (`maxInlineBytes`). `pools` (RunModel only):
 * `[sequence, positions]` pairs; each site then comes back as `[pool, ...]`, the mean over each
 * pool's positions.
 *
 * @example runModel({model, input: texts([t]), ...capture(["blocks.3.hook_resid_post"], {delivery: "store"})})
 */
export function capture(
  sites: readonly string[],
  opts: { delivery?: DeliveryName; maxInlineBytes?: number | bigint; pools?: readonly (readonly [number, readonly number[]])[] } = {},
): CaptureSpec {
  const spec: CaptureSpec = {
    capture: [...sites],
    delivery: delivery(opts.delivery ?? "auto"),
    maxInlineBytes: BigInt(opts.maxInlineBytes ?? 0),
  };
  if (opts.pools) {
    spec.capturePooling = { pools: opts.pools.map(([sequence, positions]) => ({ sequence, positions: [...positions] })) };
  }
  return spec;
}

/** The `input` of a RunModel request from texts (each its own sequence). */
export function texts(items: readonly string[]): { case: "texts"; value: { texts: string[] } } {
  return { case: "texts", value: { texts: [...items] } };
}

/** The `input` of a RunModel request from token-id sequences (all of one length). */
export function tokens(sequences: readonly (readonly (number | bigint)[])[]): { case: "tokens"; value: { sequences: { ids: bigint[] }[] } } {
  return { case: "tokens", value: { sequences: sequences.map((s) => ({ ids: s.map((x) => BigInt(x)) })) } };
}
