from interp.v1 import common_pb2 as _common_pb2
from interp.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ActivationSite(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_SITE_UNSPECIFIED: _ClassVar[ActivationSite]
    ACTIVATION_SITE_MLP_POST: _ClassVar[ActivationSite]
    ACTIVATION_SITE_RESID_POST: _ClassVar[ActivationSite]
    ACTIVATION_SITE_ATTN_OUT: _ClassVar[ActivationSite]
    ACTIVATION_SITE_MLP_OUT: _ClassVar[ActivationSite]

class TokenAggregation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_AGGREGATION_UNSPECIFIED: _ClassVar[TokenAggregation]
    TOKEN_AGGREGATION_MAX: _ClassVar[TokenAggregation]
    TOKEN_AGGREGATION_MEAN: _ClassVar[TokenAggregation]

class GradientType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRADIENT_TYPE_UNSPECIFIED: _ClassVar[GradientType]
    GRADIENT_TYPE_INPUT: _ClassVar[GradientType]
    GRADIENT_TYPE_HIDDEN: _ClassVar[GradientType]
    GRADIENT_TYPE_ATTENTION: _ClassVar[GradientType]

class RankingMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RANKING_METHOD_UNSPECIFIED: _ClassVar[RankingMethod]
    RANKING_METHOD_GRADIENT_MAGNITUDE: _ClassVar[RankingMethod]
    RANKING_METHOD_GRADIENT_X_ACTIVATION: _ClassVar[RankingMethod]
    RANKING_METHOD_ABLATION: _ClassVar[RankingMethod]

class AblationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ABLATION_KIND_UNSPECIFIED: _ClassVar[AblationKind]
    ABLATION_KIND_ZERO: _ClassVar[AblationKind]
    ABLATION_KIND_MEAN: _ClassVar[AblationKind]
ACTIVATION_SITE_UNSPECIFIED: ActivationSite
ACTIVATION_SITE_MLP_POST: ActivationSite
ACTIVATION_SITE_RESID_POST: ActivationSite
ACTIVATION_SITE_ATTN_OUT: ActivationSite
ACTIVATION_SITE_MLP_OUT: ActivationSite
TOKEN_AGGREGATION_UNSPECIFIED: TokenAggregation
TOKEN_AGGREGATION_MAX: TokenAggregation
TOKEN_AGGREGATION_MEAN: TokenAggregation
GRADIENT_TYPE_UNSPECIFIED: GradientType
GRADIENT_TYPE_INPUT: GradientType
GRADIENT_TYPE_HIDDEN: GradientType
GRADIENT_TYPE_ATTENTION: GradientType
RANKING_METHOD_UNSPECIFIED: RankingMethod
RANKING_METHOD_GRADIENT_MAGNITUDE: RankingMethod
RANKING_METHOD_GRADIENT_X_ACTIVATION: RankingMethod
RANKING_METHOD_ABLATION: RankingMethod
ABLATION_KIND_UNSPECIFIED: AblationKind
ABLATION_KIND_ZERO: AblationKind
ABLATION_KIND_MEAN: AblationKind

class NeuronId(_message.Message):
    __slots__ = ("site", "layer", "index")
    SITE_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    site: ActivationSite
    layer: int
    index: int
    def __init__(self, site: _Optional[_Union[ActivationSite, str]] = ..., layer: _Optional[int] = ..., index: _Optional[int] = ...) -> None: ...

class ActivationContext(_message.Message):
    __slots__ = ("text_index", "position", "activation", "token", "left_context", "right_context")
    TEXT_INDEX_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LEFT_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    RIGHT_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    text_index: int
    position: int
    activation: float
    token: str
    left_context: str
    right_context: str
    def __init__(self, text_index: _Optional[int] = ..., position: _Optional[int] = ..., activation: _Optional[float] = ..., token: _Optional[str] = ..., left_context: _Optional[str] = ..., right_context: _Optional[str] = ...) -> None: ...

class Histogram(_message.Message):
    __slots__ = ("edges", "counts", "underflow", "overflow")
    EDGES_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    UNDERFLOW_FIELD_NUMBER: _ClassVar[int]
    OVERFLOW_FIELD_NUMBER: _ClassVar[int]
    edges: _containers.RepeatedScalarFieldContainer[float]
    counts: _containers.RepeatedScalarFieldContainer[int]
    underflow: int
    overflow: int
    def __init__(self, edges: _Optional[_Iterable[float]] = ..., counts: _Optional[_Iterable[int]] = ..., underflow: _Optional[int] = ..., overflow: _Optional[int] = ...) -> None: ...

class LayerActivationSummary(_message.Message):
    __slots__ = ("layer", "mean", "std", "fraction_zero", "fraction_positive", "median_kurtosis", "max", "min", "dead_neurons", "saturated_neurons", "outlier_neurons", "histogram")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    FRACTION_ZERO_FIELD_NUMBER: _ClassVar[int]
    FRACTION_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_KURTOSIS_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    DEAD_NEURONS_FIELD_NUMBER: _ClassVar[int]
    SATURATED_NEURONS_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_NEURONS_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    layer: int
    mean: float
    std: float
    fraction_zero: float
    fraction_positive: float
    median_kurtosis: float
    max: float
    min: float
    dead_neurons: _containers.RepeatedScalarFieldContainer[int]
    saturated_neurons: _containers.RepeatedScalarFieldContainer[int]
    outlier_neurons: _containers.RepeatedScalarFieldContainer[int]
    histogram: Histogram
    def __init__(self, layer: _Optional[int] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., fraction_zero: _Optional[float] = ..., fraction_positive: _Optional[float] = ..., median_kurtosis: _Optional[float] = ..., max: _Optional[float] = ..., min: _Optional[float] = ..., dead_neurons: _Optional[_Iterable[int]] = ..., saturated_neurons: _Optional[_Iterable[int]] = ..., outlier_neurons: _Optional[_Iterable[int]] = ..., histogram: _Optional[_Union[Histogram, _Mapping]] = ...) -> None: ...

class SiteStatistics(_message.Message):
    __slots__ = ("site", "layers", "width", "layer_summaries", "mean", "std", "fraction_zero", "fraction_positive", "kurtosis", "max", "min")
    SITE_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    LAYER_SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    FRACTION_ZERO_FIELD_NUMBER: _ClassVar[int]
    FRACTION_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    KURTOSIS_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    site: ActivationSite
    layers: _containers.RepeatedScalarFieldContainer[int]
    width: int
    layer_summaries: _containers.RepeatedCompositeFieldContainer[LayerActivationSummary]
    mean: _tensor_pb2.Tensor
    std: _tensor_pb2.Tensor
    fraction_zero: _tensor_pb2.Tensor
    fraction_positive: _tensor_pb2.Tensor
    kurtosis: _tensor_pb2.Tensor
    max: _tensor_pb2.Tensor
    min: _tensor_pb2.Tensor
    def __init__(self, site: _Optional[_Union[ActivationSite, str]] = ..., layers: _Optional[_Iterable[int]] = ..., width: _Optional[int] = ..., layer_summaries: _Optional[_Iterable[_Union[LayerActivationSummary, _Mapping]]] = ..., mean: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., std: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., fraction_zero: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., fraction_positive: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., kurtosis: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., max: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., min: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class NeuronExamples(_message.Message):
    __slots__ = ("neuron", "chosen_as", "mean", "max", "examples")
    NEURON_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_AS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    neuron: NeuronId
    chosen_as: str
    mean: float
    max: float
    examples: _containers.RepeatedCompositeFieldContainer[ActivationContext]
    def __init__(self, neuron: _Optional[_Union[NeuronId, _Mapping]] = ..., chosen_as: _Optional[str] = ..., mean: _Optional[float] = ..., max: _Optional[float] = ..., examples: _Optional[_Iterable[_Union[ActivationContext, _Mapping]]] = ...) -> None: ...

class AnalyzeActivationsRequest(_message.Message):
    __slots__ = ("model", "texts", "sample_size", "seed", "sites", "layers", "histogram_bins", "top_k_examples", "neurons", "top_neurons_per_layer", "include_statistics", "context_tokens", "exclude_first_token", "zero_threshold", "delivery")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_BINS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    NEURONS_FIELD_NUMBER: _ClassVar[int]
    TOP_NEURONS_PER_LAYER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_STATISTICS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ZERO_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts: _common_pb2.TextBatch
    sample_size: int
    seed: int
    sites: _containers.RepeatedScalarFieldContainer[ActivationSite]
    layers: _containers.RepeatedScalarFieldContainer[int]
    histogram_bins: int
    top_k_examples: int
    neurons: _containers.RepeatedCompositeFieldContainer[NeuronId]
    top_neurons_per_layer: int
    include_statistics: bool
    context_tokens: int
    exclude_first_token: bool
    zero_threshold: float
    delivery: _tensor_pb2.ResultDelivery
    def __init__(self, model: _Optional[str] = ..., texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ..., sample_size: _Optional[int] = ..., seed: _Optional[int] = ..., sites: _Optional[_Iterable[_Union[ActivationSite, str]]] = ..., layers: _Optional[_Iterable[int]] = ..., histogram_bins: _Optional[int] = ..., top_k_examples: _Optional[int] = ..., neurons: _Optional[_Iterable[_Union[NeuronId, _Mapping]]] = ..., top_neurons_per_layer: _Optional[int] = ..., include_statistics: _Optional[bool] = ..., context_tokens: _Optional[int] = ..., exclude_first_token: _Optional[bool] = ..., zero_threshold: _Optional[float] = ..., delivery: _Optional[_Union[_tensor_pb2.ResultDelivery, str]] = ...) -> None: ...

class ActivationAnalysis(_message.Message):
    __slots__ = ("model", "texts_analyzed", "tokens_analyzed", "sites", "neuron_examples", "findings", "skipped", "skipped_count", "seconds", "zero_threshold")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    TOKENS_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    NEURON_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ZERO_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts_analyzed: int
    tokens_analyzed: int
    sites: _containers.RepeatedCompositeFieldContainer[SiteStatistics]
    neuron_examples: _containers.RepeatedCompositeFieldContainer[NeuronExamples]
    findings: _containers.RepeatedScalarFieldContainer[str]
    skipped: _containers.RepeatedCompositeFieldContainer[_common_pb2.SkippedInput]
    skipped_count: int
    seconds: float
    zero_threshold: float
    def __init__(self, model: _Optional[str] = ..., texts_analyzed: _Optional[int] = ..., tokens_analyzed: _Optional[int] = ..., sites: _Optional[_Iterable[_Union[SiteStatistics, _Mapping]]] = ..., neuron_examples: _Optional[_Iterable[_Union[NeuronExamples, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ..., skipped: _Optional[_Iterable[_Union[_common_pb2.SkippedInput, _Mapping]]] = ..., skipped_count: _Optional[int] = ..., seconds: _Optional[float] = ..., zero_threshold: _Optional[float] = ...) -> None: ...

class AnalyzeActivationsResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: ActivationAnalysis
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[ActivationAnalysis, _Mapping]] = ...) -> None: ...

class FindConceptNeuronsRequest(_message.Message):
    __slots__ = ("model", "concept", "concept_texts", "control_texts", "sites", "layers", "top_k_neurons", "aggregation", "examples_per_neuron", "exclude_first_token", "context_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONCEPT_FIELD_NUMBER: _ClassVar[int]
    CONCEPT_TEXTS_FIELD_NUMBER: _ClassVar[int]
    CONTROL_TEXTS_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_NEURONS_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_PER_NEURON_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    concept: str
    concept_texts: _common_pb2.TextBatch
    control_texts: _common_pb2.TextBatch
    sites: _containers.RepeatedScalarFieldContainer[ActivationSite]
    layers: _containers.RepeatedScalarFieldContainer[int]
    top_k_neurons: int
    aggregation: TokenAggregation
    examples_per_neuron: int
    exclude_first_token: bool
    context_tokens: int
    def __init__(self, model: _Optional[str] = ..., concept: _Optional[str] = ..., concept_texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ..., control_texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ..., sites: _Optional[_Iterable[_Union[ActivationSite, str]]] = ..., layers: _Optional[_Iterable[int]] = ..., top_k_neurons: _Optional[int] = ..., aggregation: _Optional[_Union[TokenAggregation, str]] = ..., examples_per_neuron: _Optional[int] = ..., exclude_first_token: _Optional[bool] = ..., context_tokens: _Optional[int] = ...) -> None: ...

class ConceptNeuron(_message.Message):
    __slots__ = ("neuron", "rank", "auroc", "effect_size", "p_value", "p_bonferroni", "q_value", "concept_mean", "control_mean", "examples")
    NEURON_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    AUROC_FIELD_NUMBER: _ClassVar[int]
    EFFECT_SIZE_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    P_BONFERRONI_FIELD_NUMBER: _ClassVar[int]
    Q_VALUE_FIELD_NUMBER: _ClassVar[int]
    CONCEPT_MEAN_FIELD_NUMBER: _ClassVar[int]
    CONTROL_MEAN_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    neuron: NeuronId
    rank: int
    auroc: float
    effect_size: float
    p_value: float
    p_bonferroni: float
    q_value: float
    concept_mean: float
    control_mean: float
    examples: _containers.RepeatedCompositeFieldContainer[ActivationContext]
    def __init__(self, neuron: _Optional[_Union[NeuronId, _Mapping]] = ..., rank: _Optional[int] = ..., auroc: _Optional[float] = ..., effect_size: _Optional[float] = ..., p_value: _Optional[float] = ..., p_bonferroni: _Optional[float] = ..., q_value: _Optional[float] = ..., concept_mean: _Optional[float] = ..., control_mean: _Optional[float] = ..., examples: _Optional[_Iterable[_Union[ActivationContext, _Mapping]]] = ...) -> None: ...

class ConceptNeurons(_message.Message):
    __slots__ = ("model", "concept", "num_concept", "num_control", "neurons_tested", "significant_bonferroni", "significant_fdr", "neurons", "findings", "skipped", "skipped_count")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONCEPT_FIELD_NUMBER: _ClassVar[int]
    NUM_CONCEPT_FIELD_NUMBER: _ClassVar[int]
    NUM_CONTROL_FIELD_NUMBER: _ClassVar[int]
    NEURONS_TESTED_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_BONFERRONI_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_FDR_FIELD_NUMBER: _ClassVar[int]
    NEURONS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    model: str
    concept: str
    num_concept: int
    num_control: int
    neurons_tested: int
    significant_bonferroni: int
    significant_fdr: int
    neurons: _containers.RepeatedCompositeFieldContainer[ConceptNeuron]
    findings: _containers.RepeatedScalarFieldContainer[str]
    skipped: _containers.RepeatedCompositeFieldContainer[_common_pb2.SkippedInput]
    skipped_count: int
    def __init__(self, model: _Optional[str] = ..., concept: _Optional[str] = ..., num_concept: _Optional[int] = ..., num_control: _Optional[int] = ..., neurons_tested: _Optional[int] = ..., significant_bonferroni: _Optional[int] = ..., significant_fdr: _Optional[int] = ..., neurons: _Optional[_Iterable[_Union[ConceptNeuron, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ..., skipped: _Optional[_Iterable[_Union[_common_pb2.SkippedInput, _Mapping]]] = ..., skipped_count: _Optional[int] = ...) -> None: ...

class FindConceptNeuronsResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: ConceptNeurons
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[ConceptNeurons, _Mapping]] = ...) -> None: ...

class TokenPair(_message.Message):
    __slots__ = ("correct", "incorrect")
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    INCORRECT_FIELD_NUMBER: _ClassVar[int]
    correct: str
    incorrect: str
    def __init__(self, correct: _Optional[str] = ..., incorrect: _Optional[str] = ...) -> None: ...

class AnalysisTarget(_message.Message):
    __slots__ = ("next_token", "class_index", "logit_difference")
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOGIT_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    next_token: str
    class_index: int
    logit_difference: TokenPair
    def __init__(self, next_token: _Optional[str] = ..., class_index: _Optional[int] = ..., logit_difference: _Optional[_Union[TokenPair, _Mapping]] = ...) -> None: ...

class AnalyzeGradientsRequest(_message.Message):
    __slots__ = ("model", "texts", "target", "gradient_types", "layers", "include_norm_analysis")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_NORM_ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts: _common_pb2.TextBatch
    target: AnalysisTarget
    gradient_types: _containers.RepeatedScalarFieldContainer[GradientType]
    layers: _containers.RepeatedScalarFieldContainer[int]
    include_norm_analysis: bool
    def __init__(self, model: _Optional[str] = ..., texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ..., target: _Optional[_Union[AnalysisTarget, _Mapping]] = ..., gradient_types: _Optional[_Iterable[_Union[GradientType, str]]] = ..., layers: _Optional[_Iterable[int]] = ..., include_norm_analysis: _Optional[bool] = ...) -> None: ...

class LayerGradient(_message.Message):
    __slots__ = ("layer", "norm", "norms", "weight_x_gradient")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    NORMS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_X_GRADIENT_FIELD_NUMBER: _ClassVar[int]
    layer: int
    norm: float
    norms: _containers.RepeatedScalarFieldContainer[float]
    weight_x_gradient: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, layer: _Optional[int] = ..., norm: _Optional[float] = ..., norms: _Optional[_Iterable[float]] = ..., weight_x_gradient: _Optional[_Iterable[float]] = ...) -> None: ...

class TextGradients(_message.Message):
    __slots__ = ("text", "tokens", "target", "target_value", "saliency", "input_x_gradient", "hidden", "attention")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_VALUE_FIELD_NUMBER: _ClassVar[int]
    SALIENCY_FIELD_NUMBER: _ClassVar[int]
    INPUT_X_GRADIENT_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    ATTENTION_FIELD_NUMBER: _ClassVar[int]
    text: str
    tokens: _containers.RepeatedScalarFieldContainer[str]
    target: str
    target_value: float
    saliency: _containers.RepeatedScalarFieldContainer[float]
    input_x_gradient: _containers.RepeatedScalarFieldContainer[float]
    hidden: _containers.RepeatedCompositeFieldContainer[LayerGradient]
    attention: _containers.RepeatedCompositeFieldContainer[LayerGradient]
    def __init__(self, text: _Optional[str] = ..., tokens: _Optional[_Iterable[str]] = ..., target: _Optional[str] = ..., target_value: _Optional[float] = ..., saliency: _Optional[_Iterable[float]] = ..., input_x_gradient: _Optional[_Iterable[float]] = ..., hidden: _Optional[_Iterable[_Union[LayerGradient, _Mapping]]] = ..., attention: _Optional[_Iterable[_Union[LayerGradient, _Mapping]]] = ...) -> None: ...

class GradientFlow(_message.Message):
    __slots__ = ("layers", "hidden_norms", "attention_norms", "first_to_last_ratio", "verdict")
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_NORMS_FIELD_NUMBER: _ClassVar[int]
    ATTENTION_NORMS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TO_LAST_RATIO_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedScalarFieldContainer[int]
    hidden_norms: _containers.RepeatedScalarFieldContainer[float]
    attention_norms: _containers.RepeatedScalarFieldContainer[float]
    first_to_last_ratio: float
    verdict: str
    def __init__(self, layers: _Optional[_Iterable[int]] = ..., hidden_norms: _Optional[_Iterable[float]] = ..., attention_norms: _Optional[_Iterable[float]] = ..., first_to_last_ratio: _Optional[float] = ..., verdict: _Optional[str] = ...) -> None: ...

class GradientAnalysis(_message.Message):
    __slots__ = ("model", "texts", "flow", "findings")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    FLOW_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts: _containers.RepeatedCompositeFieldContainer[TextGradients]
    flow: GradientFlow
    findings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., texts: _Optional[_Iterable[_Union[TextGradients, _Mapping]]] = ..., flow: _Optional[_Union[GradientFlow, _Mapping]] = ..., findings: _Optional[_Iterable[str]] = ...) -> None: ...

class AnalyzeGradientsResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: GradientAnalysis
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[GradientAnalysis, _Mapping]] = ...) -> None: ...

class RankNeuronImportanceRequest(_message.Message):
    __slots__ = ("model", "texts", "target", "method", "sites", "layers", "top_k", "ablation_candidates", "ablation")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    ABLATION_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    ABLATION_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts: _common_pb2.TextBatch
    target: AnalysisTarget
    method: RankingMethod
    sites: _containers.RepeatedScalarFieldContainer[ActivationSite]
    layers: _containers.RepeatedScalarFieldContainer[int]
    top_k: int
    ablation_candidates: int
    ablation: AblationKind
    def __init__(self, model: _Optional[str] = ..., texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ..., target: _Optional[_Union[AnalysisTarget, _Mapping]] = ..., method: _Optional[_Union[RankingMethod, str]] = ..., sites: _Optional[_Iterable[_Union[ActivationSite, str]]] = ..., layers: _Optional[_Iterable[int]] = ..., top_k: _Optional[int] = ..., ablation_candidates: _Optional[int] = ..., ablation: _Optional[_Union[AblationKind, str]] = ...) -> None: ...

class NeuronScore(_message.Message):
    __slots__ = ("neuron", "score", "rank")
    NEURON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    neuron: NeuronId
    score: float
    rank: int
    def __init__(self, neuron: _Optional[_Union[NeuronId, _Mapping]] = ..., score: _Optional[float] = ..., rank: _Optional[int] = ...) -> None: ...

class NeuronImportance(_message.Message):
    __slots__ = ("model", "method", "target", "target_mean", "neurons_scored", "neurons", "findings")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_MEAN_FIELD_NUMBER: _ClassVar[int]
    NEURONS_SCORED_FIELD_NUMBER: _ClassVar[int]
    NEURONS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    model: str
    method: RankingMethod
    target: str
    target_mean: float
    neurons_scored: int
    neurons: _containers.RepeatedCompositeFieldContainer[NeuronScore]
    findings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., method: _Optional[_Union[RankingMethod, str]] = ..., target: _Optional[str] = ..., target_mean: _Optional[float] = ..., neurons_scored: _Optional[int] = ..., neurons: _Optional[_Iterable[_Union[NeuronScore, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ...) -> None: ...

class RankNeuronImportanceResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _common_pb2.AnalysisProgress
    result: NeuronImportance
    def __init__(self, progress: _Optional[_Union[_common_pb2.AnalysisProgress, _Mapping]] = ..., result: _Optional[_Union[NeuronImportance, _Mapping]] = ...) -> None: ...

class LogitLensRequest(_message.Message):
    __slots__ = ("model", "text", "layers", "top_k", "target")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    layers: _containers.RepeatedScalarFieldContainer[int]
    top_k: int
    target: str
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., layers: _Optional[_Iterable[int]] = ..., top_k: _Optional[int] = ..., target: _Optional[str] = ...) -> None: ...

class LensPrediction(_message.Message):
    __slots__ = ("token_id", "token", "probability")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    token_id: int
    token: str
    probability: float
    def __init__(self, token_id: _Optional[int] = ..., token: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class LensCell(_message.Message):
    __slots__ = ("top", "target_probability", "target_rank")
    TOP_FIELD_NUMBER: _ClassVar[int]
    TARGET_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    TARGET_RANK_FIELD_NUMBER: _ClassVar[int]
    top: _containers.RepeatedCompositeFieldContainer[LensPrediction]
    target_probability: float
    target_rank: int
    def __init__(self, top: _Optional[_Iterable[_Union[LensPrediction, _Mapping]]] = ..., target_probability: _Optional[float] = ..., target_rank: _Optional[int] = ...) -> None: ...

class LensLayer(_message.Message):
    __slots__ = ("layer", "cells")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    layer: int
    cells: _containers.RepeatedCompositeFieldContainer[LensCell]
    def __init__(self, layer: _Optional[int] = ..., cells: _Optional[_Iterable[_Union[LensCell, _Mapping]]] = ...) -> None: ...

class LogitLensResponse(_message.Message):
    __slots__ = ("model", "tokens", "targets", "target_ids", "layers", "findings")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    TARGET_IDS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    model: str
    tokens: _containers.RepeatedScalarFieldContainer[str]
    targets: _containers.RepeatedScalarFieldContainer[str]
    target_ids: _containers.RepeatedScalarFieldContainer[int]
    layers: _containers.RepeatedCompositeFieldContainer[LensLayer]
    findings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., tokens: _Optional[_Iterable[str]] = ..., targets: _Optional[_Iterable[str]] = ..., target_ids: _Optional[_Iterable[int]] = ..., layers: _Optional[_Iterable[_Union[LensLayer, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ...) -> None: ...
