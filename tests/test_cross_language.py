"""One tensor through three languages: the TypeScript SDK captures a run's residual stream into
the store and prints its object reference; the Go SDK patches that reference, unchanged, into
another run (same tenant); the Python SDK makes the same patch, and both answers agree: the
prediction moves from " Rome" to " Paris" and the logits match."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from interp.v1 import tensor_pb2 as tpb
from interpretability import Client, patch, to_numpy
from tests.conftest import DEV_KEY
from tests.support.sdks import TS_PACKAGE

MODEL, SITE = "smollm2-135m", "blocks.15.hook_resid_post"
CLEAN, CORRUPT = "The capital of France is", "The capital of Italy is"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("INTERP_API_KEY", "INTERP_ENDPOINT")}


@pytest.mark.fleet
def test_typescript_captures_go_patches_python_agrees(fleet, ts_built, go_bin, tmp_path):
    captured = subprocess.run(
        [ts_built, "dist/examples/capture.js", "--model", MODEL, "--text", CLEAN, "--site", SITE,
         "--endpoint", fleet.endpoint, "--api-key", DEV_KEY],
        cwd=TS_PACKAGE, capture_output=True, text=True, timeout=300, env=_env(),
    )
    assert captured.returncode == 0, captured.stderr
    (line,) = captured.stdout.strip().splitlines()
    printed = json.loads(line)
    assert printed["ref"]["key"].startswith("dev/") and printed["dtype"] == "DATA_TYPE_FLOAT32"
    ref_file = tmp_path / "ref.json"
    ref_file.write_text(line)  # as TypeScript printed it

    patched = subprocess.run(
        [str(go_bin / "patch"), "-endpoint", fleet.endpoint, "-api-key", DEV_KEY, "-model", MODEL, "-text", CORRUPT,
         "-site", SITE, "-ref", str(ref_file)],
        capture_output=True, text=True, timeout=300, env=_env(),
    )
    assert patched.returncode == 0, patched.stderr
    go = json.loads(patched.stdout)

    # The Python SDK: the same reference, rebuilt from TypeScript's line, patched the same way.
    ref = tpb.ObjectRef(bucket=printed["ref"]["bucket"], key=printed["ref"]["key"],
                        byte_size=int(printed["ref"]["byteSize"]), sha256=printed["ref"]["sha256"])
    source = tpb.Tensor(dtype=tpb.DataType.Value(printed["dtype"]), shape=printed["shape"], object=ref)
    with Client(fleet.endpoint, api_key=DEV_KEY) as c:
        python = c.run(MODEL, [CORRUPT], interventions=[patch(SITE, source)], top_k=1, return_logits=True,
                       delivery=tpb.RESULT_DELIVERY_INLINE)
        plain = c.run(MODEL, [CORRUPT], top_k=1)
        c.delete_tensors([source])
    assert plain.sequences[0].top_next_tokens[0].display_token.strip() == "Rome"
    top = python.sequences[0].top_next_tokens[0]
    assert top.display_token.strip() == "Paris" and go["next_token_id"] == top.token_id
    np.testing.assert_allclose(np.array(go["logits_last"], dtype=np.float32), to_numpy(python.logits)[0, -1], atol=1e-4, rtol=0)
