"""The computational graph circuits are found in: attention heads and MLPs joined by the
residual stream (Elhage et al. 2021; the edge-level graph of ACDC and EAP).

Nodes: ``input`` (the embeddings, ``blocks.0.hook_resid_pre``), ``a{L}.h{H}`` (a head's result,
``blocks.L.attn.hook_result``), ``m{L}`` (``blocks.L.hook_mlp_out``) and ``logits`` (the last
block's output, which only the unembedding reads). Every node writes into the residual stream
and every later node reads the sum, so each (earlier sender, later receiver input) pair is an
edge. A head has three inputs, its query, key and value (TransformerLens' split inputs,
``blocks.L.hook_{q,k,v}_input``); with grouped-query attention a key/value input belongs to a
key/value head, shared by its group of query heads, and is named ``a{L}.kv{G}``.

``circuit_types`` restricts the graph: ``attention_only`` keeps heads (MLPs are then part of
the fixed background, never ablated), ``mlp_only`` keeps MLPs, ``mixed`` both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from interp_services.core.errors import invalid
from interp_services.core.interventions import Intervention
from interp_services.core.reasons import Reason

CIRCUIT_TYPES = ("attention_only", "mlp_only", "mixed")


@dataclass(frozen=True)
class Sender:
    """A node that writes to the residual stream."""

    name: str
    kind: str  # input | head | mlp
    layer: int
    head: int = -1

    @property
    def site(self) -> str:
        if self.kind == "input":
            return "blocks.0.hook_resid_pre"
        if self.kind == "head":
            return f"blocks.{self.layer}.attn.hook_result"
        return f"blocks.{self.layer}.hook_mlp_out"

    @property
    def order(self) -> tuple[int, int]:
        """Forward order: (layer, 0 attention / 1 MLP); the input comes first."""
        return (self.layer, {"input": -1, "head": 0, "mlp": 1}[self.kind])


@dataclass(frozen=True)
class Receiver:
    """A node input that reads the residual stream."""

    node: str  # a{L}.h{H} | a{L}.kv{G} | m{L} | logits
    kind: str  # head | mlp | logits
    layer: int
    input: str = ""  # q | k | v for heads
    head: int = -1  # query head, or key/value head for k and v

    @property
    def name(self) -> str:
        return f"{self.node}.{self.input}" if self.input else self.node

    @property
    def site(self) -> tuple[str, list[int]]:
        """The receiving site and its head selection."""
        if self.kind == "head":
            return f"blocks.{self.layer}.hook_{self.input}_input", [self.head]
        if self.kind == "mlp":
            return f"blocks.{self.layer}.hook_mlp_in", []
        return f"blocks.{self.layer}.hook_resid_post", []

    @property
    def order(self) -> tuple[int, int]:
        return (self.layer, {"head": 0, "mlp": 1, "logits": 2}[self.kind])


@dataclass(frozen=True)
class Edge:
    """sender -> receiver input."""

    sender: Sender
    receiver: Receiver

    @property
    def name(self) -> str:
        return f"{self.sender.name}->{self.receiver.name}"


@dataclass
class Graph:
    """Senders, receivers and the edges between them for one circuit type."""

    senders: list[Sender]
    receivers: list[Receiver]
    edges: list[Edge]
    num_layers: int
    num_heads: int
    num_kv_heads: int

    def receiver_nodes(self, s: Sender) -> list[str]:
        """The receiver nodes whose inputs feed sender ``s``: a head's own node and, with
        grouped-query attention, its key/value group's node."""
        if s.kind == "input":
            return []
        if s.kind == "mlp":
            return [s.name]
        if self.num_kv_heads == self.num_heads:
            return [s.name]
        return [s.name, f"a{s.layer}.kv{s.head // (self.num_heads // self.num_kv_heads)}"]

    def sender(self, name: str) -> Sender:
        for s in self.senders:
            if s.name == name:
                return s
        raise KeyError(name)


def build_graph(info, circuit_type: str = "mixed") -> Graph:
    """The graph of a model (``info``: the model host's ``ModelInfo`` or the core's)."""
    if circuit_type not in CIRCUIT_TYPES:
        raise invalid(Reason.COMPONENT_UNKNOWN, "circuit_types", f"unknown circuit type {circuit_type!r}; one of {', '.join(CIRCUIT_TYPES)}")
    heads = circuit_type in ("attention_only", "mixed")
    mlps = circuit_type in ("mlp_only", "mixed") and info.d_mlp > 0
    n_layers, n_heads, n_kv = info.num_layers, info.num_heads, info.num_kv_heads or info.num_heads
    grouped = n_kv != n_heads
    senders = [Sender("input", "input", -1)]
    receivers: list[Receiver] = []
    for layer in range(n_layers):
        if heads:
            for h in range(n_heads):
                receivers.append(Receiver(f"a{layer}.h{h}", "head", layer, "q", h))
            kv_names = [f"a{layer}.kv{g}" if grouped else f"a{layer}.h{g}" for g in range(n_kv)]
            for w in "kv":
                for g, node in enumerate(kv_names):
                    receivers.append(Receiver(node, "head", layer, w, g))
            senders.extend(Sender(f"a{layer}.h{h}", "head", layer, h) for h in range(n_heads))
        if mlps:
            receivers.append(Receiver(f"m{layer}", "mlp", layer))
            senders.append(Sender(f"m{layer}", "mlp", layer))
    receivers.append(Receiver("logits", "logits", n_layers - 1))
    edges = [Edge(s, r) for r in receivers for s in senders if _feeds(s, r)]
    return Graph(senders, receivers, edges, n_layers, n_heads, n_kv)


def _feeds(s: Sender, r: Receiver) -> bool:
    if r.kind == "logits":
        return True
    if s.kind == "input":
        return True
    if s.layer < r.layer:
        return True
    return s.layer == r.layer and s.kind == "head" and r.kind == "mlp"


def edge_interventions(edges: Iterable[Edge], rows: list[int], sources: list[int], *, mean: bool = False) -> list[Intervention]:
    """One ``edge`` intervention per receiver, patching the given edges in ``rows`` with the
    senders' outputs in ``sources`` (paired row by row, or their mean)."""
    by_receiver: dict[Receiver, list[Sender]] = {}
    for e in edges:
        by_receiver.setdefault(e.receiver, []).append(e.sender)
    out = []
    for r, senders in by_receiver.items():
        site, heads = r.site
        grouped: dict[str, list[int]] = {}
        for s in senders:
            grouped.setdefault(s.site, [])
            if s.kind == "head":
                grouped[s.site].append(s.head)
        out.append(
            Intervention(
                site,
                "edge",
                heads=heads,
                sequences=rows,
                source_sequences=sources,
                senders=[(site_name, sorted(h)) for site_name, h in grouped.items()],
                mean_source=mean,
            )
        )
    return out


_NODE = re.compile(r"^(?:input|logits|m(\d+)|a(\d+)\.(?:h|kv)(\d+))(?:\.([qkv]))?$")


def parse_nodes(names: Sequence[str], graph: Graph, field_name: str, *, senders: bool) -> list:
    """Resolve node names of a request to senders, or to receivers (a head name without an
    input means its three inputs)."""
    out: list = []
    for i, name in enumerate(names):
        f = f"{field_name}[{i}]"
        if senders:
            found = [s for s in graph.senders if s.name == name]
        else:
            found = [r for r in graph.receivers if r.name == name or (r.node == name and r.kind == "head" and r.input)]
            found = found or [r for r in graph.receivers if r.node == name]
        if not found:
            known = "input, a{L}.h{H}, m{L}" if senders else "a{L}.h{H}[.q|.k|.v], m{L}, logits"
            raise invalid(Reason.COMPONENT_UNKNOWN, f, f"no {'sender' if senders else 'receiver'} {name!r} in this model's graph ({known})")
        out.extend(found)
    return out
