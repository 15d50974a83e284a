"""Break the behaviours the README promises, one at a time, and check that a test fails.

Each entry names a behaviour, a one-line change to the code that breaks it, and the test that
must then fail. The script clones the repository's last commit into a temporary directory,
applies one change at a time there (imports come from the clone through PYTHONPATH; this
checkout is never touched), runs the test, and restores the file. A mutation whose test still
passes is a test that cannot fail.

Run: .venv/bin/python scripts/mutation_check.py [INDEX ...]   (about 4 minutes on 2 cores)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (what breaks, file, exact text, replacement, the test that must fail)
MUTATIONS = [
    ('LRU order: a touched model is not moved to the end',
     'services/interp_services/core/models.py',
     '                    self._models.move_to_end(name)\n',
     '',
     'tests/test_paths.py::test_model_cache_evicts_the_least_recently_used'),
    ('remote-code (auto_map) refusal removed',
     'services/interp_services/core/models.py',
     'if isinstance(data, dict) and data.get("auto_map"):',
     'if False:',
     'tests/test_paths.py::test_a_model_asking_for_remote_code_is_refused'),
    ('authorization: Bearer ignored',
     'services/interp_services/rpc/gateway.py',
     'elif key == "authorization" and value.lower().startswith("bearer "):',
     'elif False:',
     'tests/test_paths.py::test_bearer_token_authenticates_like_x_api_key'),
    ('SDK retries non-idempotent calls too',
     'clients/python/interpretability/client.py',
     'attempts = self.retries if idempotent else 1',
     'attempts = self.retries',
     'tests/test_paths.py::test_sdk_does_not_retry_non_idempotent_calls_or_other_errors'),
    ('INTERP_STORE_URL ignored',
     'services/interp_services/settings.py',
     'data["store_url"] = env["INTERP_STORE_URL"]',
     'pass',
     'tests/test_paths.py::test_environment_overrides_the_yaml'),
    ('steering 0.1% too weak',
     'services/interp_services/core/interventions.py',
     'new = act + iv.scale * _unit_view(act, dims, iv.tensor)',
     'new = act + 0.999 * iv.scale * _unit_view(act, dims, iv.tensor)',
     'tests/test_references.py::test_residual_steering_equals_hook_written_here'),
    ('patch from a tensor is a no-op',
     'services/interp_services/core/interventions.py',
     'new = _patch_source(act, dims, iv.tensor, place)',
     'new = act',
     'tests/test_references.py::test_patching_through_grpc_moves_the_answer'),
    ('k/v axis named head again',
     'services/interp_services/core/hooks.py',
     '_KV_HEADS = ("batch", "pos", "kv_head", "d_head")',
     '_KV_HEADS = ("batch", "pos", "head", "d_head")',
     'tests/test_references.py::test_key_value_sites_name_their_head_axis_kv_head'),
    ('S3 read timeout 60 s',
     'services/interp_services/store/s3.py',
     'urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)',
     'urllib3.Timeout(connect=connect_timeout_s, read=60.0)',
     'tests/test_resilience.py::test_frozen_store_fails_fast_and_recovers'),
    ('relative import of rpc from core',
     'services/interp_services/core/tokens.py',
     'from __future__ import annotations\n',
     'from __future__ import annotations\n\nfrom ..rpc import errors as _unused  # noqa: F401\n',
     'tests/test_contract.py::test_layering'),
    ('head restriction ignored',
     'services/interp_services/core/interventions.py',
     'm = _index_mask(n, iv.heads or None, act.device)',
     'm = _index_mask(n, None, act.device)',
     'tests/test_references.py::test_zeroing_two_heads_equals_pre_hook_on_o_proj'),
    ('the last listed position is not intervened on',
     'services/interp_services/core/interventions.py',
     '[p - off for p in iv.positions if 0 <= p - off < n]',
     '[p - off for p in iv.positions[:-1] if 0 <= p - off < n]',
     'tests/test_references.py::test_residual_steering_equals_hook_written_here'),
    ('INLINE over the cap accepted',
     'services/interp_services/rpc/codec.py',
     'if total_bytes > self.policy.max_inline_bytes:',
     'if False:',
     'tests/test_paths.py::test_inline_delivery_over_the_cap_is_resource_exhausted'),
    ('port conflict not reported',
     'services/interp_services/rpc/gateway.py',
     'return f"port {host}:{port} is already in use by another process"',
     'return None',
     'tests/test_resilience.py::test_port_conflict_detects_listeners'),
    ("a run's own mean divided by n+1",
     'services/interp_services/core/interventions.py',
     '/ w.sum().clamp(min=1)).expand_as(act)',
     '/ (w.sum().clamp(min=1) + 1)).expand_as(act)',
     'tests/test_references.py::test_mean_ablation_with_the_runs_own_mean_equals_hook_written_here'),
    ('large results stay inline',
     'services/interp_services/rpc/codec.py',
     'return total_bytes <= self.inline_limit or self.store is None',
     'return True',
     'tests/test_paths.py::test_results_over_the_inline_limit_go_to_the_store_by_default'),
    ('streaming variance merge drops the between-batch term',
     'services/interp_services/core/activations/stats.py',
     '    m2 = m2a + m2b + term1\n',
     '    m2 = m2a + m2b\n',
     'tests/test_activations_core.py'),
    ('CKA with the second representation uncentred',
     'services/interp_services/core/probing/similarity.py',
     '    b = b - b.mean(axis=0)\n',
     '    b = b\n',
     'tests/test_probing_core.py::test_linear_cka_matches_direct_gram_formulas'),
    ('debiased CKA with a wrong HSIC correction',
     'services/interp_services/core/probing/similarity.py',
     '- 2.0 / (n - 2) * dkl',
     '- 1.0 / (n - 2) * dkl',
     'tests/test_probing_core.py::test_debiased_cka_is_near_zero_for_independent_noise_where_plain_cka_is_not'),
]


def main(only: list[str]) -> int:
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True)
        paths = (root / "services", root / "clients" / "python", root / "protos" / "python")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
        for i, (what, path, old, new, test) in enumerate(MUTATIONS):
            if only and str(i) not in only:
                continue
            p = root / path
            text = p.read_text()
            if text.count(old) != 1:
                print(f"[{i}] {what}: the text to change is found {text.count(old)} times; update this table", flush=True)
                missed += 1
                continue
            p.write_text(text.replace(old, new))
            started = time.monotonic()
            try:
                r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test],
                                   cwd=root, env=env, capture_output=True, text=True)
            finally:
                p.write_text(text)
            caught = r.returncode == 1
            missed += not caught
            verdict = "caught" if caught else ("NOT CAUGHT" if r.returncode == 0 else f"pytest exit {r.returncode}")
            print(f"[{i}] {what}: {verdict} by {test} ({time.monotonic() - started:.0f} s)", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
