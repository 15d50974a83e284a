"""The README's `buf curl` lines (section "Other languages"), run as written against the fleet:
server reflection alone, no protos on the client side."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from google.rpc import error_details_pb2

ROOT = Path(__file__).resolve().parents[1]
BUF = Path(sys.executable).parent / "buf"


def readme_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Other languages"):]
    section = section[: section.index("\n## ", 5)]
    return [line for line in section.splitlines() if line.startswith("buf curl ")]


def run(line: str, endpoint: str) -> subprocess.CompletedProcess:
    args = shlex.split(line.replace("http://127.0.0.1:50051", f"http://{endpoint}"))
    return subprocess.run([str(BUF), *args[1:]], capture_output=True, text=True, timeout=120)


def test_the_readme_has_the_examples():
    lines = readme_lines()
    assert len(lines) == 5 and all("--protocol grpc" in line for line in lines)


@pytest.mark.fleet
def test_the_readme_buf_curl_lines_work_against_the_fleet(fleet):
    listing, models, tokens, run_model, refused = (run(line, fleet.endpoint) for line in readme_lines())
    assert listing.returncode == 0 and "interp.v1.CircuitsService" in listing.stdout.split()
    assert models.returncode == 0, models.stderr
    assert "smollm2-135m" in [m["name"] for m in json.loads(models.stdout)["models"]]
    assert tokens.returncode == 0, tokens.stderr
    assert len(json.loads(tokens.stdout)["tokenized"][0]["tokenIds"]) == 5
    assert run_model.returncode == 0, run_model.stderr
    top = json.loads(run_model.stdout)["sequences"][0]["topNextTokens"]
    assert len(top) == 3 and top[0]["displayToken"].strip() == "Paris"
    assert refused.returncode != 0
    status = json.loads(refused.stderr)
    assert status["code"] == "invalid_argument" and status["message"] == "texts.texts[0]: must not be empty"
    details = {d["type"]: base64.b64decode(d["value"] + "==") for d in status["details"]}
    assert error_details_pb2.ErrorInfo.FromString(details["google.rpc.ErrorInfo"]).reason == "INPUT_EMPTY"
    assert error_details_pb2.BadRequest.FromString(details["google.rpc.BadRequest"]).field_violations[0].field == "texts.texts[0]"
