from interp.v1 import common_pb2 as _common_pb2
from interp.v1 import tensor_pb2 as _tensor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HeadRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEAD_ROLE_UNSPECIFIED: _ClassVar[HeadRole]
    HEAD_ROLE_PREVIOUS_TOKEN: _ClassVar[HeadRole]
    HEAD_ROLE_CURRENT_TOKEN: _ClassVar[HeadRole]
    HEAD_ROLE_FIRST_TOKEN: _ClassVar[HeadRole]
    HEAD_ROLE_POSITIONAL_OFFSET: _ClassVar[HeadRole]
    HEAD_ROLE_BROAD: _ClassVar[HeadRole]
    HEAD_ROLE_INDUCTION: _ClassVar[HeadRole]
    HEAD_ROLE_MIXED: _ClassVar[HeadRole]
    HEAD_ROLE_NEXT_TOKEN: _ClassVar[HeadRole]
HEAD_ROLE_UNSPECIFIED: HeadRole
HEAD_ROLE_PREVIOUS_TOKEN: HeadRole
HEAD_ROLE_CURRENT_TOKEN: HeadRole
HEAD_ROLE_FIRST_TOKEN: HeadRole
HEAD_ROLE_POSITIONAL_OFFSET: HeadRole
HEAD_ROLE_BROAD: HeadRole
HEAD_ROLE_INDUCTION: HeadRole
HEAD_ROLE_MIXED: HeadRole
HEAD_ROLE_NEXT_TOKEN: HeadRole

class HeadRoleScores(_message.Message):
    __slots__ = ("previous_token", "current_token", "first_token", "positional_offset", "best_offset", "broad", "induction", "induction_defined", "next_token")
    PREVIOUS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    POSITIONAL_OFFSET_FIELD_NUMBER: _ClassVar[int]
    BEST_OFFSET_FIELD_NUMBER: _ClassVar[int]
    BROAD_FIELD_NUMBER: _ClassVar[int]
    INDUCTION_FIELD_NUMBER: _ClassVar[int]
    INDUCTION_DEFINED_FIELD_NUMBER: _ClassVar[int]
    NEXT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    previous_token: float
    current_token: float
    first_token: float
    positional_offset: float
    best_offset: int
    broad: float
    induction: float
    induction_defined: bool
    next_token: float
    def __init__(self, previous_token: _Optional[float] = ..., current_token: _Optional[float] = ..., first_token: _Optional[float] = ..., positional_offset: _Optional[float] = ..., best_offset: _Optional[int] = ..., broad: _Optional[float] = ..., induction: _Optional[float] = ..., induction_defined: _Optional[bool] = ..., next_token: _Optional[float] = ...) -> None: ...

class HeadAnalysis(_message.Message):
    __slots__ = ("layer", "head", "entropy", "normalized_entropy", "role", "role_score", "scores", "mean_attention_distance", "role_beyond_sink", "role_beyond_sink_score")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_ENTROPY_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROLE_SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    MEAN_ATTENTION_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    ROLE_BEYOND_SINK_FIELD_NUMBER: _ClassVar[int]
    ROLE_BEYOND_SINK_SCORE_FIELD_NUMBER: _ClassVar[int]
    layer: int
    head: int
    entropy: float
    normalized_entropy: float
    role: HeadRole
    role_score: float
    scores: HeadRoleScores
    mean_attention_distance: float
    role_beyond_sink: HeadRole
    role_beyond_sink_score: float
    def __init__(self, layer: _Optional[int] = ..., head: _Optional[int] = ..., entropy: _Optional[float] = ..., normalized_entropy: _Optional[float] = ..., role: _Optional[_Union[HeadRole, str]] = ..., role_score: _Optional[float] = ..., scores: _Optional[_Union[HeadRoleScores, _Mapping]] = ..., mean_attention_distance: _Optional[float] = ..., role_beyond_sink: _Optional[_Union[HeadRole, str]] = ..., role_beyond_sink_score: _Optional[float] = ...) -> None: ...

class AttentionLink(_message.Message):
    __slots__ = ("layer", "head", "query_position", "key_position", "query_token", "key_token", "weight")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    QUERY_POSITION_FIELD_NUMBER: _ClassVar[int]
    KEY_POSITION_FIELD_NUMBER: _ClassVar[int]
    QUERY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KEY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    layer: int
    head: int
    query_position: int
    key_position: int
    query_token: str
    key_token: str
    weight: float
    def __init__(self, layer: _Optional[int] = ..., head: _Optional[int] = ..., query_position: _Optional[int] = ..., key_position: _Optional[int] = ..., query_token: _Optional[str] = ..., key_token: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class LayerSummary(_message.Message):
    __slots__ = ("layer", "mean_entropy", "mean_attention_distance", "dominant_role", "role_counts")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    MEAN_ENTROPY_FIELD_NUMBER: _ClassVar[int]
    MEAN_ATTENTION_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    DOMINANT_ROLE_FIELD_NUMBER: _ClassVar[int]
    ROLE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    layer: int
    mean_entropy: float
    mean_attention_distance: float
    dominant_role: HeadRole
    role_counts: _containers.RepeatedCompositeFieldContainer[RoleCount]
    def __init__(self, layer: _Optional[int] = ..., mean_entropy: _Optional[float] = ..., mean_attention_distance: _Optional[float] = ..., dominant_role: _Optional[_Union[HeadRole, str]] = ..., role_counts: _Optional[_Iterable[_Union[RoleCount, _Mapping]]] = ...) -> None: ...

class RoleCount(_message.Message):
    __slots__ = ("role", "count")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    role: HeadRole
    count: int
    def __init__(self, role: _Optional[_Union[HeadRole, str]] = ..., count: _Optional[int] = ...) -> None: ...

class LayerPattern(_message.Message):
    __slots__ = ("layer", "heads", "pattern")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    layer: int
    heads: _containers.RepeatedScalarFieldContainer[int]
    pattern: _tensor_pb2.Tensor
    def __init__(self, layer: _Optional[int] = ..., heads: _Optional[_Iterable[int]] = ..., pattern: _Optional[_Union[_tensor_pb2.Tensor, _Mapping]] = ...) -> None: ...

class AttentionAnalysis(_message.Message):
    __slots__ = ("model", "text", "tokens", "token_ids", "causal", "num_layers", "num_heads", "heads", "layers", "hotspots", "findings", "patterns", "display_tokens")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    CAUSAL_FIELD_NUMBER: _ClassVar[int]
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    NUM_HEADS_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    HOTSPOTS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_TOKENS_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    tokens: _containers.RepeatedScalarFieldContainer[str]
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    causal: bool
    num_layers: int
    num_heads: int
    heads: _containers.RepeatedCompositeFieldContainer[HeadAnalysis]
    layers: _containers.RepeatedCompositeFieldContainer[LayerSummary]
    hotspots: _containers.RepeatedCompositeFieldContainer[AttentionLink]
    findings: _containers.RepeatedScalarFieldContainer[str]
    patterns: _containers.RepeatedCompositeFieldContainer[LayerPattern]
    display_tokens: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., tokens: _Optional[_Iterable[str]] = ..., token_ids: _Optional[_Iterable[int]] = ..., causal: _Optional[bool] = ..., num_layers: _Optional[int] = ..., num_heads: _Optional[int] = ..., heads: _Optional[_Iterable[_Union[HeadAnalysis, _Mapping]]] = ..., layers: _Optional[_Iterable[_Union[LayerSummary, _Mapping]]] = ..., hotspots: _Optional[_Iterable[_Union[AttentionLink, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ..., patterns: _Optional[_Iterable[_Union[LayerPattern, _Mapping]]] = ..., display_tokens: _Optional[_Iterable[str]] = ...) -> None: ...

class AttentionOptions(_message.Message):
    __slots__ = ("include_patterns", "top_k_links", "delivery")
    INCLUDE_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_LINKS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    include_patterns: bool
    top_k_links: int
    delivery: _tensor_pb2.ResultDelivery
    def __init__(self, include_patterns: _Optional[bool] = ..., top_k_links: _Optional[int] = ..., delivery: _Optional[_Union[_tensor_pb2.ResultDelivery, str]] = ...) -> None: ...

class AnalyzeAttentionRequest(_message.Message):
    __slots__ = ("model", "text", "selection", "options")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    text: str
    selection: _common_pb2.LayerHeadSelection
    options: AttentionOptions
    def __init__(self, model: _Optional[str] = ..., text: _Optional[str] = ..., selection: _Optional[_Union[_common_pb2.LayerHeadSelection, _Mapping]] = ..., options: _Optional[_Union[AttentionOptions, _Mapping]] = ...) -> None: ...

class AnalyzeAttentionResponse(_message.Message):
    __slots__ = ("analysis",)
    ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    analysis: AttentionAnalysis
    def __init__(self, analysis: _Optional[_Union[AttentionAnalysis, _Mapping]] = ...) -> None: ...

class HeadComparison(_message.Message):
    __slots__ = ("layer", "head", "consensus_role", "role_agreement", "mean_entropy", "entropy_std")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_ROLE_FIELD_NUMBER: _ClassVar[int]
    ROLE_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    MEAN_ENTROPY_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_STD_FIELD_NUMBER: _ClassVar[int]
    layer: int
    head: int
    consensus_role: HeadRole
    role_agreement: float
    mean_entropy: float
    entropy_std: float
    def __init__(self, layer: _Optional[int] = ..., head: _Optional[int] = ..., consensus_role: _Optional[_Union[HeadRole, str]] = ..., role_agreement: _Optional[float] = ..., mean_entropy: _Optional[float] = ..., entropy_std: _Optional[float] = ...) -> None: ...

class CompareAttentionRequest(_message.Message):
    __slots__ = ("model", "texts", "selection", "options")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    texts: _common_pb2.TextBatch
    selection: _common_pb2.LayerHeadSelection
    options: AttentionOptions
    def __init__(self, model: _Optional[str] = ..., texts: _Optional[_Union[_common_pb2.TextBatch, _Mapping]] = ..., selection: _Optional[_Union[_common_pb2.LayerHeadSelection, _Mapping]] = ..., options: _Optional[_Union[AttentionOptions, _Mapping]] = ...) -> None: ...

class CompareAttentionResponse(_message.Message):
    __slots__ = ("analyses", "heads", "findings")
    ANALYSES_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    analyses: _containers.RepeatedCompositeFieldContainer[AttentionAnalysis]
    heads: _containers.RepeatedCompositeFieldContainer[HeadComparison]
    findings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, analyses: _Optional[_Iterable[_Union[AttentionAnalysis, _Mapping]]] = ..., heads: _Optional[_Iterable[_Union[HeadComparison, _Mapping]]] = ..., findings: _Optional[_Iterable[str]] = ...) -> None: ...
