from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class TextBatch(_message.Message):
    __slots__ = ("texts",)
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, texts: _Optional[_Iterable[str]] = ...) -> None: ...

class LayerHeadSelection(_message.Message):
    __slots__ = ("layers", "heads")
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    HEADS_FIELD_NUMBER: _ClassVar[int]
    layers: _containers.RepeatedScalarFieldContainer[int]
    heads: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, layers: _Optional[_Iterable[int]] = ..., heads: _Optional[_Iterable[int]] = ...) -> None: ...

class AnalysisProgress(_message.Message):
    __slots__ = ("stage", "fraction", "texts_done", "tokens_done")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    TEXTS_DONE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_DONE_FIELD_NUMBER: _ClassVar[int]
    stage: str
    fraction: float
    texts_done: int
    tokens_done: int
    def __init__(self, stage: _Optional[str] = ..., fraction: _Optional[float] = ..., texts_done: _Optional[int] = ..., tokens_done: _Optional[int] = ...) -> None: ...

class SkippedInput(_message.Message):
    __slots__ = ("index", "reason", "excerpt")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    excerpt: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ..., excerpt: _Optional[str] = ...) -> None: ...
