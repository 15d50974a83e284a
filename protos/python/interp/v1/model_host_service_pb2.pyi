from interp.v1 import common_pb2 as _common_pb2
from interp.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_SOURCE_UNSPECIFIED: _ClassVar[ModelSource]
    MODEL_SOURCE_BUILTIN: _ClassVar[ModelSource]
    MODEL_SOURCE_LOCAL_DIRECTORY: _ClassVar[ModelSource]
    MODEL_SOURCE_HUB: _ClassVar[ModelSource]

class ScoreKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCORE_KIND_UNSPECIFIED: _ClassVar[ScoreKind]
    SCORE_KIND_LOG_PROB: _ClassVar[ScoreKind]
    SCORE_KIND_LOGIT: _ClassVar[ScoreKind]
    SCORE_KIND_PROBABILITY: _ClassVar[ScoreKind]

class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINISH_REASON_UNSPECIFIED: _ClassVar[FinishReason]
    FINISH_REASON_LENGTH: _ClassVar[FinishReason]
    FINISH_REASON_END_OF_SEQUENCE: _ClassVar[FinishReason]
    FINISH_REASON_STOP_STRING: _ClassVar[FinishReason]
MODEL_SOURCE_UNSPECIFIED: ModelSource
MODEL_SOURCE_BUILTIN: ModelSource
MODEL_SOURCE_LOCAL_DIRECTORY: ModelSource
MODEL_SOURCE_HUB: ModelSource
SCORE_KIND_UNSPECIFIED: ScoreKind
SCORE_KIND_LOG_PROB: ScoreKind
SCORE_KIND_LOGIT: ScoreKind
SCORE_KIND_PROBABILITY: ScoreKind
FINISH_REASON_UNSPECIFIED: FinishReason
FINISH_REASON_LENGTH: FinishReason
FINISH_REASON_END_OF_SEQUENCE: FinishReason
FINISH_REASON_STOP_STRING: FinishReason

class ModelSummary(_message.Message):
    __slots__ = ("name", "source", "loaded", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: ModelSource
    loaded: bool
    description: str
    def __init__(self, name: _Optional[str] = ..., source: _Optional[_Union[ModelSource, str]] = ..., loaded: _Optional[bool] = ..., description: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelSummary]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelSummary, _Mapping]]] = ...) -> None: ...

class HookSite(_message.Message):
    __slots__ = ("name", "dim_names", "intervenable", "has_heads")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIM_NAMES_FIELD_NUMBER: _ClassVar[int]
    INTERVENABLE_FIELD_NUMBER: _ClassVar[int]
    HAS_HEADS_FIELD_NUMBER: _ClassVar[int]
    name: str
    dim_names: _containers.RepeatedScalarFieldContainer[str]
    intervenable: bool
    has_heads: bool
    def __init__(self, name: _Optional[str] = ..., dim_names: _Optional[_Iterable[str]] = ..., intervenable: _Optional[bool] = ..., has_heads: _Optional[bool] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "family", "architecture", "causal", "num_layers", "num_heads", "num_kv_heads", "d_model", "d_head", "d_mlp", "vocab_size", "max_tokens", "num_parameters", "has_lm_head", "hook_sites", "source", "num_labels")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    CAUSAL_FIELD_NUMBER: _ClassVar[int]
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    NUM_HEADS_FIELD_NUMBER: _ClassVar[int]
    NUM_KV_HEADS_FIELD_NUMBER: _ClassVar[int]
    D_MODEL_FIELD_NUMBER: _ClassVar[int]
    D_HEAD_FIELD_NUMBER: _ClassVar[int]
    D_MLP_FIELD_NUMBER: _ClassVar[int]
    VOCAB_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    HAS_LM_HEAD_FIELD_NUMBER: _ClassVar[int]
    HOOK_SITES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NUM_LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    family: str
    architecture: str
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
    hook_sites: _containers.RepeatedCompositeFieldContainer[HookSite]
    source: ModelSource
    num_labels: int
    def __init__(self, name: _Optional[str] = ..., family: _Optional[str] = ..., architecture: _Optional[str] = ..., causal: _Optional[bool] = ..., num_layers: _Optional[int] = ..., num_heads: _Optional[int] = ..., num_kv_heads: _Optional[int] = ..., d_model: _Optional[int] = ..., d_head: _Optional[int] = ..., d_mlp: _Optional[int] = ..., vocab_size: _Optional[int] = ..., max_tokens: _Optional[int] = ..., num_parameters: _Optional[int] = ..., has_lm_head: _Optional[bool] = ..., hook_sites: _Optional[_Iterable[_Union[HookSite, _Mapping]]] = ..., source: _Optional[_Union[ModelSource, str]] = ..., num_labels: _Optional[int] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ModelInfo
    def __init__(self, info: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...

class LoadModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class LoadModelResponse(_message.Message):
    __slots__ = ("stage", "progress", "elapsed_seconds", "info")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    stage: str
    progress: float
    elapsed_seconds: float
    info: ModelInfo
    def __init__(self, stage: _Optional[str] = ..., progress: _Optional[float] = ..., elapsed_seconds: _Optional[float] = ..., info: _Optional[_Union[ModelInfo, _Mapping]] = ...) -> None: ...

class TokenizeRequest(_message.Message):
    __slots__ = ("model", "texts")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts: _common_pb2.TextBatch
    def __init__(self, model: _Optional[str] = ..., texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ...) -> None: ...

class TokenizedText(_message.Message):
    __slots__ = ("token_ids", "tokens", "display_tokens", "char_starts", "char_ends")
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CHAR_STARTS_FIELD_NUMBER: _ClassVar[int]
    CHAR_ENDS_FIELD_NUMBER: _ClassVar[int]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    tokens: _containers.RepeatedScalarFieldContainer[str]
    display_tokens: _containers.RepeatedScalarFieldContainer[str]
    char_starts: _containers.RepeatedScalarFieldContainer[int]
    char_ends: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, token_ids: _Optional[_Iterable[int]] = ..., tokens: _Optional[_Iterable[str]] = ..., display_tokens: _Optional[_Iterable[str]] = ..., char_starts: _Optional[_Iterable[int]] = ..., char_ends: _Optional[_Iterable[int]] = ...) -> None: ...

class TokenizeResponse(_message.Message):
    __slots__ = ("tokenized",)
    TOKENIZED_FIELD_NUMBER: _ClassVar[int]
    tokenized: _containers.RepeatedCompositeFieldContainer[TokenizedText]
    def __init__(self, tokenized: _Optional[_Iterable[_Union[TokenizedText, _Mapping]]] = ...) -> None: ...

class TokenIds(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ZeroAblation(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MeanAblation(_message.Message):
    __slots__ = ("mean", "reference_texts")
    MEAN_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_TEXTS_FIELD_NUMBER: _ClassVar[int]
    mean: _tensor_pb2.Tensor
    reference_texts: _common_pb2.TextBatch
    def __init__(self, mean: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., reference_texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ...) -> None: ...

class ScaleActivation(_message.Message):
    __slots__ = ("factor",)
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    factor: float
    def __init__(self, factor: _Optional[float] = ...) -> None: ...

class GaussianNoise(_message.Message):
    __slots__ = ("std", "seed")
    STD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    std: float
    seed: int
    def __init__(self, std: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class ActivationPatch(_message.Message):
    __slots__ = ("source", "keep")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    source: _tensor_pb2.Tensor
    keep: float
    def __init__(self, source: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., keep: _Optional[float] = ...) -> None: ...

class EdgeSender(_message.Message):
    __slots__ = ("hook_site", "heads")
    HOOK_SITE_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    hook_site: str
    heads: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, hook_site: _Optional[str] = ..., heads: _Optional[_Iterable[int]] = ...) -> None: ...

class EdgePatch(_message.Message):
    __slots__ = ("senders", "mean_source")
    SENDERS_FIELD_NUMBER: _ClassVar[int]
    MEAN_SOURCE_FIELD_NUMBER: _ClassVar[int]
    senders: _containers.RepeatedCompositeFieldContainer[EdgeSender]
    mean_source: bool
    def __init__(self, senders: _Optional[_Iterable[_Union[EdgeSender, _Mapping]]] = ..., mean_source: _Optional[bool] = ...) -> None: ...

class SteeringVector(_message.Message):
    __slots__ = ("vector", "scale")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    vector: _tensor_pb2.Tensor
    scale: float
    def __init__(self, vector: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., scale: _Optional[float] = ...) -> None: ...

class Intervention(_message.Message):
    __slots__ = ("hook_site", "positions", "heads", "sequences", "key_positions", "neurons", "source_sequences", "zero_ablation", "mean_ablation", "patch", "steering", "scale", "noise", "edge_patch")
    HOOK_SITE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    KEY_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    NEURONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    ZERO_ABLATION_FIELD_NUMBER: _ClassVar[int]
    MEAN_ABLATION_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    STEERING_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    NOISE_FIELD_NUMBER: _ClassVar[int]
    EDGE_PATCH_FIELD_NUMBER: _ClassVar[int]
    hook_site: str
    positions: _containers.RepeatedScalarFieldContainer[int]
    heads: _containers.RepeatedScalarFieldContainer[int]
    sequences: _containers.RepeatedScalarFieldContainer[int]
    key_positions: _containers.RepeatedScalarFieldContainer[int]
    neurons: _containers.RepeatedScalarFieldContainer[int]
    source_sequences: _containers.RepeatedScalarFieldContainer[int]
    zero_ablation: ZeroAblation
    mean_ablation: MeanAblation
    patch: ActivationPatch
    steering: SteeringVector
    scale: ScaleActivation
    noise: GaussianNoise
    edge_patch: EdgePatch
    def __init__(self, hook_site: _Optional[str] = ..., positions: _Optional[_Iterable[int]] = ..., heads: _Optional[_Iterable[int]] = ..., sequences: _Optional[_Iterable[int]] = ..., key_positions: _Optional[_Iterable[int]] = ..., neurons: _Optional[_Iterable[int]] = ..., source_sequences: _Optional[_Iterable[int]] = ..., zero_ablation: _Optional[_Union[ZeroAblation, _Mapping]] = ..., mean_ablation: _Optional[_Union[MeanAblation, _Mapping]] = ..., patch: _Optional[_Union[ActivationPatch, _Mapping]] = ..., steering: _Optional[_Union[SteeringVector, _Mapping]] = ..., scale: _Optional[_Union[ScaleActivation, _Mapping]] = ..., noise: _Optional[_Union[GaussianNoise, _Mapping]] = ..., edge_patch: _Optional[_Union[EdgePatch, _Mapping]] = ...) -> None: ...

class TokenScore(_message.Message):
    __slots__ = ("token_ids", "positions", "kind")
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    positions: _containers.RepeatedScalarFieldContainer[int]
    kind: ScoreKind
    def __init__(self, token_ids: _Optional[_Iterable[int]] = ..., positions: _Optional[_Iterable[int]] = ..., kind: _Optional[_Union[ScoreKind, str]] = ...) -> None: ...

class LogitDifference(_message.Message):
    __slots__ = ("correct_token_ids", "incorrect_token_ids", "positions")
    CORRECT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    INCORRECT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    correct_token_ids: _containers.RepeatedScalarFieldContainer[int]
    incorrect_token_ids: _containers.RepeatedScalarFieldContainer[int]
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, correct_token_ids: _Optional[_Iterable[int]] = ..., incorrect_token_ids: _Optional[_Iterable[int]] = ..., positions: _Optional[_Iterable[int]] = ...) -> None: ...

class ClassScore(_message.Message):
    __slots__ = ("class_indices", "kind")
    CLASS_INDICES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    class_indices: _containers.RepeatedScalarFieldContainer[int]
    kind: ScoreKind
    def __init__(self, class_indices: _Optional[_Iterable[int]] = ..., kind: _Optional[_Union[ScoreKind, str]] = ...) -> None: ...

class ActivationScore(_message.Message):
    __slots__ = ("hook_site", "positions", "index", "direction")
    HOOK_SITE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    hook_site: str
    positions: _containers.RepeatedScalarFieldContainer[int]
    index: _containers.RepeatedScalarFieldContainer[int]
    direction: _tensor_pb2.Tensor
    def __init__(self, hook_site: _Optional[str] = ..., positions: _Optional[_Iterable[int]] = ..., index: _Optional[_Iterable[int]] = ..., direction: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class Metric(_message.Message):
    __slots__ = ("token", "logit_difference", "class_score", "activation")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LOGIT_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    CLASS_SCORE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    token: TokenScore
    logit_difference: LogitDifference
    class_score: ClassScore
    activation: ActivationScore
    def __init__(self, token: _Optional[_Union[TokenScore, _Mapping]] = ..., logit_difference: _Optional[_Union[LogitDifference, _Mapping]] = ..., class_score: _Optional[_Union[ClassScore, _Mapping]] = ..., activation: _Optional[_Union[ActivationScore, _Mapping]] = ...) -> None: ...

class TokenBatch(_message.Message):
    __slots__ = ("sequences",)
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    sequences: _containers.RepeatedCompositeFieldContainer[TokenIds]
    def __init__(self, sequences: _Optional[_Iterable[_Union[TokenIds, _Mapping]]] = ...) -> None: ...

class RunModelRequest(_message.Message):
    __slots__ = ("model", "texts", "tokens", "capture", "interventions", "delivery", "top_k", "return_logits", "max_inline_bytes", "metric", "gradients", "logit_lens", "capture_pooling")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_FIELD_NUMBER: _ClassVar[int]
    INTERVENTIONS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    RETURN_LOGITS_FIELD_NUMBER: _ClassVar[int]
    MAX_INLINE_BYTES_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    LOGIT_LENS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_POOLING_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts: _common_pb2.TextBatch
    tokens: TokenBatch
    capture: _containers.RepeatedScalarFieldContainer[str]
    interventions: _containers.RepeatedCompositeFieldContainer[Intervention]
    delivery: _tensor_pb2.ResultDelivery
    top_k: int
    return_logits: bool
    max_inline_bytes: int
    metric: Metric
    gradients: _containers.RepeatedScalarFieldContainer[str]
    logit_lens: LogitLens
    capture_pooling: CapturePooling
    def __init__(self, model: _Optional[str] = ..., texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ..., tokens: _Optional[_Union[TokenBatch, _Mapping]] = ..., capture: _Optional[_Iterable[str]] = ..., interventions: _Optional[_Iterable[_Union[Intervention, _Mapping]]] = ..., delivery: _Optional[_Union[_tensor_pb2.ResultDelivery, str]] = ..., top_k: _Optional[int] = ..., return_logits: _Optional[bool] = ..., max_inline_bytes: _Optional[int] = ..., metric: _Optional[_Union[Metric, _Mapping]] = ..., gradients: _Optional[_Iterable[str]] = ..., logit_lens: _Optional[_Union[LogitLens, _Mapping]] = ..., capture_pooling: _Optional[_Union[CapturePooling, _Mapping]] = ...) -> None: ...

class CapturePooling(_message.Message):
    __slots__ = ("pools",)
    POOLS_FIELD_NUMBER: _ClassVar[int]
    pools: _containers.RepeatedCompositeFieldContainer[PositionPool]
    def __init__(self, pools: _Optional[_Iterable[_Union[PositionPool, _Mapping]]] = ...) -> None: ...

class PositionPool(_message.Message):
    __slots__ = ("sequence", "positions")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, sequence: _Optional[int] = ..., positions: _Optional[_Iterable[int]] = ...) -> None: ...

class LogitLens(_message.Message):
    __slots__ = ("hook_sites", "top_k", "target_token_ids")
    HOOK_SITES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TARGET_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    hook_sites: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    target_token_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, hook_sites: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ..., target_token_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class LogitLensOutput(_message.Message):
    __slots__ = ("hook_site", "top_token_ids", "top_probabilities", "target_probabilities", "target_ranks")
    HOOK_SITE_FIELD_NUMBER: _ClassVar[int]
    TOP_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TOP_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    TARGET_PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    TARGET_RANKS_FIELD_NUMBER: _ClassVar[int]
    hook_site: str
    top_token_ids: _tensor_pb2.Tensor
    top_probabilities: _tensor_pb2.Tensor
    target_probabilities: _tensor_pb2.Tensor
    target_ranks: _tensor_pb2.Tensor
    def __init__(self, hook_site: _Optional[str] = ..., top_token_ids: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., top_probabilities: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., target_probabilities: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., target_ranks: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class CapturedActivation(_message.Message):
    __slots__ = ("hook_site", "tensor")
    HOOK_SITE_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    hook_site: str
    tensor: _tensor_pb2.Tensor
    def __init__(self, hook_site: _Optional[str] = ..., tensor: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class TokenProbability(_message.Message):
    __slots__ = ("token_id", "token", "probability", "logit", "display_token")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LOGIT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    token_id: int
    token: str
    probability: float
    logit: float
    display_token: str
    def __init__(self, token_id: _Optional[int] = ..., token: _Optional[str] = ..., probability: _Optional[float] = ..., logit: _Optional[float] = ..., display_token: _Optional[str] = ...) -> None: ...

class SequenceResult(_message.Message):
    __slots__ = ("token_ids", "tokens", "top_next_tokens", "display_tokens")
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOP_NEXT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    tokens: _containers.RepeatedScalarFieldContainer[str]
    top_next_tokens: _containers.RepeatedCompositeFieldContainer[TokenProbability]
    display_tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, token_ids: _Optional[_Iterable[int]] = ..., tokens: _Optional[_Iterable[str]] = ..., top_next_tokens: _Optional[_Iterable[_Union[TokenProbability, _Mapping]]] = ..., display_tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class RunModelResponse(_message.Message):
    __slots__ = ("model", "sequences", "activations", "logits", "attention_mask", "metric_values", "gradients", "logit_lens", "logit_lens_targets", "logit_lens_tokens")
    class LogitLensTokensEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    ACTIVATIONS_FIELD_NUMBER: _ClassVar[int]
    LOGITS_FIELD_NUMBER: _ClassVar[int]
    ATTENTION_MASK_FIELD_NUMBER: _ClassVar[int]
    METRIC_VALUES_FIELD_NUMBER: _ClassVar[int]
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    LOGIT_LENS_FIELD_NUMBER: _ClassVar[int]
    LOGIT_LENS_TARGETS_FIELD_NUMBER: _ClassVar[int]
    LOGIT_LENS_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    sequences: _containers.RepeatedCompositeFieldContainer[SequenceResult]
    activations: _containers.RepeatedCompositeFieldContainer[CapturedActivation]
    logits: _tensor_pb2.Tensor
    attention_mask: _tensor_pb2.Tensor
    metric_values: _containers.RepeatedScalarFieldContainer[float]
    gradients: _containers.RepeatedCompositeFieldContainer[CapturedActivation]
    logit_lens: _containers.RepeatedCompositeFieldContainer[LogitLensOutput]
    logit_lens_targets: _tensor_pb2.Tensor
    logit_lens_tokens: _containers.ScalarMap[int, str]
    def __init__(self, model: _Optional[str] = ..., sequences: _Optional[_Iterable[_Union[SequenceResult, _Mapping]]] = ..., activations: _Optional[_Iterable[_Union[CapturedActivation, _Mapping]]] = ..., logits: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., attention_mask: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., metric_values: _Optional[_Iterable[float]] = ..., gradients: _Optional[_Iterable[_Union[CapturedActivation, _Mapping]]] = ..., logit_lens: _Optional[_Iterable[_Union[LogitLensOutput, _Mapping]]] = ..., logit_lens_targets: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ..., logit_lens_tokens: _Optional[_Mapping[int, str]] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("model", "text", "tokens", "max_new_tokens", "temperature", "top_p", "seed", "stop", "interventions", "capture", "delivery", "max_inline_bytes", "ignore_eos")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    INTERVENTIONS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    MAX_INLINE_BYTES_FIELD_NUMBER: _ClassVar[int]
    IGNORE_EOS_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    tokens: TokenIds
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    interventions: _containers.RepeatedCompositeFieldContainer[Intervention]
    capture: _containers.RepeatedScalarFieldContainer[str]
    delivery: _tensor_pb2.ResultDelivery
    max_inline_bytes: int
    ignore_eos: bool
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., tokens: _Optional[_Union[TokenIds, _Mapping]] = ..., max_new_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., seed: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ..., interventions: _Optional[_Iterable[_Union[Intervention, _Mapping]]] = ..., capture: _Optional[_Iterable[str]] = ..., delivery: _Optional[_Union[_tensor_pb2.ResultDelivery, str]] = ..., max_inline_bytes: _Optional[int] = ..., ignore_eos: _Optional[bool] = ...) -> None: ...

class GeneratedToken(_message.Message):
    __slots__ = ("token_id", "token", "text", "logprob", "position")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    token_id: int
    token: str
    text: str
    logprob: float
    position: int
    def __init__(self, token_id: _Optional[int] = ..., token: _Optional[str] = ..., text: _Optional[str] = ..., logprob: _Optional[float] = ..., position: _Optional[int] = ...) -> None: ...

class GenerationResult(_message.Message):
    __slots__ = ("model", "prompt_token_ids", "token_ids", "text", "finish_reason", "activations")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    ACTIVATIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    prompt_token_ids: _containers.RepeatedScalarFieldContainer[int]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    text: str
    finish_reason: FinishReason
    activations: _containers.RepeatedCompositeFieldContainer[CapturedActivation]
    def __init__(self, model: _Optional[str] = ..., prompt_token_ids: _Optional[_Iterable[int]] = ..., token_ids: _Optional[_Iterable[int]] = ..., text: _Optional[str] = ..., finish_reason: _Optional[_Union[FinishReason, str]] = ..., activations: _Optional[_Iterable[_Union[CapturedActivation, _Mapping]]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("token", "result")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    token: GeneratedToken
    result: GenerationResult
    def __init__(self, token: _Optional[_Union[GeneratedToken, _Mapping]] = ..., result: _Optional[_Union[GenerationResult, _Mapping]] = ...) -> None: ...
