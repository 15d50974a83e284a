from interp.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_METRIC_UNSPECIFIED: _ClassVar[TaskMetric]
    TASK_METRIC_LOGIT_DIFFERENCE: _ClassVar[TaskMetric]
    TASK_METRIC_PROBABILITY: _ClassVar[TaskMetric]
    TASK_METRIC_LOG_PROBABILITY: _ClassVar[TaskMetric]

class Component(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPONENT_UNSPECIFIED: _ClassVar[Component]
    COMPONENT_RESID_PRE: _ClassVar[Component]
    COMPONENT_ATTN_OUT: _ClassVar[Component]
    COMPONENT_MLP_OUT: _ClassVar[Component]
    COMPONENT_HEAD_RESULT: _ClassVar[Component]

class PatchingMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PATCHING_METHOD_UNSPECIFIED: _ClassVar[PatchingMethod]
    PATCHING_METHOD_ACTIVATION: _ClassVar[PatchingMethod]
    PATCHING_METHOD_ATTRIBUTION: _ClassVar[PatchingMethod]

class CircuitMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CIRCUIT_METHOD_UNSPECIFIED: _ClassVar[CircuitMethod]
    CIRCUIT_METHOD_EAP: _ClassVar[CircuitMethod]
    CIRCUIT_METHOD_EAP_IG: _ClassVar[CircuitMethod]
    CIRCUIT_METHOD_ACDC: _ClassVar[CircuitMethod]
    CIRCUIT_METHOD_EDGE_PATCHING: _ClassVar[CircuitMethod]

class CircuitType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CIRCUIT_TYPE_UNSPECIFIED: _ClassVar[CircuitType]
    CIRCUIT_TYPE_ATTENTION_ONLY: _ClassVar[CircuitType]
    CIRCUIT_TYPE_MLP_ONLY: _ClassVar[CircuitType]
    CIRCUIT_TYPE_MIXED: _ClassVar[CircuitType]

class Ablation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ABLATION_UNSPECIFIED: _ClassVar[Ablation]
    ABLATION_RESAMPLE: _ClassVar[Ablation]
    ABLATION_MEAN: _ClassVar[Ablation]

class NodeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_KIND_UNSPECIFIED: _ClassVar[NodeKind]
    NODE_KIND_INPUT: _ClassVar[NodeKind]
    NODE_KIND_HEAD: _ClassVar[NodeKind]
    NODE_KIND_MLP: _ClassVar[NodeKind]
    NODE_KIND_LOGITS: _ClassVar[NodeKind]

class TraceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACE_STATE_UNSPECIFIED: _ClassVar[TraceState]
    TRACE_STATE_HIDDEN: _ClassVar[TraceState]
    TRACE_STATE_MLP: _ClassVar[TraceState]
    TRACE_STATE_ATTN: _ClassVar[TraceState]

class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALGORITHM_UNSPECIFIED: _ClassVar[Algorithm]
    ALGORITHM_MODULAR_ADDITION: _ClassVar[Algorithm]
    ALGORITHM_INDUCTION: _ClassVar[Algorithm]
TASK_METRIC_UNSPECIFIED: TaskMetric
TASK_METRIC_LOGIT_DIFFERENCE: TaskMetric
TASK_METRIC_PROBABILITY: TaskMetric
TASK_METRIC_LOG_PROBABILITY: TaskMetric
COMPONENT_UNSPECIFIED: Component
COMPONENT_RESID_PRE: Component
COMPONENT_ATTN_OUT: Component
COMPONENT_MLP_OUT: Component
COMPONENT_HEAD_RESULT: Component
PATCHING_METHOD_UNSPECIFIED: PatchingMethod
PATCHING_METHOD_ACTIVATION: PatchingMethod
PATCHING_METHOD_ATTRIBUTION: PatchingMethod
CIRCUIT_METHOD_UNSPECIFIED: CircuitMethod
CIRCUIT_METHOD_EAP: CircuitMethod
CIRCUIT_METHOD_EAP_IG: CircuitMethod
CIRCUIT_METHOD_ACDC: CircuitMethod
CIRCUIT_METHOD_EDGE_PATCHING: CircuitMethod
CIRCUIT_TYPE_UNSPECIFIED: CircuitType
CIRCUIT_TYPE_ATTENTION_ONLY: CircuitType
CIRCUIT_TYPE_MLP_ONLY: CircuitType
CIRCUIT_TYPE_MIXED: CircuitType
ABLATION_UNSPECIFIED: Ablation
ABLATION_RESAMPLE: Ablation
ABLATION_MEAN: Ablation
NODE_KIND_UNSPECIFIED: NodeKind
NODE_KIND_INPUT: NodeKind
NODE_KIND_HEAD: NodeKind
NODE_KIND_MLP: NodeKind
NODE_KIND_LOGITS: NodeKind
TRACE_STATE_UNSPECIFIED: TraceState
TRACE_STATE_HIDDEN: TraceState
TRACE_STATE_MLP: TraceState
TRACE_STATE_ATTN: TraceState
ALGORITHM_UNSPECIFIED: Algorithm
ALGORITHM_MODULAR_ADDITION: Algorithm
ALGORITHM_INDUCTION: Algorithm

class PromptPair(_message.Message):
    __slots__ = ("clean", "corrupted", "answer", "wrong_answer", "subject")
    CLEAN_FIELD_NUMBER: _ClassVar[int]
    CORRUPTED_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    WRONG_ANSWER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    clean: str
    corrupted: str
    answer: str
    wrong_answer: str
    subject: str
    def __init__(self, clean: _Optional[str] = ..., corrupted: _Optional[str] = ..., answer: _Optional[str] = ..., wrong_answer: _Optional[str] = ..., subject: _Optional[str] = ...) -> None: ...

class CircuitTask(_message.Message):
    __slots__ = ("name", "pairs", "metric")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    pairs: _containers.RepeatedCompositeFieldContainer[PromptPair]
    metric: TaskMetric
    def __init__(self, name: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[PromptPair, _Mapping]]] = ..., metric: _Optional[_Union[TaskMetric, str]] = ...) -> None: ...

class PatchActivationsRequest(_message.Message):
    __slots__ = ("model", "task", "components", "per_position", "method")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    PER_POSITION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    model: str
    task: CircuitTask
    components: _containers.RepeatedScalarFieldContainer[Component]
    per_position: bool
    method: PatchingMethod
    def __init__(self, model: _Optional[str] = ..., task: _Optional[_Union[CircuitTask, _Mapping]] = ..., components: _Optional[_Iterable[_Union[Component, str]]] = ..., per_position: _Optional[bool] = ..., method: _Optional[_Union[PatchingMethod, str]] = ...) -> None: ...

class PatchingMap(_message.Message):
    __slots__ = ("component", "row_label", "col_label", "rows", "cols", "values")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    ROW_LABEL_FIELD_NUMBER: _ClassVar[int]
    COL_LABEL_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    component: str
    row_label: str
    col_label: str
    rows: _containers.RepeatedScalarFieldContainer[str]
    cols: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, component: _Optional[str] = ..., row_label: _Optional[str] = ..., col_label: _Optional[str] = ..., rows: _Optional[_Iterable[str]] = ..., cols: _Optional[_Iterable[str]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class PatchingResult(_message.Message):
    __slots__ = ("clean_metric", "corrupted_metric", "maps", "runs", "findings", "method")
    CLEAN_METRIC_FIELD_NUMBER: _ClassVar[int]
    CORRUPTED_METRIC_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    clean_metric: float
    corrupted_metric: float
    maps: _containers.RepeatedCompositeFieldContainer[PatchingMap]
    runs: int
    findings: _containers.RepeatedScalarFieldContainer[str]
    method: PatchingMethod
    def __init__(self, clean_metric: _Optional[float] = ..., corrupted_metric: _Optional[float] = ..., maps: _Optional[_Iterable[_Union[PatchingMap, _Mapping]]] = ..., runs: _Optional[int] = ..., findings: _Optional[_Iterable[str]] = ..., method: _Optional[_Union[PatchingMethod, str]] = ...) -> None: ...

class PatchActivationsResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: PatchingResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[PatchingResult, _Mapping]] = ...) -> None: ...

class PatchPathsRequest(_message.Message):
    __slots__ = ("model", "task", "senders", "receivers")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SENDERS_FIELD_NUMBER: _ClassVar[int]
    RECEIVERS_FIELD_NUMBER: _ClassVar[int]
    model: str
    task: CircuitTask
    senders: _containers.RepeatedScalarFieldContainer[str]
    receivers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., task: _Optional[_Union[CircuitTask, _Mapping]] = ..., senders: _Optional[_Iterable[str]] = ..., receivers: _Optional[_Iterable[str]] = ...) -> None: ...

class PathEffect(_message.Message):
    __slots__ = ("sender", "receiver", "metric", "effect")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    sender: str
    receiver: str
    metric: float
    effect: float
    def __init__(self, sender: _Optional[str] = ..., receiver: _Optional[str] = ..., metric: _Optional[float] = ..., effect: _Optional[float] = ...) -> None: ...

class PatchPathsResponse(_message.Message):
    __slots__ = ("clean_metric", "corrupted_metric", "joint", "pairs", "findings")
    CLEAN_METRIC_FIELD_NUMBER: _ClassVar[int]
    CORRUPTED_METRIC_FIELD_NUMBER: _ClassVar[int]
    JOINT_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    clean_metric: float
    corrupted_metric: float
    joint: PathEffect
    pairs: _containers.RepeatedCompositeFieldContainer[PathEffect]
    findings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, clean_metric: _Optional[float] = ..., corrupted_metric: _Optional[float] = ..., joint: _Optional[_Union[PathEffect, _Mapping]] = ..., pairs: _Optional[_Iterable[_Union[PathEffect, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ...) -> None: ...

class DiscoverCircuitRequest(_message.Message):
    __slots__ = ("model", "task", "method", "circuit_types", "threshold", "top_edges", "ig_steps", "ablation", "minimality")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_TYPES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TOP_EDGES_FIELD_NUMBER: _ClassVar[int]
    IG_STEPS_FIELD_NUMBER: _ClassVar[int]
    ABLATION_FIELD_NUMBER: _ClassVar[int]
    MINIMALITY_FIELD_NUMBER: _ClassVar[int]
    model: str
    task: CircuitTask
    method: CircuitMethod
    circuit_types: _containers.RepeatedScalarFieldContainer[CircuitType]
    threshold: float
    top_edges: int
    ig_steps: int
    ablation: Ablation
    minimality: bool
    def __init__(self, model: _Optional[str] = ..., task: _Optional[_Union[CircuitTask, _Mapping]] = ..., method: _Optional[_Union[CircuitMethod, str]] = ..., circuit_types: _Optional[_Iterable[_Union[CircuitType, str]]] = ..., threshold: _Optional[float] = ..., top_edges: _Optional[int] = ..., ig_steps: _Optional[int] = ..., ablation: _Optional[_Union[Ablation, str]] = ..., minimality: _Optional[bool] = ...) -> None: ...

class CircuitNode(_message.Message):
    __slots__ = ("name", "kind", "layer", "head", "score")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: NodeKind
    layer: int
    head: int
    score: float
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[NodeKind, str]] = ..., layer: _Optional[int] = ..., head: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class CircuitEdge(_message.Message):
    __slots__ = ("sender", "receiver", "input", "score", "minimality")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MINIMALITY_FIELD_NUMBER: _ClassVar[int]
    sender: str
    receiver: str
    input: str
    score: float
    minimality: float
    def __init__(self, sender: _Optional[str] = ..., receiver: _Optional[str] = ..., input: _Optional[str] = ..., score: _Optional[float] = ..., minimality: _Optional[float] = ...) -> None: ...

class Circuit(_message.Message):
    __slots__ = ("circuit_type", "nodes", "edges", "edges_total", "threshold", "circuit_metric", "metric_recovered", "top_edges")
    CIRCUIT_TYPE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    EDGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_METRIC_FIELD_NUMBER: _ClassVar[int]
    METRIC_RECOVERED_FIELD_NUMBER: _ClassVar[int]
    TOP_EDGES_FIELD_NUMBER: _ClassVar[int]
    circuit_type: CircuitType
    nodes: _containers.RepeatedCompositeFieldContainer[CircuitNode]
    edges: _containers.RepeatedCompositeFieldContainer[CircuitEdge]
    edges_total: int
    threshold: float
    circuit_metric: float
    metric_recovered: float
    top_edges: int
    def __init__(self, circuit_type: _Optional[_Union[CircuitType, str]] = ..., nodes: _Optional[_Iterable[_Union[CircuitNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[CircuitEdge, _Mapping]]] = ..., edges_total: _Optional[int] = ..., threshold: _Optional[float] = ..., circuit_metric: _Optional[float] = ..., metric_recovered: _Optional[float] = ..., top_edges: _Optional[int] = ...) -> None: ...

class CircuitResult(_message.Message):
    __slots__ = ("method", "clean_metric", "corrupted_metric", "circuits", "ablation", "runs", "findings", "all_scores", "edge_names")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CLEAN_METRIC_FIELD_NUMBER: _ClassVar[int]
    CORRUPTED_METRIC_FIELD_NUMBER: _ClassVar[int]
    CIRCUITS_FIELD_NUMBER: _ClassVar[int]
    ABLATION_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    ALL_SCORES_FIELD_NUMBER: _ClassVar[int]
    EDGE_NAMES_FIELD_NUMBER: _ClassVar[int]
    method: CircuitMethod
    clean_metric: float
    corrupted_metric: float
    circuits: _containers.RepeatedCompositeFieldContainer[Circuit]
    ablation: Ablation
    runs: int
    findings: _containers.RepeatedScalarFieldContainer[str]
    all_scores: _containers.RepeatedScalarFieldContainer[float]
    edge_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, method: _Optional[_Union[CircuitMethod, str]] = ..., clean_metric: _Optional[float] = ..., corrupted_metric: _Optional[float] = ..., circuits: _Optional[_Iterable[_Union[Circuit, _Mapping]]] = ..., ablation: _Optional[_Union[Ablation, str]] = ..., runs: _Optional[int] = ..., findings: _Optional[_Iterable[str]] = ..., all_scores: _Optional[_Iterable[float]] = ..., edge_names: _Optional[_Iterable[str]] = ...) -> None: ...

class DiscoverCircuitResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: CircuitResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[CircuitResult, _Mapping]] = ...) -> None: ...

class TraceCausalFlowRequest(_message.Message):
    __slots__ = ("model", "prompt", "target", "subject", "subject_positions", "noise_scale", "samples", "states", "window", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    NOISE_SCALE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt: str
    target: str
    subject: str
    subject_positions: _containers.RepeatedScalarFieldContainer[int]
    noise_scale: float
    samples: int
    states: _containers.RepeatedScalarFieldContainer[TraceState]
    window: int
    seed: int
    def __init__(self, model: _Optional[str] = ..., prompt: _Optional[str] = ..., target: _Optional[str] = ..., subject: _Optional[str] = ..., subject_positions: _Optional[_Iterable[int]] = ..., noise_scale: _Optional[float] = ..., samples: _Optional[int] = ..., states: _Optional[_Iterable[_Union[TraceState, str]]] = ..., window: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class TraceMap(_message.Message):
    __slots__ = ("state", "window", "values")
    STATE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    state: str
    window: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, state: _Optional[str] = ..., window: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class CausalTrace(_message.Message):
    __slots__ = ("tokens", "subject_positions", "target", "clean_probability", "corrupted_probability", "noise_std", "samples", "num_layers", "maps", "findings", "runs")
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CLEAN_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    CORRUPTED_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    NOISE_STD_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedScalarFieldContainer[str]
    subject_positions: _containers.RepeatedScalarFieldContainer[int]
    target: str
    clean_probability: float
    corrupted_probability: float
    noise_std: float
    samples: int
    num_layers: int
    maps: _containers.RepeatedCompositeFieldContainer[TraceMap]
    findings: _containers.RepeatedScalarFieldContainer[str]
    runs: int
    def __init__(self, tokens: _Optional[_Iterable[str]] = ..., subject_positions: _Optional[_Iterable[int]] = ..., target: _Optional[str] = ..., clean_probability: _Optional[float] = ..., corrupted_probability: _Optional[float] = ..., noise_std: _Optional[float] = ..., samples: _Optional[int] = ..., num_layers: _Optional[int] = ..., maps: _Optional[_Iterable[_Union[TraceMap, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ..., runs: _Optional[int] = ...) -> None: ...

class TraceCausalFlowResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: CausalTrace
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[CausalTrace, _Mapping]] = ...) -> None: ...

class DetectHeadsRequest(_message.Message):
    __slots__ = ("model", "sequence_length", "num_sequences", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    NUM_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: str
    sequence_length: int
    num_sequences: int
    seed: int
    def __init__(self, model: _Optional[str] = ..., sequence_length: _Optional[int] = ..., num_sequences: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class HeadScore(_message.Message):
    __slots__ = ("layer", "head", "previous_token", "duplicate_token", "induction")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INDUCTION_FIELD_NUMBER: _ClassVar[int]
    layer: int
    head: int
    previous_token: float
    duplicate_token: float
    induction: float
    def __init__(self, layer: _Optional[int] = ..., head: _Optional[int] = ..., previous_token: _Optional[float] = ..., duplicate_token: _Optional[float] = ..., induction: _Optional[float] = ...) -> None: ...

class DetectHeadsResponse(_message.Message):
    __slots__ = ("heads", "findings")
    HEADS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    heads: _containers.RepeatedCompositeFieldContainer[HeadScore]
    findings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, heads: _Optional[_Iterable[_Union[HeadScore, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ...) -> None: ...

class FindAlgorithmRequest(_message.Message):
    __slots__ = ("model", "algorithm", "modulus", "seed", "sequence_length")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MODULUS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    model: str
    algorithm: Algorithm
    modulus: int
    seed: int
    sequence_length: int
    def __init__(self, model: _Optional[str] = ..., algorithm: _Optional[_Union[Algorithm, str]] = ..., modulus: _Optional[int] = ..., seed: _Optional[int] = ..., sequence_length: _Optional[int] = ...) -> None: ...

class FrequencyEffect(_message.Message):
    __slots__ = ("frequency", "norm", "accuracy_without")
    FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_WITHOUT_FIELD_NUMBER: _ClassVar[int]
    frequency: int
    norm: float
    accuracy_without: float
    def __init__(self, frequency: _Optional[int] = ..., norm: _Optional[float] = ..., accuracy_without: _Optional[float] = ...) -> None: ...

class ModularAdditionFinding(_message.Message):
    __slots__ = ("modulus", "frequencies", "key_frequencies", "accuracy", "accuracy_key_only", "accuracy_control", "losses")
    MODULUS_FIELD_NUMBER: _ClassVar[int]
    FREQUENCIES_FIELD_NUMBER: _ClassVar[int]
    KEY_FREQUENCIES_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_KEY_ONLY_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_CONTROL_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    modulus: int
    frequencies: _containers.RepeatedCompositeFieldContainer[FrequencyEffect]
    key_frequencies: _containers.RepeatedScalarFieldContainer[int]
    accuracy: float
    accuracy_key_only: float
    accuracy_control: float
    losses: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, modulus: _Optional[int] = ..., frequencies: _Optional[_Iterable[_Union[FrequencyEffect, _Mapping]]] = ..., key_frequencies: _Optional[_Iterable[int]] = ..., accuracy: _Optional[float] = ..., accuracy_key_only: _Optional[float] = ..., accuracy_control: _Optional[float] = ..., losses: _Optional[_Iterable[float]] = ...) -> None: ...

class InductionFinding(_message.Message):
    __slots__ = ("heads", "previous_token_heads", "induction_heads", "circuit", "loss", "loss_without_previous_token", "loss_without_induction", "uniform_loss")
    HEADS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TOKEN_HEADS_FIELD_NUMBER: _ClassVar[int]
    INDUCTION_HEADS_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    LOSS_WITHOUT_PREVIOUS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOSS_WITHOUT_INDUCTION_FIELD_NUMBER: _ClassVar[int]
    UNIFORM_LOSS_FIELD_NUMBER: _ClassVar[int]
    heads: _containers.RepeatedCompositeFieldContainer[HeadScore]
    previous_token_heads: _containers.RepeatedScalarFieldContainer[str]
    induction_heads: _containers.RepeatedScalarFieldContainer[str]
    circuit: Circuit
    loss: float
    loss_without_previous_token: float
    loss_without_induction: float
    uniform_loss: float
    def __init__(self, heads: _Optional[_Iterable[_Union[HeadScore, _Mapping]]] = ..., previous_token_heads: _Optional[_Iterable[str]] = ..., induction_heads: _Optional[_Iterable[str]] = ..., circuit: _Optional[_Union[Circuit, _Mapping]] = ..., loss: _Optional[float] = ..., loss_without_previous_token: _Optional[float] = ..., loss_without_induction: _Optional[float] = ..., uniform_loss: _Optional[float] = ...) -> None: ...

class AlgorithmResult(_message.Message):
    __slots__ = ("algorithm", "modular_addition", "induction", "findings", "runs")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    MODULAR_ADDITION_FIELD_NUMBER: _ClassVar[int]
    INDUCTION_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    algorithm: Algorithm
    modular_addition: ModularAdditionFinding
    induction: InductionFinding
    findings: _containers.RepeatedScalarFieldContainer[str]
    runs: int
    def __init__(self, algorithm: _Optional[_Union[Algorithm, str]] = ..., modular_addition: _Optional[_Union[ModularAdditionFinding, _Mapping]] = ..., induction: _Optional[_Union[InductionFinding, _Mapping]] = ..., findings: _Optional[_Iterable[str]] = ..., runs: _Optional[int] = ...) -> None: ...

class FindAlgorithmResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: AlgorithmResult
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[AlgorithmResult, _Mapping]] = ...) -> None: ...
