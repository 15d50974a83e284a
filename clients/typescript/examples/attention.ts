/**
 * Analyze the attention of one text and print the findings, the strongest links and a
 * layer-wise summary (what `interp analyze-attention` prints, from TypeScript).
 *
 *   node dist/examples/attention.js --model smollm2-135m --text "The quick brown fox jumps over the lazy dog." \
 *     [--layers 6,7,8] [--heads 0,1] [--endpoint host:port] [--api-key KEY]
 */

import { parseArgs } from "node:util";

import { HeadRole, InterpClient, InterpError } from "../src/index.js";

const role = (r: HeadRole) => (HeadRole[r] ?? "UNSPECIFIED").toLowerCase().replace(/_/g, "-");

function indices(flag: string, value: string | undefined): number[] {
  if (!value || value === "all") return [];
  const out: number[] = [];
  for (const part of value.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) {
      process.stderr.write(`error: --${flag}: ${JSON.stringify(part)} is not an index or a range (e.g. 6,7,8 or 0-3)\n`);
      process.exit(2);
    }
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        model: { type: "string", default: "smollm2-135m" },
        text: { type: "string", default: "The quick brown fox jumps over the lazy dog." },
        layers: { type: "string" },
        heads: { type: "string" },
        endpoint: { type: "string" },
        "api-key": { type: "string" },
      },
    }));
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return 2;
  }
  const client = new InterpClient({ endpoint: values.endpoint, apiKey: values["api-key"] });
  try {
    const { analysis } = await client.attention.analyzeAttention({
      model: values.model!,
      text: values.text!,
      selection: { layers: indices("layers", values.layers), heads: indices("heads", values.heads) },
    });
    const a = analysis!;
    const layers = [...new Set(a.heads.map((h) => h.layer))].sort((x, y) => x - y);
    const lines = [
      "Attention Analysis Results",
      `Model: ${a.model} (${a.causal ? "causal" : "bidirectional"}, ${a.numLayers} layers x ${a.numHeads} heads)`,
      `Input: ${JSON.stringify(a.text)} (${a.tokens.length} tokens)`,
      `Analyzed: layers ${layers.join(",")}; ${a.heads.length} heads`,
      "",
      "Key Findings:",
      ...(a.findings.length ? a.findings.map((f) => `  - ${f}`) : ["  (none)"]),
      "",
      "Attention Hotspots (query attends to key):",
      ...a.hotspots.slice(0, 5).map((k) => `  - "${k.queryToken}" -> "${k.keyToken}": ${k.weight.toFixed(2)} (L${k.layer} H${k.head})`),
      "",
      "Layer-wise Patterns:",
      ...a.layers.map(
        (s) =>
          `  - Layer ${s.layer}: mostly ${role(s.dominantRole)} heads, mean entropy ${s.meanEntropy.toFixed(2)} nats, ` +
          `mean distance ${s.meanAttentionDistance.toFixed(1)} tokens`,
      ),
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } catch (e) {
    process.stderr.write(`error: ${e instanceof InterpError || e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

process.exitCode = await main();
