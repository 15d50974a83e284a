/**
 * Capture one hook site of one text into the fleet's tensor store and print the reference.
 *
 *   node dist/examples/capture.js --model smollm2-135m --text "The capital of France is" \
 *     --site blocks.6.hook_resid_pre [--endpoint host:port] [--api-key KEY]
 *
 * Prints ONE line of JSON on stdout:
 *   {"ref": <interp.v1.ObjectRef in protobuf JSON>, "shape": [1, 5, 576], "dtype": "DATA_TYPE_FLOAT32"}
 * `dtype` is the interp.v1.DataType value name (protobuf JSON's form of the enum). Another program
 * — any language — passes the object back by sending a Tensor {dtype, shape, object: ref}, e.g.
 * as an ActivationPatch source (see storedTensor() in src/tensors.ts). Exit status: 0 ok, 1 the
 * server refused (the reason on stderr), 2 bad flags.
 */

import { parseArgs } from "node:util";

import { capture, DataType, InterpClient, InterpError, isStored, ObjectRefSchema, texts, toJson } from "../src/index.js";

function usage(message: string): never {
  process.stderr.write(`error: ${message}\nusage: capture --model M --text T --site S [--endpoint HOST:PORT] [--api-key KEY]\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        model: { type: "string" },
        text: { type: "string" },
        site: { type: "string" },
        endpoint: { type: "string" },
        "api-key": { type: "string" },
      },
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  const { model, text, site } = values;
  if (!model || text === undefined || !site) usage("--model, --text and --site are required");
  const client = new InterpClient({ endpoint: values.endpoint, apiKey: values["api-key"] });
  try {
    const r = await client.modelHost.runModel({ model, input: texts([text]), ...capture([site], { delivery: "store" }) });
    const tensor = r.activations[0]?.tensor;
    if (!tensor || !isStored(tensor)) throw new Error(`the fleet returned no stored tensor for ${site}`);
    const line = {
      ref: toJson(ObjectRefSchema, tensor.data.value),
      shape: tensor.shape.map(Number),
      dtype: `DATA_TYPE_${DataType[tensor.dtype]}`,
    };
    process.stdout.write(JSON.stringify(line) + "\n");
    return 0;
  } catch (e) {
    process.stderr.write(`error: ${e instanceof InterpError || e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

process.exitCode = await main();
