from interp.v1 import common_pb2 as _common_pb2
from interp.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProbeLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROBE_LEVEL_UNSPECIFIED: _ClassVar[ProbeLevel]
    PROBE_LEVEL_TOKEN: _ClassVar[ProbeLevel]
    PROBE_LEVEL_SENTENCE: _ClassVar[ProbeLevel]
    PROBE_LEVEL_DEPTH: _ClassVar[ProbeLevel]
    PROBE_LEVEL_DISTANCE: _ClassVar[ProbeLevel]

class ProbeClassifier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROBE_CLASSIFIER_UNSPECIFIED: _ClassVar[ProbeClassifier]
    PROBE_CLASSIFIER_LOGISTIC: _ClassVar[ProbeClassifier]
    PROBE_CLASSIFIER_MLP: _ClassVar[ProbeClassifier]

class Pooling(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POOLING_UNSPECIFIED: _ClassVar[Pooling]
    POOLING_MEAN: _ClassVar[Pooling]
    POOLING_LAST: _ClassVar[Pooling]
    POOLING_FIRST: _ClassVar[Pooling]

class SimilarityMetric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIMILARITY_METRIC_UNSPECIFIED: _ClassVar[SimilarityMetric]
    SIMILARITY_METRIC_COSINE: _ClassVar[SimilarityMetric]
    SIMILARITY_METRIC_CKA: _ClassVar[SimilarityMetric]
    SIMILARITY_METRIC_RSA: _ClassVar[SimilarityMetric]

class LayerPairing(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LAYER_PAIRING_UNSPECIFIED: _ClassVar[LayerPairing]
    LAYER_PAIRING_MATCHED: _ClassVar[LayerPairing]
    LAYER_PAIRING_ALL: _ClassVar[LayerPairing]
PROBE_LEVEL_UNSPECIFIED: ProbeLevel
PROBE_LEVEL_TOKEN: ProbeLevel
PROBE_LEVEL_SENTENCE: ProbeLevel
PROBE_LEVEL_DEPTH: ProbeLevel
PROBE_LEVEL_DISTANCE: ProbeLevel
PROBE_CLASSIFIER_UNSPECIFIED: ProbeClassifier
PROBE_CLASSIFIER_LOGISTIC: ProbeClassifier
PROBE_CLASSIFIER_MLP: ProbeClassifier
POOLING_UNSPECIFIED: Pooling
POOLING_MEAN: Pooling
POOLING_LAST: Pooling
POOLING_FIRST: Pooling
SIMILARITY_METRIC_UNSPECIFIED: SimilarityMetric
SIMILARITY_METRIC_COSINE: SimilarityMetric
SIMILARITY_METRIC_CKA: SimilarityMetric
SIMILARITY_METRIC_RSA: SimilarityMetric
LAYER_PAIRING_UNSPECIFIED: LayerPairing
LAYER_PAIRING_MATCHED: LayerPairing
LAYER_PAIRING_ALL: LayerPairing

class ProbeExample(_message.Message):
    __slots__ = ("text", "words", "label", "word_labels", "heads", "group", "source")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    WORD_LABELS_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    text: str
    words: _containers.RepeatedScalarFieldContainer[str]
    label: str
    word_labels: _containers.RepeatedScalarFieldContainer[str]
    heads: _containers.RepeatedScalarFieldContainer[int]
    group: str
    source: str
    def __init__(self, text: _Optional[str] = ..., words: _Optional[_Iterable[str]] = ..., label: _Optional[str] = ..., word_labels: _Optional[_Iterable[str]] = ..., heads: _Optional[_Iterable[int]] = ..., group: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class ProbeTask(_message.Message):
    __slots__ = ("name", "level", "examples")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    name: str
    level: ProbeLevel
    examples: _containers.RepeatedCompositeFieldContainer[ProbeExample]
    def __init__(self, name: _Optional[str] = ..., level: _Optional[_Union[ProbeLevel, str]] = ..., examples: _Optional[_Iterable[_Union[ProbeExample, _Mapping]]] = ...) -> None: ...

class ProbeOptions(_message.Message):
    __slots__ = ("classifier", "regularization", "validation_fraction", "test_fraction", "seed", "skip_mdl", "structural_rank", "mlp_hidden")
    CLASSIFIER_FIELD_NUMBER: _ClassVar[int]
    REGULARIZATION_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    TEST_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SKIP_MDL_FIELD_NUMBER: _ClassVar[int]
    STRUCTURAL_RANK_FIELD_NUMBER: _ClassVar[int]
    MLP_HIDDEN_FIELD_NUMBER: _ClassVar[int]
    classifier: ProbeClassifier
    regularization: _containers.RepeatedScalarFieldContainer[float]
    validation_fraction: float
    test_fraction: float
    seed: int
    skip_mdl: bool
    structural_rank: int
    mlp_hidden: int
    def __init__(self, classifier: _Optional[_Union[ProbeClassifier, str]] = ..., regularization: _Optional[_Iterable[float]] = ..., validation_fraction: _Optional[float] = ..., test_fraction: _Optional[float] = ..., seed: _Optional[int] = ..., skip_mdl: _Optional[bool] = ..., structural_rank: _Optional[int] = ..., mlp_hidden: _Optional[int] = ...) -> None: ...

class CounterfactualPair(_message.Message):
    __slots__ = ("original", "counterfactual", "source")
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    COUNTERFACTUAL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    original: str
    counterfactual: str
    source: str
    def __init__(self, original: _Optional[str] = ..., counterfactual: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class BiasAnalysis(_message.Message):
    __slots__ = ("protected_task", "pairs")
    PROTECTED_TASK_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    protected_task: str
    pairs: _containers.RepeatedCompositeFieldContainer[CounterfactualPair]
    def __init__(self, protected_task: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[CounterfactualPair, _Mapping]]] = ...) -> None: ...

class ProbeRepresentationsRequest(_message.Message):
    __slots__ = ("model", "tasks", "layers", "sentence_pooling", "word_pooling", "include_first_token", "options", "bias", "delivery")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_POOLING_FIELD_NUMBER: _ClassVar[int]
    WORD_POOLING_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    model: str
    tasks: _containers.RepeatedCompositeFieldContainer[ProbeTask]
    layers: _containers.RepeatedScalarFieldContainer[int]
    sentence_pooling: Pooling
    word_pooling: Pooling
    include_first_token: bool
    options: ProbeOptions
    bias: BiasAnalysis
    delivery: _tensor_pb2.ResultDelivery
    def __init__(self, model: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[ProbeTask, _Mapping]]] = ..., layers: _Optional[_Iterable[int]] = ..., sentence_pooling: _Optional[_Union[Pooling, str]] = ..., word_pooling: _Optional[_Union[Pooling, str]] = ..., include_first_token: _Optional[bool] = ..., options: _Optional[_Union[ProbeOptions, _Mapping]] = ..., bias: _Optional[_Union[BiasAnalysis, _Mapping]] = ..., delivery: _Optional[_Union[_tensor_pb2.ResultDelivery, str]] = ...) -> None: ...

class ProbeScore(_message.Message):
    __slots__ = ("score", "score_low", "score_high", "train_score", "validation_score", "regularization", "spearman", "mdl_bits", "uniform_bits", "compression")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORE_LOW_FIELD_NUMBER: _ClassVar[int]
    SCORE_HIGH_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_SCORE_FIELD_NUMBER: _ClassVar[int]
    REGULARIZATION_FIELD_NUMBER: _ClassVar[int]
    SPEARMAN_FIELD_NUMBER: _ClassVar[int]
    MDL_BITS_FIELD_NUMBER: _ClassVar[int]
    UNIFORM_BITS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    score: float
    score_low: float
    score_high: float
    train_score: float
    validation_score: float
    regularization: float
    spearman: float
    mdl_bits: float
    uniform_bits: float
    compression: float
    def __init__(self, score: _Optional[float] = ..., score_low: _Optional[float] = ..., score_high: _Optional[float] = ..., train_score: _Optional[float] = ..., validation_score: _Optional[float] = ..., regularization: _Optional[float] = ..., spearman: _Optional[float] = ..., mdl_bits: _Optional[float] = ..., uniform_bits: _Optional[float] = ..., compression: _Optional[float] = ...) -> None: ...

class LayerProbe(_message.Message):
    __slots__ = ("layer", "task", "control", "selectivity")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    SELECTIVITY_FIELD_NUMBER: _ClassVar[int]
    layer: int
    task: ProbeScore
    control: ProbeScore
    selectivity: float
    def __init__(self, layer: _Optional[int] = ..., task: _Optional[_Union[ProbeScore, _Mapping]] = ..., control: _Optional[_Union[ProbeScore, _Mapping]] = ..., selectivity: _Optional[float] = ...) -> None: ...

class TaskProbes(_message.Message):
    __slots__ = ("name", "level", "labels", "metric", "examples", "train_items", "validation_items", "test_items", "baseline_score", "baseline", "layers", "best_layer", "control_description", "directions", "skipped", "skipped_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    TRAIN_ITEMS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_ITEMS_FIELD_NUMBER: _ClassVar[int]
    TEST_ITEMS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SCORE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    BEST_LAYER_FIELD_NUMBER: _ClassVar[int]
    CONTROL_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DIRECTIONS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    level: ProbeLevel
    labels: _containers.RepeatedScalarFieldContainer[str]
    metric: str
    examples: int
    train_items: int
    validation_items: int
    test_items: int
    baseline_score: float
    baseline: str
    layers: _containers.RepeatedCompositeFieldContainer[LayerProbe]
    best_layer: int
    control_description: str
    directions: _tensor_pb2.Tensor
    skipped: _containers.RepeatedCompositeFieldContainer[_common_pb2.SkippedInput]
    skipped_count: int
    def __init__(self, name: _Optional[str] = ..., level: _Optional[_Union[ProbeLevel, str]] = ..., labels: _Optional[_Iterable[str]] = ..., metric: _Optional[str] = ..., examples: _Optional[int] = ..., train_items: _Optional[int] = ..., validation_items: _Optional[int] = ..., test_items: _Optional[int] = ..., baseline_score: _Optional[float] = ..., baseline: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[LayerProbe, _Mapping]]] = ..., best_layer: _Optional[int] = ..., control_description: _Optional[str] = ..., directions: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., skipped: _Optional[_Iterable[_Union[_common_pb2.SkippedInput, _Mapping]]] = ..., skipped_count: _Optional[int] = ...) -> None: ...

class DirectionAlignment(_message.Message):
    __slots__ = ("layer", "task", "label", "protected_label", "cosine")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_LABEL_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    layer: int
    task: str
    label: str
    protected_label: str
    cosine: float
    def __init__(self, layer: _Optional[int] = ..., task: _Optional[str] = ..., label: _Optional[str] = ..., protected_label: _Optional[str] = ..., cosine: _Optional[float] = ...) -> None: ...

class CounterfactualEffect(_message.Message):
    __slots__ = ("layer", "task", "flip_rate", "mean_shift_sd", "pairs")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    FLIP_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_SHIFT_SD_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    layer: int
    task: str
    flip_rate: float
    mean_shift_sd: float
    pairs: int
    def __init__(self, layer: _Optional[int] = ..., task: _Optional[str] = ..., flip_rate: _Optional[float] = ..., mean_shift_sd: _Optional[float] = ..., pairs: _Optional[int] = ...) -> None: ...

class BiasReport(_message.Message):
    __slots__ = ("protected_task", "alignments", "effects")
    PROTECTED_TASK_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    protected_task: str
    alignments: _containers.RepeatedCompositeFieldContainer[DirectionAlignment]
    effects: _containers.RepeatedCompositeFieldContainer[CounterfactualEffect]
    def __init__(self, protected_task: _Optional[str] = ..., alignments: _Optional[_Iterable[_Union[DirectionAlignment, _Mapping]]] = ..., effects: _Optional[_Iterable[_Union[CounterfactualEffect, _Mapping]]] = ...) -> None: ...

class ProbeAnalysis(_message.Message):
    __slots__ = ("model", "layers", "tasks", "bias", "findings", "extraction_seconds", "fitting_seconds", "tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    BIAS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    EXTRACTION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FITTING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    layers: _containers.RepeatedScalarFieldContainer[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskProbes]
    bias: BiasReport
    findings: _containers.RepeatedScalarFieldContainer[str]
    extraction_seconds: float
    fitting_seconds: float
    tokens: int
    def __init__(self, model: _Optional[str] = ..., layers: _Optional[_Iterable[int]] = ..., tasks: _Optional[_Iterable[_Union[TaskProbes, _Mapping]]] = ..., bias: _Optional[_Union[BiasReport, _Mapping]] = ..., findings: _Optional[_Iterable[str]] = ..., extraction_seconds: _Optional[float] = ..., fitting_seconds: _Optional[float] = ..., tokens: _Optional[int] = ...) -> None: ...

class ProbeRepresentationsResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: ProbeAnalysis
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[ProbeAnalysis, _Mapping]] = ...) -> None: ...

class RepresentationSource(_message.Message):
    __slots__ = ("label", "model", "texts")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    label: str
    model: str
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, label: _Optional[str] = ..., model: _Optional[str] = ..., texts: _Optional[_Iterable[str]] = ...) -> None: ...

class CompareRepresentationsRequest(_message.Message):
    __slots__ = ("model", "sources", "layers", "metrics", "pairing", "pooling", "include_first_token", "standardize")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PAIRING_FIELD_NUMBER: _ClassVar[int]
    POOLING_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STANDARDIZE_FIELD_NUMBER: _ClassVar[int]
    model: str
    sources: _containers.RepeatedCompositeFieldContainer[RepresentationSource]
    layers: _containers.RepeatedScalarFieldContainer[int]
    metrics: _containers.RepeatedScalarFieldContainer[SimilarityMetric]
    pairing: LayerPairing
    pooling: Pooling
    include_first_token: bool
    standardize: bool
    def __init__(self, model: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[RepresentationSource, _Mapping]]] = ..., layers: _Optional[_Iterable[int]] = ..., metrics: _Optional[_Iterable[_Union[SimilarityMetric, str]]] = ..., pairing: _Optional[_Union[LayerPairing, str]] = ..., pooling: _Optional[_Union[Pooling, str]] = ..., include_first_token: _Optional[bool] = ..., standardize: _Optional[bool] = ...) -> None: ...

class MetricValues(_message.Message):
    __slots__ = ("name", "values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class SimilarityResult(_message.Message):
    __slots__ = ("source_a", "source_b", "model_a", "model_b", "layers_a", "layers_b", "grid", "metrics")
    SOURCE_A_FIELD_NUMBER: _ClassVar[int]
    SOURCE_B_FIELD_NUMBER: _ClassVar[int]
    MODEL_A_FIELD_NUMBER: _ClassVar[int]
    MODEL_B_FIELD_NUMBER: _ClassVar[int]
    LAYERS_A_FIELD_NUMBER: _ClassVar[int]
    LAYERS_B_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    source_a: str
    source_b: str
    model_a: str
    model_b: str
    layers_a: _containers.RepeatedScalarFieldContainer[int]
    layers_b: _containers.RepeatedScalarFieldContainer[int]
    grid: bool
    metrics: _containers.RepeatedCompositeFieldContainer[MetricValues]
    def __init__(self, source_a: _Optional[str] = ..., source_b: _Optional[str] = ..., model_a: _Optional[str] = ..., model_b: _Optional[str] = ..., layers_a: _Optional[_Iterable[int]] = ..., layers_b: _Optional[_Iterable[int]] = ..., grid: _Optional[bool] = ..., metrics: _Optional[_Iterable[_Union[MetricValues, _Mapping]]] = ...) -> None: ...

class RepresentationSimilarity(_message.Message):
    __slots__ = ("pairs", "texts", "findings", "seconds")
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[SimilarityResult]
    texts: int
    findings: _containers.RepeatedScalarFieldContainer[str]
    seconds: float
    def __init__(self, pairs: _Optional[_Iterable[_Union[SimilarityResult, _Mapping]]] = ..., texts: _Optional[int] = ..., findings: _Optional[_Iterable[str]] = ..., seconds: _Optional[float] = ...) -> None: ...

class CompareRepresentationsResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: RepresentationSimilarity
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[RepresentationSimilarity, _Mapping]] = ...) -> None: ...
