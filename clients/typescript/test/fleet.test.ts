/**
 * Every RPC of every service, through the TypeScript SDK, against a LIVE fleet: INTERP_ENDPOINT
 * (host:port) and INTERP_API_KEY must name it (tests/test_sdk_typescript.py starts one and runs
 * this file). Each call is small — SmolLM2-135M with short texts, or the self-trained 2-layer
 * toy model of tests/fixtures/toy_induction — and its answer is checked against something known;
 * each service also gets bad input, answered with INVALID_ARGUMENT (or NOT_FOUND / PERMISSION_DENIED)
 * with the catalog's reason and the offending field. The last test checks that every method of
 * every service of the SDK's table (SERVICES: the registry's public services) was called successfully.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import type { Interceptor } from "@connectrpc/connect";

import {
  ActivationSite,
  Algorithm,
  AttributionMethod,
  CircuitMethod,
  CircuitType,
  collect,
  Component,
  create,
  decodeTensor,
  finalResult,
  GradientType,
  HeadRole,
  InterpClient,
  InterpError,
  ErrorReason,
  reasonValue,
  ObjectRefSchema,
  patch,
  ProbeLevel,
  RankingMethod,
  ResultDelivery,
  SERVICES,
  SimilarityMetric,
  TaskMetric,
  TraceState,
  texts,
  tokens,
  tokenScore,
  capture,
  isStored,
  FinishReason,
  type CircuitTask,
  type DecodedTensor,
  type ProbeTask,
  type Tensor,
  CircuitTaskSchema,
  ProbeTaskSchema,
} from "../src/index.js";

const ENDPOINT = process.env.INTERP_ENDPOINT;
const API_KEY = process.env.INTERP_API_KEY;
const SMOL = "smollm2-135m";
const MINILM = "all-minilm-l6-v2";
const TEXT = "The quick brown fox jumps over the lazy dog.";
const FRANCE = "The capital of France is";
const ITALY = "The capital of Italy is";

/** tests/fixtures/toy_induction, found from this file upwards (test/ or dist/test/). */
function toyModel(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, "tests", "fixtures", "toy_induction");
    if (existsSync(join(candidate, "config.json"))) return candidate;
  }
  throw new Error("tests/fixtures/toy_induction not found above " + fileURLToPath(import.meta.url));
}
const TOY = toyModel();
/** tests/toy_models/induction.py: sequences_to_text(evaluation_sequences(1, seed=123).tokens)[0]. */
const TOY_TEXT =
  "h i j d k e o l a q c o l i j d k e b m a n h i j d k e o l a n o l a n h i j d k e o l a n h i c b m r s b m r q c q c q c q c q c q k e o l a n h i j m b m r r s b m r s b m p p p p b m g b";

/** The toy's in-context copying task: `r + r[:-1]` -> `r[-1]` (tests/test_circuits.py). */
function copyingTask(n: number): CircuitTask {
  const S = "abcdefghijklmnopqrs";
  const pairs = Array.from({ length: n }, (_, i) => {
    const r = Array.from({ length: 8 }, (_, j) => S[(i * 7 + 3 * j) % 19]!);
    const other = Array.from({ length: 8 }, (_, j) => S[(i * 5 + 11 * j + 1) % 19]!);
    return { clean: [...r, ...r.slice(0, -1)].join(" "), corrupted: [...other, ...r.slice(0, -1)].join(" "), answer: " " + r[7] };
  });
  return create(CircuitTaskSchema, { name: "copying", metric: TaskMetric.LOG_PROBABILITY, pairs });
}

const SENTENCES: [string, string][] = [
  ["The cat sleeps on the warm sofa.", "animal"], ["A dog barked at the mailman.", "animal"],
  ["The horse ran across the field.", "animal"], ["Two birds sang in the old tree.", "animal"],
  ["My sister bought a new car.", "person"], ["The teacher wrote on the board.", "person"],
  ["A doctor visited the small village.", "person"], ["Our neighbour painted his fence.", "person"],
  ["The fox hid under the bush.", "animal"], ["The farmer fixed the broken gate.", "person"],
  ["A cow grazed near the river.", "animal"], ["The pilot landed the plane safely.", "person"],
  ["The cat chased a small mouse.", "animal"], ["A nurse helped the old man.", "person"],
  ["The sheep slept in the barn.", "animal"], ["The baker sold fresh bread.", "person"],
];
// A probing task needs at least 5 sentences in each of its train, validation and test splits.

/** `call` rejects with an InterpError of `code` and `reason` whose violations name `field`. */
async function rejects(call: () => Promise<unknown>, code: string, reason: string, field?: string): Promise<InterpError> {
  let err: unknown;
  try {
    await call();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof InterpError, `expected an InterpError, got ${String(err)}`);
  assert.equal(`${err.code} ${err.reason}`, `${code} ${reason}`, err.message);
  assert.equal(err.domain, "interp.v1");
  assert.equal(err.errorReason, reasonValue(reason)); // the contract's ErrorReason enum knows it
  assert.notEqual(err.errorReason, ErrorReason.UNSPECIFIED);
  if (field !== undefined) assert.ok(err.fields.includes(field), `${field} not in ${JSON.stringify(err.fieldViolations)}`);
  assert.ok(!/Traceback|File "/.test(err.rawMessage), err.rawMessage);
  return err;
}

const close = (a: number, b: number, tol: number, what = "") => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tolerance ${tol})`);

if (!ENDPOINT || !API_KEY) {
  test("a live fleet is configured", () => {
    assert.fail(
      "INTERP_ENDPOINT and INTERP_API_KEY must name a running fleet (e.g. INTERP_ENDPOINT=127.0.0.1:50051 " +
        "INTERP_API_KEY=interp-dev-key); tests/test_sdk_typescript.py starts one and runs these tests. " +
        "Fleet-free tests: node --test dist/test/unit.test.js",
    );
  });
} else {
  /** Methods answered without error, as "Service/Method". */
  const answered = new Set<string>();
  const record: Interceptor = (next) => async (req) => {
    const res = await next(req);
    answered.add(`${req.service.typeName}/${req.method.name}`);
    return res;
  };
  let c: InterpClient;
  before(async () => {
    c = new InterpClient({ endpoint: ENDPOINT, apiKey: API_KEY, interceptors: [record] });
    assert.equal(await c.health(), "SERVING");
  });
  after(() => c.close());

  test("grpc.health.v1 reports every service SERVING", async () => {
    for (const s of Object.values(SERVICES)) {
      assert.equal(await c.health(s.typeName), "SERVING", s.typeName);
    }
    assert.equal(await c.health("interp.v1.NoSuchService").catch((e: InterpError) => e.code), "NOT_FOUND");
  });

  describe("ModelHostService", () => {
    test("ListModels lists the packaged models", async () => {
      const { models } = await c.modelHost.listModels({});
      const names = models.map((m) => m.name);
      assert.ok(names.includes(SMOL) && names.includes(MINILM), names.join(", "));
    });

    test("GetModelInfo describes SmolLM2-135M", async () => {
      const { info } = await c.modelHost.getModelInfo({ model: SMOL });
      assert.deepEqual([info!.numLayers, info!.numHeads, info!.numKvHeads, info!.dModel, info!.hasLmHead], [30, 9, 3, 576, true]);
      const site = info!.hookSites.find((s) => s.name === "blocks.29.attn.hook_pattern");
      assert.ok(site?.intervenable && site.hasHeads);
    });

    test("LoadModel streams progress and ends with the model's info", async () => {
      const events = await collect(c.modelHost.loadModel({ model: TOY }));
      const last = events.at(-1)!;
      assert.equal(last.stage, "ready");
      assert.deepEqual([last.info!.numLayers, last.info!.numHeads, last.info!.vocabSize, last.info!.causal], [2, 1, 21, true]);
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.progress >= events[i - 1]!.progress);
    });

    test("Tokenize returns raw pieces, readable tokens and character offsets", async () => {
      const { tokenized } = await c.modelHost.tokenize({ model: SMOL, texts: { texts: [TEXT] } });
      const t = tokenized[0]!;
      assert.equal(t.tokens[1], "Ġquick");
      assert.equal(t.displayTokens[1], "quick");
      assert.equal(t.tokenIds.length, t.tokens.length);
      const pieces = t.charStarts.map((a, i) => (a >= 0 ? TEXT.slice(a, t.charEnds[i]) : "")).join("");
      assert.equal(pieces, TEXT);
    });

    test("RunModel: top next token, inline capture, metric and its gradient", async () => {
      const site = "blocks.6.hook_resid_pre";
      const r = await c.modelHost.runModel({ model: SMOL, input: texts([FRANCE]), topK: 5, ...capture([site], { delivery: "inline" }) });
      const top = r.sequences[0]!.topNextTokens;
      assert.equal(top[0]!.displayToken, "Paris");
      assert.equal(top[0]!.token, "ĠParis");
      for (let i = 1; i < top.length; i++) assert.ok(top[i - 1]!.probability >= top[i]!.probability);
      const act = decodeTensor(r.activations[0]!.tensor!);
      const n = r.sequences[0]!.tokenIds.length;
      assert.equal(r.activations[0]!.hookSite, site);
      assert.deepEqual([act.dtype, act.shape], ["float32", [1, n, 576]]);
      assert.ok(act.data.every((v) => Number.isFinite(v)));
      // log p(" Paris") as a metric, with its gradient at the input embeddings.
      const paris = top[0]!.tokenId;
      const g = await c.modelHost.runModel({ model: SMOL, input: texts([FRANCE]), metric: tokenScore(paris), gradients: ["hook_embed"] });
      close(g.metricValues[0]!, Math.log(top[0]!.probability), 1e-3, "log p(Paris)");
      const grad = await c.toArray(g.gradients[0]!.tensor!);
      assert.deepEqual(grad.shape, [1, n, 576]);
      assert.ok(grad.data.some((v) => v !== 0));
    });

    test("Generate streams tokens, then the result", async () => {
      const events = await collect(
        c.modelHost.generate({ model: SMOL, input: { case: "text", value: FRANCE }, maxNewTokens: 3, ignoreEos: true }),
      );
      assert.deepEqual(events.map((e) => e.event.case), ["token", "token", "token", "result"]);
      const tokens = events.flatMap((e) => (e.event.case === "token" ? [e.event.value] : []));
      const result = events.at(-1)!.event.value as { text: string; finishReason: FinishReason; tokenIds: bigint[] };
      assert.equal(tokens[0]!.text, " Paris");
      assert.equal(tokens.map((t) => t.text).join(""), result.text);
      assert.equal(result.finishReason, FinishReason.LENGTH);
      assert.deepEqual(result.tokenIds, tokens.map((t) => t.tokenId));
    });

    test("bad input: unknown model, unknown hook site, too many new tokens (in a stream), no API key", async () => {
      await rejects(() => c.modelHost.getModelInfo({ model: "gpt2" }), "NOT_FOUND", "MODEL_NOT_FOUND");
      await rejects(() => c.modelHost.getModelInfo({ model: "" }), "INVALID_ARGUMENT", "MODEL_NAME_EMPTY");
      await rejects(
        () => c.modelHost.runModel({ model: SMOL, input: texts([TEXT]), capture: ["blocks.0.hook_nothing"] }),
        "INVALID_ARGUMENT",
        "HOOK_SITE_UNKNOWN",
        "capture[0]",
      );
      await rejects(
        () => collect(c.modelHost.generate({ model: SMOL, input: { case: "text", value: TEXT }, maxNewTokens: 100_000 })),
        "INVALID_ARGUMENT",
        "MAX_NEW_TOKENS_OUT_OF_RANGE",
        "max_new_tokens",
      );
      const anonymous = new InterpClient({ endpoint: ENDPOINT, apiKey: "", retries: 1 });
      try {
        await rejects(() => anonymous.modelHost.listModels({}), "UNAUTHENTICATED", "API_KEY_MISSING");
      } finally {
        anonymous.close();
      }
    });
  });

  describe("StorageService (and object references passed back)", () => {
    const site = "blocks.6.hook_resid_pre";
    let stored: Tensor;
    let inline: DecodedTensor;

    test("RunModel with store delivery returns a reference; ReadTensors returns its bytes", async () => {
      const a = await c.modelHost.runModel({ model: SMOL, input: texts([FRANCE]), ...capture([site], { delivery: "inline" }) });
      inline = decodeTensor(a.activations[0]!.tensor!);
      const b = await c.modelHost.runModel({ model: SMOL, input: texts([FRANCE]), ...capture([site], { delivery: "store" }) });
      stored = b.activations[0]!.tensor!;
      assert.ok(isStored(stored));
      assert.equal(stored.data.value.key.split("/")[0], "dev"); // the tenant of interp-dev-key
      assert.equal(stored.data.value.sha256.length, 64);
      assert.deepEqual(stored.shape.map(Number), inline.shape);
      const [read] = await c.readTensors([stored]);
      assert.equal(read!.data.case, "raw");
      const got = decodeTensor(read!);
      assert.deepEqual(got.shape, inline.shape);
      let worst = 0;
      got.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(Number(v) - Number(inline.data[i])))));
      assert.ok(worst < 1e-4, `stored and inline captures differ by ${worst}`);
    });

    test("toArray of a reference reads it through StorageService: the inline capture's values", async () => {
      const calls: string[] = [];
      const watch: Interceptor = (next) => async (req) => {
        calls.push(`${req.service.typeName}/${req.method.name}`);
        return next(req);
      };
      const watched = new InterpClient({ endpoint: ENDPOINT, apiKey: API_KEY, interceptors: [watch] });
      let got: DecodedTensor;
      try {
        got = await watched.toArray(stored);
      } finally {
        watched.close();
      }
      assert.deepEqual(calls, ["interp.v1.StorageService/ReadTensors"]);
      assert.deepEqual([got.dtype, got.shape], ["float32", inline.shape]);
      let worst = 0;
      got.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(Number(v) - Number(inline.data[i])))));
      assert.ok(worst < 1e-4, `toArray of the reference and the inline capture differ by ${worst}`);
    });

    test("a reference passed back as a patch source restores the clean run", async () => {
      const [fr, it] = (await c.modelHost.tokenize({ model: SMOL, texts: { texts: [FRANCE, ITALY] } })).tokenized;
      assert.equal(fr!.tokenIds.length, it!.tokenIds.length);
      const plain = await c.modelHost.runModel({ model: SMOL, input: texts([ITALY]), topK: 1 });
      assert.equal(plain.sequences[0]!.topNextTokens[0]!.displayToken, "Rome");
      const patched = await c.modelHost.runModel({ model: SMOL, input: texts([ITALY]), topK: 1, interventions: [patch(site, stored)] });
      assert.equal(patched.sequences[0]!.topNextTokens[0]!.displayToken, "Paris");
    });

    test("DeleteTensors removes the object; reading it then is NOT_FOUND", async () => {
      assert.equal(await c.deleteTensors([stored]), 1);
      await rejects(() => c.readTensors([stored]), "NOT_FOUND", "OBJECT_NOT_FOUND");
      assert.equal(await c.deleteTensors([stored]), 1); // already gone: not an error
    });

    test("bad input: nothing to read, another tenant's object", async () => {
      await rejects(() => c.storage.readTensors({ objects: [] }), "INVALID_ARGUMENT", "INPUT_EMPTY", "objects");
      const foreign = create(ObjectRefSchema, { key: "alice/runs/0123456789abcdef0123456789abcdef.safetensors", byteSize: 10n, sha256: "ab".repeat(32) });
      await rejects(() => c.readTensors([foreign]), "PERMISSION_DENIED", "OBJECT_NOT_OWNED");
    });
  });

  describe("AttentionService", () => {
    test("AnalyzeAttention names the toy's previous-token and induction heads", async () => {
      const { analysis } = await c.attention.analyzeAttention({
        model: TOY,
        text: TOY_TEXT,
        options: { includePatterns: true, delivery: ResultDelivery.INLINE },
      });
      const a = analysis!;
      assert.deepEqual(a.tokens, TOY_TEXT.split(" "));
      assert.ok(a.heads.some((h) => h.layer === 0 && h.role === HeadRole.PREVIOUS_TOKEN));
      assert.ok(a.heads.some((h) => h.layer === 1 && h.role === HeadRole.INDUCTION));
      const p = decodeTensor(a.patterns[0]!.pattern!);
      const n = a.tokens.length;
      assert.deepEqual(p.shape, [1, n, n]);
      for (const q of [0, 10, n - 1]) {
        let sum = 0;
        for (let k = 0; k < n; k++) sum += Number(p.data[q * n + k]);
        close(sum, 1, 1e-4, `row ${q}`);
        if (q < n - 1) assert.equal(p.data[q * n + q + 1], 0); // causal
      }
    });

    test("CompareAttention compares MiniLM's heads across two inputs", async () => {
      const r = await c.attention.compareAttention({
        model: MINILM,
        texts: { texts: ["The cat sat on the mat.", "A dog barked at the mailman."] },
        selection: { layers: [0] },
      });
      assert.equal(r.analyses.length, 2);
      assert.equal(r.analyses[0]!.tokens[0], "[CLS]");
      assert.equal(r.heads.length, 12);
      for (const h of r.heads) assert.ok(h.roleAgreement === 0.5 || h.roleAgreement === 1, String(h.roleAgreement));
    });

    test("bad input: layer out of range, one-input comparison", async () => {
      await rejects(
        () => c.attention.analyzeAttention({ model: SMOL, text: TEXT, selection: { layers: [30] } }),
        "INVALID_ARGUMENT",
        "LAYER_OUT_OF_RANGE",
        "selection.layers[0]",
      );
      await rejects(() => c.attention.compareAttention({ model: SMOL, texts: { texts: [TEXT] } }), "INVALID_ARGUMENT", "TOO_FEW_INPUTS");
    });
  });

  describe("AttributionService", () => {
    test("ListAttributionMethods lists the catalog", async () => {
      const r = await c.attribution.listAttributionMethods({});
      const names = r.methods.map((m) => m.name);
      assert.equal(r.methods.length, 11);
      assert.ok(names.includes("integrated_gradients") && names.includes("feature_ablation"), names.join(", "));
      assert.deepEqual(r.basic, [AttributionMethod.INTEGRATED_GRADIENTS]);
      assert.ok(r.maxNSteps >= 800);
    });

    test("Attribute: feature ablation of ' Paris' equals the model host's own ablated runs", async () => {
      const progress: number[] = [];
      const r = await finalResult(
        c.attribution.attribute({
          model: SMOL,
          text: FRANCE,
          target: { target: { case: "nextToken", value: { continuation: " Paris" } } },
          methods: [AttributionMethod.FEATURE_ABLATION],
        }),
        (p) => progress.push(p.fraction),
      );
      assert.ok(progress.length > 0);
      assert.deepEqual(r.displayTokens, ["The", "capital", "of", "France", "is"]);
      assert.deepEqual(r.attributed, [false, true, true, true, true]); // the first token is kept
      const m = r.methods[0]!;
      assert.equal(m.method, AttributionMethod.FEATURE_ABLATION);
      assert.equal(m.scores.length, 5);
      assert.equal(m.scores[0], 0);
      // score_i = log p(Paris | text) - log p(Paris | token i replaced by the pad token), which
      // the model host computes too: one batch of the text and its four ablated copies.
      const [, paris, pad] = (await c.modelHost.tokenize({ model: SMOL, texts: { texts: [FRANCE, " Paris", "<|im_end|>"] } })).tokenized;
      assert.equal(paris!.tokenIds.length, 1);
      assert.equal(pad!.tokenIds.length, 1);
      assert.match(r.baseline, /<\|im_end\|>/);
      const ids = r.tokenIds;
      const ablated = [1, 2, 3, 4].map((i) => ids.map((t, j) => (j === i ? pad!.tokenIds[0]! : t)));
      const run = await c.modelHost.runModel({ model: SMOL, input: tokens([ids, ...ablated]), metric: tokenScore(paris!.tokenIds[0]!) });
      const [clean, ...rest] = run.metricValues;
      close(r.targetProbability, Math.exp(clean!), 1e-3, "p(Paris)");
      rest.forEach((v, k) => close(m.scores[k + 1]!, clean! - v, 2e-3, `score of ${r.displayTokens[k + 1]}`));
    });

    test("bad input: too many integration steps", async () => {
      await rejects(
        () => collect(c.attribution.attribute({ model: SMOL, text: TEXT, options: { nSteps: 1_000_000 } })),
        "INVALID_ARGUMENT",
        "ATTRIBUTION_PARAMETER_OUT_OF_RANGE",
        "options.n_steps",
      );
    });
  });

  describe("ActivationsService", () => {
    const few = ["The cat sat on the mat.", "A dog barked at the mailman."];

    test("AnalyzeActivations: layer statistics whose histogram counts every entry", async () => {
      const r = await finalResult(
        c.activations.analyzeActivations({ model: SMOL, texts: { texts: few }, sites: [ActivationSite.MLP_POST], layers: [0] }),
      );
      assert.equal(r.textsAnalyzed, 2n);
      const site = r.sites[0]!;
      assert.deepEqual([site.site, site.width, site.layers], [ActivationSite.MLP_POST, 1536, [0]]);
      const s = site.layerSummaries[0]!;
      const h = s.histogram!;
      const counted = h.counts.reduce((a, b) => a + b, 0n) + h.underflow + h.overflow;
      assert.equal(counted, r.tokensAnalyzed * 1536n);
      assert.ok(s.min <= s.mean && s.mean <= s.max);
    });

    test("FindConceptNeurons ranks neurons by AUROC with corrected p-values", async () => {
      const r = await finalResult(
        c.activations.findConceptNeurons({
          model: SMOL,
          concept: "emotion",
          conceptTexts: { texts: ["I am so happy today!", "She was furious at him.", "We felt deep sorrow."] },
          controlTexts: { texts: ["The train leaves at nine.", "The table is made of oak.", "Water boils at 100 degrees."] },
          layers: [0],
          topKNeurons: 5,
        }),
      );
      assert.equal(r.neuronsTested, 1536n);
      assert.deepEqual([r.numConcept, r.numControl, r.neurons.length], [3, 3, 5]);
      r.neurons.forEach((n, i) => {
        assert.equal(n.rank, i + 1);
        assert.ok(n.auroc >= 0 && n.auroc <= 1 && n.pBonferroni >= n.pValue);
        // Ranked by separation in either direction.
        if (i > 0) assert.ok(Math.abs(r.neurons[i - 1]!.auroc - 0.5) >= Math.abs(n.auroc - 0.5));
      });
    });

    test("AnalyzeGradients: saliency per token of log p(' Paris')", async () => {
      const r = await finalResult(
        c.activations.analyzeGradients({
          model: SMOL,
          texts: { texts: [FRANCE] },
          target: { target: { case: "nextToken", value: " Paris" } },
          gradientTypes: [GradientType.INPUT, GradientType.HIDDEN],
          layers: [28, 29],
        }),
      );
      const t = r.texts[0]!;
      assert.equal(t.tokens.length, 5);
      assert.equal(t.saliency.length, 5);
      assert.ok(t.targetValue < 0 && t.targetValue > Math.log(0.1), String(t.targetValue));
      assert.deepEqual(t.hidden.map((h) => h.layer), [28, 29]);
      assert.deepEqual(r.flow!.layers, [28, 29]);
    });

    test("RankNeuronImportance ranks the last layer's neurons", async () => {
      const r = await finalResult(
        c.activations.rankNeuronImportance({
          model: SMOL,
          texts: { texts: [FRANCE] },
          method: RankingMethod.GRADIENT_X_ACTIVATION,
          layers: [29],
          topK: 5,
        }),
      );
      assert.equal(r.neuronsScored, 1536n);
      assert.deepEqual(r.neurons.map((n) => n.rank), [1, 2, 3, 4, 5]);
      for (let i = 1; i < 5; i++) assert.ok(r.neurons[i - 1]!.score >= r.neurons[i]!.score);
      assert.ok(r.neurons.every((n) => n.neuron!.layer === 29 && n.neuron!.index < 1536));
    });

    test("LogitLens: the last layer at the last position predicts ' Paris'", async () => {
      const r = await c.activations.logitLens({ model: SMOL, text: FRANCE, layers: [10, 29], topK: 3 });
      assert.deepEqual(r.layers.map((l) => l.layer), [10, 29]);
      const last = r.layers[1]!.cells.at(-1)!;
      assert.equal(last.top[0]!.token, "Paris");
      assert.equal(last.targetRank, 0);
    });

    test("bad input: too many histogram bins, logit lens on an encoder", async () => {
      await rejects(
        () => collect(c.activations.analyzeActivations({ model: SMOL, texts: { texts: few }, histogramBins: 5000 })),
        "INVALID_ARGUMENT",
        "ANALYSIS_PARAMETER_OUT_OF_RANGE",
        "histogram_bins",
      );
      await rejects(() => c.activations.logitLens({ model: MINILM, text: TEXT }), "INVALID_ARGUMENT", "MODEL_HAS_NO_LM_HEAD");
    });
  });

  describe("ProbingService", () => {
    const task: ProbeTask = create(ProbeTaskSchema, {
      name: "kind",
      level: ProbeLevel.SENTENCE,
      examples: SENTENCES.map(([text, label]) => ({ text, label })),
    });

    test("ProbeRepresentations: a sentence probe with unit label directions", async () => {
      const r = await finalResult(
        c.probing.probeRepresentations({
          model: SMOL,
          tasks: [task],
          layers: [3],
          options: { skipMdl: true, seed: 3n },
          delivery: ResultDelivery.INLINE,
        }),
      );
      const t = r.tasks[0]!;
      assert.deepEqual(t.labels, ["animal", "person"]);
      assert.equal(t.trainItems + t.validationItems + t.testItems, SENTENCES.length);
      const score = t.layers[0]!.task!;
      assert.ok(0 <= score.scoreLow && score.scoreLow <= score.score && score.score <= score.scoreHigh && score.scoreHigh <= 1);
      const d = decodeTensor(t.directions!);
      assert.deepEqual(d.shape, [1, 2, 576]);
      for (const label of [0, 1]) {
        let norm = 0;
        for (let i = 0; i < 576; i++) norm += Number(d.data[label * 576 + i]) ** 2;
        close(Math.sqrt(norm), 1, 1e-4, `direction ${label}`);
      }
    });

    test("CompareRepresentations: a source compared with itself has CKA 1", async () => {
      const sample = SENTENCES.slice(0, 6).map(([t]) => t);
      const r = await finalResult(
        c.probing.compareRepresentations({
          model: SMOL,
          sources: [
            { label: "a", texts: sample },
            { label: "b", texts: sample },
          ],
          layers: [2],
          metrics: [SimilarityMetric.CKA],
        }),
      );
      const pair = r.pairs[0]!;
      assert.deepEqual([pair.sourceA, pair.sourceB, r.texts], ["a", "b", 6]);
      const cka = pair.metrics.find((m) => m.name === "cka")!;
      assert.equal(cka.values.length, 1);
      close(cka.values[0]!, 1, 1e-4, "CKA");
    });

    test("bad input: probe layer out of range, misaligned sources", async () => {
      await rejects(
        () => collect(c.probing.probeRepresentations({ model: SMOL, tasks: [task], layers: [30] })),
        "INVALID_ARGUMENT",
        "LAYER_OUT_OF_RANGE",
        "layers[0]",
      );
      await rejects(
        () =>
          collect(
            c.probing.compareRepresentations({
              model: SMOL,
              sources: [
                { label: "a", texts: [TEXT, TEXT] },
                { label: "b", texts: [TEXT] },
              ],
            }),
          ),
        "INVALID_ARGUMENT",
        "PARALLEL_MISALIGNED",
        "sources[1].texts",
      );
    });
  });

  describe("CircuitsService (on the toy induction model)", () => {
    test("PatchActivations: patching the whole residual stream before layer 0 restores the clean run", async () => {
      const r = await finalResult(
        c.circuits.patchActivations({ model: TOY, task: copyingTask(2), components: [Component.RESID_PRE] }),
      );
      const map = r.maps[0]!;
      assert.equal(map.component, "resid_pre");
      assert.deepEqual(map.rows.length, 2);
      close(map.values[0]!, 1, 1e-4, "resid_pre layer 0");
      assert.ok(r.cleanMetric > r.corruptedMetric);
    });

    test("PatchPaths: the previous-token head feeds the induction head's key", async () => {
      const r = await c.circuits.patchPaths({ model: TOY, task: copyingTask(6), senders: ["a0.h0"], receivers: ["a1.h0"] });
      const by = Object.fromEntries(r.pairs.map((p) => [p.receiver, p.effect]));
      assert.ok(by["a1.h0.k"]! > 0.8, JSON.stringify(by));
      assert.ok(Math.abs(by["a1.h0.q"]!) < 0.05 && Math.abs(by["a1.h0.v"]!) < 0.05, JSON.stringify(by));
    });

    test("DiscoverCircuit: EAP keeps the K-composition edge", async () => {
      const r = await finalResult(
        c.circuits.discoverCircuit({
          model: TOY,
          task: copyingTask(6),
          method: CircuitMethod.EAP,
          circuitTypes: [CircuitType.ATTENTION_ONLY],
          topEdges: 4,
        }),
      );
      const circuit = r.circuits[0]!;
      assert.equal(circuit.edgesTotal, 12);
      assert.equal(circuit.edges.length, 4);
      assert.ok(circuit.edges.some((e) => e.sender === "a0.h0" && e.receiver === "a1.h0" && e.input === "k"));
      assert.equal(r.allScores.length, r.edgeNames.length);
    });

    test("TraceCausalFlow: restoring the last state of the last token gives back the clean probability", async () => {
      const prompt = "a b c d e a b c d";
      const r = await finalResult(
        c.circuits.traceCausalFlow({ model: TOY, prompt, subject: "b c", states: [TraceState.HIDDEN], samples: 2, window: 1 }),
      );
      assert.equal(r.numLayers, 2);
      assert.deepEqual(r.subjectPositions, [1, 2]);
      const hidden = r.maps[0]!;
      assert.equal(hidden.state, "hidden");
      assert.equal(hidden.values.length, 2 * r.tokens.length);
      close(hidden.values.at(-1)!, r.cleanProbability, 1e-5, "restored");
      assert.ok(r.cleanProbability > r.corruptedProbability);
    });

    test("DetectHeads scores a previous-token head in layer 0 and an induction head in layer 1", async () => {
      const r = await c.circuits.detectHeads({ model: TOY, sequenceLength: 12 });
      const at = (l: number, h: number) => r.heads.find((s) => s.layer === l && s.head === h)!;
      assert.ok(at(0, 0).previousToken > 0.5 && at(1, 0).induction > 0.5);
    });

    test("FindAlgorithm confirms the induction circuit by ablation", async () => {
      const r = await finalResult(c.circuits.findAlgorithm({ model: TOY, algorithm: Algorithm.INDUCTION }));
      assert.equal(r.finding.case, "induction");
      const ind = r.finding.value as { previousTokenHeads: string[]; inductionHeads: string[]; loss: number; lossWithoutInduction: number };
      assert.deepEqual([ind.previousTokenHeads, ind.inductionHeads], [["a0.h0"], ["a1.h0"]]);
      assert.ok(ind.loss < ind.lossWithoutInduction);
    });

    test("bad input: threshold out of range, subject the prompt lacks", async () => {
      await rejects(
        () => collect(c.circuits.discoverCircuit({ model: TOY, task: copyingTask(2), method: CircuitMethod.ACDC, threshold: 1.5 })),
        "INVALID_ARGUMENT",
        "CIRCUIT_OPTION_OUT_OF_RANGE",
        "threshold",
      );
      await rejects(
        () => collect(c.circuits.traceCausalFlow({ model: TOY, prompt: "a b c", subject: "z", window: 1 })),
        "INVALID_ARGUMENT",
        "SUBJECT_NOT_FOUND",
        "subject",
      );
    });
  });

  // SERVICES is every public service of the registry (a fleet-free test in
  // tests/test_sdk_typescript.py checks that), so this covers a service added later too.
  test("every RPC of every service was answered", () => {
    const all = Object.values(SERVICES).flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`));
    assert.deepEqual(all.filter((m) => !answered.has(m)), []);
  });
}
