from interp.v1 import model_host_service_pb2 as _model_host_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AttributionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTRIBUTION_METHOD_UNSPECIFIED: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_SALIENCY: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_INPUT_X_GRADIENT: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_GRADIENT_SHAP: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_DEEPLIFT: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_DEEPLIFT_SHAP: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_OCCLUSION: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_FEATURE_ABLATION: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_LIME: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_KERNEL_SHAP: _ClassVar[AttributionMethod]
    ATTRIBUTION_METHOD_SHAPLEY_VALUE_SAMPLING: _ClassVar[AttributionMethod]

class ExplanationDepth(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPLANATION_DEPTH_UNSPECIFIED: _ClassVar[ExplanationDepth]
    EXPLANATION_DEPTH_BASIC: _ClassVar[ExplanationDepth]
    EXPLANATION_DEPTH_DETAILED: _ClassVar[ExplanationDepth]

class BaselineKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BASELINE_KIND_UNSPECIFIED: _ClassVar[BaselineKind]
    BASELINE_KIND_PAD_TOKEN: _ClassVar[BaselineKind]
    BASELINE_KIND_UNK_TOKEN: _ClassVar[BaselineKind]
    BASELINE_KIND_MASK_TOKEN: _ClassVar[BaselineKind]
    BASELINE_KIND_ZERO_EMBEDDING: _ClassVar[BaselineKind]
ATTRIBUTION_METHOD_UNSPECIFIED: AttributionMethod
ATTRIBUTION_METHOD_SALIENCY: AttributionMethod
ATTRIBUTION_METHOD_INPUT_X_GRADIENT: AttributionMethod
ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS: AttributionMethod
ATTRIBUTION_METHOD_GRADIENT_SHAP: AttributionMethod
ATTRIBUTION_METHOD_DEEPLIFT: AttributionMethod
ATTRIBUTION_METHOD_DEEPLIFT_SHAP: AttributionMethod
ATTRIBUTION_METHOD_OCCLUSION: AttributionMethod
ATTRIBUTION_METHOD_FEATURE_ABLATION: AttributionMethod
ATTRIBUTION_METHOD_LIME: AttributionMethod
ATTRIBUTION_METHOD_KERNEL_SHAP: AttributionMethod
ATTRIBUTION_METHOD_SHAPLEY_VALUE_SAMPLING: AttributionMethod
EXPLANATION_DEPTH_UNSPECIFIED: ExplanationDepth
EXPLANATION_DEPTH_BASIC: ExplanationDepth
EXPLANATION_DEPTH_DETAILED: ExplanationDepth
BASELINE_KIND_UNSPECIFIED: BaselineKind
BASELINE_KIND_PAD_TOKEN: BaselineKind
BASELINE_KIND_UNK_TOKEN: BaselineKind
BASELINE_KIND_MASK_TOKEN: BaselineKind
BASELINE_KIND_ZERO_EMBEDDING: BaselineKind

class Baseline(_message.Message):
    __slots__ = ("kind", "replace_first_token", "replace_special_tokens")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REPLACE_SPECIAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    kind: BaselineKind
    replace_first_token: bool
    replace_special_tokens: bool
    def __init__(self, kind: _Optional[_Union[BaselineKind, str]] = ..., replace_first_token: _Optional[bool] = ..., replace_special_tokens: _Optional[bool] = ...) -> None: ...

class PromptClassifier(_message.Message):
    __slots__ = ("template", "labels", "label_words")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    LABEL_WORDS_FIELD_NUMBER: _ClassVar[int]
    template: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    label_words: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, template: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., label_words: _Optional[_Iterable[str]] = ...) -> None: ...

class ClassTarget(_message.Message):
    __slots__ = ("class_index", "label", "use_index", "prompt", "kind")
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    USE_INDEX_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    class_index: int
    label: str
    use_index: bool
    prompt: PromptClassifier
    kind: _model_host_service_pb2.ScoreKind
    def __init__(self, class_index: _Optional[int] = ..., label: _Optional[str] = ..., use_index: _Optional[bool] = ..., prompt: _Optional[_Union[PromptClassifier, _Mapping]] = ..., kind: _Optional[_Union[_model_host_service_pb2.ScoreKind, str]] = ...) -> None: ...

class NextTokenTarget(_message.Message):
    __slots__ = ("continuation", "token_ids")
    CONTINUATION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    continuation: str
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, continuation: _Optional[str] = ..., token_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class LogitDifferenceTarget(_message.Message):
    __slots__ = ("correct", "incorrect", "correct_token_id", "incorrect_token_id")
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    INCORRECT_FIELD_NUMBER: _ClassVar[int]
    CORRECT_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    INCORRECT_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    correct: str
    incorrect: str
    correct_token_id: int
    incorrect_token_id: int
    def __init__(self, correct: _Optional[str] = ..., incorrect: _Optional[str] = ..., correct_token_id: _Optional[int] = ..., incorrect_token_id: _Optional[int] = ...) -> None: ...

class GenerationTarget(_message.Message):
    __slots__ = ("max_new_tokens", "target_text")
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TARGET_TEXT_FIELD_NUMBER: _ClassVar[int]
    max_new_tokens: int
    target_text: str
    def __init__(self, max_new_tokens: _Optional[int] = ..., target_text: _Optional[str] = ...) -> None: ...

class AttributionTarget(_message.Message):
    __slots__ = ("class_target", "next_token", "logit_difference", "generation")
    CLASS_TARGET_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOGIT_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    class_target: ClassTarget
    next_token: NextTokenTarget
    logit_difference: LogitDifferenceTarget
    generation: GenerationTarget
    def __init__(self, class_target: _Optional[_Union[ClassTarget, _Mapping]] = ..., next_token: _Optional[_Union[NextTokenTarget, _Mapping]] = ..., logit_difference: _Optional[_Union[LogitDifferenceTarget, _Mapping]] = ..., generation: _Optional[_Union[GenerationTarget, _Mapping]] = ...) -> None: ...

class AttributionOptions(_message.Message):
    __slots__ = ("baseline", "n_steps", "n_samples", "seed", "internal_batch_size", "infidelity_samples", "sensitivity_samples")
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    N_STEPS_FIELD_NUMBER: _ClassVar[int]
    N_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    INFIDELITY_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    baseline: Baseline
    n_steps: int
    n_samples: int
    seed: int
    internal_batch_size: int
    infidelity_samples: int
    sensitivity_samples: int
    def __init__(self, baseline: _Optional[_Union[Baseline, _Mapping]] = ..., n_steps: _Optional[int] = ..., n_samples: _Optional[int] = ..., seed: _Optional[int] = ..., internal_batch_size: _Optional[int] = ..., infidelity_samples: _Optional[int] = ..., sensitivity_samples: _Optional[int] = ...) -> None: ...

class AttributeRequest(_message.Message):
    __slots__ = ("model", "text", "target", "methods", "depth", "options")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    target: AttributionTarget
    methods: _containers.RepeatedScalarFieldContainer[AttributionMethod]
    depth: ExplanationDepth
    options: AttributionOptions
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., target: _Optional[_Union[AttributionTarget, _Mapping]] = ..., methods: _Optional[_Iterable[_Union[AttributionMethod, str]]] = ..., depth: _Optional[_Union[ExplanationDepth, str]] = ..., options: _Optional[_Union[AttributionOptions, _Mapping]] = ...) -> None: ...

class AttributionProgress(_message.Message):
    __slots__ = ("stage", "fraction", "method", "evaluations")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    fraction: float
    method: AttributionMethod
    evaluations: int
    def __init__(self, stage: _Optional[str] = ..., fraction: _Optional[float] = ..., method: _Optional[_Union[AttributionMethod, str]] = ..., evaluations: _Optional[int] = ...) -> None: ...

class Faithfulness(_message.Message):
    __slots__ = ("fractions", "deletion", "insertion", "deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc", "has_infidelity", "infidelity", "has_sensitivity", "sensitivity_max")
    FRACTIONS_FIELD_NUMBER: _ClassVar[int]
    DELETION_FIELD_NUMBER: _ClassVar[int]
    INSERTION_FIELD_NUMBER: _ClassVar[int]
    DELETION_AUC_FIELD_NUMBER: _ClassVar[int]
    INSERTION_AUC_FIELD_NUMBER: _ClassVar[int]
    RANDOM_DELETION_AUC_FIELD_NUMBER: _ClassVar[int]
    RANDOM_INSERTION_AUC_FIELD_NUMBER: _ClassVar[int]
    HAS_INFIDELITY_FIELD_NUMBER: _ClassVar[int]
    INFIDELITY_FIELD_NUMBER: _ClassVar[int]
    HAS_SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_MAX_FIELD_NUMBER: _ClassVar[int]
    fractions: _containers.RepeatedScalarFieldContainer[float]
    deletion: _containers.RepeatedScalarFieldContainer[float]
    insertion: _containers.RepeatedScalarFieldContainer[float]
    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    has_infidelity: bool
    infidelity: float
    has_sensitivity: bool
    sensitivity_max: float
    def __init__(self, fractions: _Optional[_Iterable[float]] = ..., deletion: _Optional[_Iterable[float]] = ..., insertion: _Optional[_Iterable[float]] = ..., deletion_auc: _Optional[float] = ..., insertion_auc: _Optional[float] = ..., random_deletion_auc: _Optional[float] = ..., random_insertion_auc: _Optional[float] = ..., has_infidelity: _Optional[bool] = ..., infidelity: _Optional[float] = ..., has_sensitivity: _Optional[bool] = ..., sensitivity_max: _Optional[float] = ...) -> None: ...

class GeneratedTokenAttribution(_message.Message):
    __slots__ = ("token", "token_id", "log_prob", "scores")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    LOG_PROB_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_id: int
    log_prob: float
    scores: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, token: _Optional[str] = ..., token_id: _Optional[int] = ..., log_prob: _Optional[float] = ..., scores: _Optional[_Iterable[float]] = ...) -> None: ...

class MethodAttribution(_message.Message):
    __slots__ = ("method", "scores", "has_delta", "delta", "relative_delta", "faithfulness", "seconds", "evaluations", "parameters", "generated")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    HAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_DELTA_FIELD_NUMBER: _ClassVar[int]
    FAITHFULNESS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    method: AttributionMethod
    scores: _containers.RepeatedScalarFieldContainer[float]
    has_delta: bool
    delta: float
    relative_delta: float
    faithfulness: Faithfulness
    seconds: float
    evaluations: int
    parameters: _containers.RepeatedScalarFieldContainer[str]
    generated: _containers.RepeatedCompositeFieldContainer[GeneratedTokenAttribution]
    def __init__(self, method: _Optional[_Union[AttributionMethod, str]] = ..., scores: _Optional[_Iterable[float]] = ..., has_delta: _Optional[bool] = ..., delta: _Optional[float] = ..., relative_delta: _Optional[float] = ..., faithfulness: _Optional[_Union[Faithfulness, _Mapping]] = ..., seconds: _Optional[float] = ..., evaluations: _Optional[int] = ..., parameters: _Optional[_Iterable[str]] = ..., generated: _Optional[_Iterable[_Union[GeneratedTokenAttribution, _Mapping]]] = ...) -> None: ...

class MethodAgreement(_message.Message):
    __slots__ = ("first", "second", "spearman", "top_k_overlap")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    SPEARMAN_FIELD_NUMBER: _ClassVar[int]
    TOP_K_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    first: AttributionMethod
    second: AttributionMethod
    spearman: float
    top_k_overlap: float
    def __init__(self, first: _Optional[_Union[AttributionMethod, str]] = ..., second: _Optional[_Union[AttributionMethod, str]] = ..., spearman: _Optional[float] = ..., top_k_overlap: _Optional[float] = ...) -> None: ...

class AttributionResult(_message.Message):
    __slots__ = ("model", "text", "tokens", "token_ids", "display_tokens", "attributed", "target", "target_score", "baseline_score", "target_probability", "prediction", "baseline", "methods", "agreement", "findings", "generated_text")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_SCORE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_SCORE_FIELD_NUMBER: _ClassVar[int]
    TARGET_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_TEXT_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    tokens: _containers.RepeatedScalarFieldContainer[str]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    display_tokens: _containers.RepeatedScalarFieldContainer[str]
    attributed: _containers.RepeatedScalarFieldContainer[bool]
    target: str
    target_score: float
    baseline_score: float
    target_probability: float
    prediction: str
    baseline: str
    methods: _containers.RepeatedCompositeFieldContainer[MethodAttribution]
    agreement: _containers.RepeatedCompositeFieldContainer[MethodAgreement]
    findings: _containers.RepeatedScalarFieldContainer[str]
    generated_text: str
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., tokens: _Optional[_Iterable[str]] = ..., token_ids: _Optional[_Iterable[int]] = ..., display_tokens: _Optional[_Iterable[str]] = ..., attributed: _Optional[_Iterable[bool]] = ..., target: _Optional[str] = ..., target_score: _Optional[float] = ..., baseline_score: _Optional[float] = ..., target_probability: _Optional[float] = ..., prediction: _Optional[str] = ..., baseline: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[MethodAttribution, _Mapping]]] = ..., agreement: _Optional[_Iterable[_Union[MethodAgreement, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ..., generated_text: _Optional[str] = ...) -> None: ...

class AttributeResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: AttributionProgress
    result: AttributionResult
    def __init__(self, progress: _Optional[_Union[AttributionProgress, _Mapping]] = ..., result: _Optional[_Union[AttributionResult, _Mapping]] = ...) -> None: ...

class ListAttributionMethodsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MethodInfo(_message.Message):
    __slots__ = ("method", "name", "description", "family", "has_delta", "supports_generation", "defaults")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    HAS_DELTA_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_GENERATION_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    method: AttributionMethod
    name: str
    description: str
    family: str
    has_delta: bool
    supports_generation: bool
    defaults: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, method: _Optional[_Union[AttributionMethod, str]] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., family: _Optional[str] = ..., has_delta: _Optional[bool] = ..., supports_generation: _Optional[bool] = ..., defaults: _Optional[_Iterable[str]] = ...) -> None: ...

class ListAttributionMethodsResponse(_message.Message):
    __slots__ = ("methods", "basic", "detailed", "max_n_steps", "max_n_samples")
    METHODS_FIELD_NUMBER: _ClassVar[int]
    BASIC_FIELD_NUMBER: _ClassVar[int]
    DETAILED_FIELD_NUMBER: _ClassVar[int]
    MAX_N_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_N_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    methods: _containers.RepeatedCompositeFieldContainer[MethodInfo]
    basic: _containers.RepeatedScalarFieldContainer[AttributionMethod]
    detailed: _containers.RepeatedScalarFieldContainer[AttributionMethod]
    max_n_steps: int
    max_n_samples: int
    def __init__(self, methods: _Optional[_Iterable[_Union[MethodInfo, _Mapping]]] = ..., basic: _Optional[_Iterable[_Union[AttributionMethod, str]]] = ..., detailed: _Optional[_Iterable[_Union[AttributionMethod, str]]] = ..., max_n_steps: _Optional[int] = ..., max_n_samples: _Optional[int] = ...) -> None: ...
