"""Probing from Python: cross-lingual and cross-model representation similarity.

The probes themselves are :meth:`interpretability.client.Client.probe_representations` (tasks from
:func:`interpretability.probing_data.load_probe_dataset`); this module adds the analyzer classes
a notebook reaches for.

Example:
    >>> from interpretability.probing import CrossLingualAnalyzer
    >>> result = CrossLingualAnalyzer().analyze_representation_similarity(  # doctest: +SKIP
    ...     model="smollm2-135m", languages=["en", "fr", "es", "de"],
    ...     test_sentences="examples/probing/multilingual_test_set.json",
    ...     similarity_metrics=["cosine", "cka", "rsa"])
    >>> for line in result.findings: print(line)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from interp.v1 import common_pb2 as cpb
from interp.v1 import probing_service_pb2 as ppb
from interpretability.client import Analyzer
from interpretability.probing_data import load_parallel_sentences

__all__ = ["CrossLingualAnalyzer", "RepresentationComparer"]


class CrossLingualAnalyzer(Analyzer):
    """How much a model's representations of translations agree, layer by layer.

    Args:
        client: a connected :class:`Client` (default: one to ``endpoint``).
    """

    def analyze_representation_similarity(
        self,
        model: str,
        languages: Sequence[str] | None = None,
        test_sentences: str | Path | Mapping[str, Sequence[str]] = "",
        similarity_metrics: Sequence[str] = ("cosine", "cka", "rsa"),
        *,
        layers: Sequence[int] = (),
        pooling: str = "mean",
        standardize: bool = False,
        on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
        timeout: float | None = None,
    ) -> ppb.RepresentationSimilarity:
        """Compare the representations of parallel sentences in every pair of ``languages``.

        Args:
            model: a multilingual model's name (any model works; a mostly-English one shows
                how little its languages share).
            languages: language codes to compare, in order (default: all in the file).
            test_sentences: a parallel-sentence file (see
                :func:`~interpretability.probing_data.load_parallel_sentences`) or a mapping
                language -> sentences, aligned by index.
            similarity_metrics: from ``"cosine"``, ``"cka"`` (plain and debiased) and ``"rsa"``.
            layers: layers to compare (default: all), each language's layer i with layer i.
            standardize: z-score every dimension of each language's vectors first.

        Returns:
            A ``RepresentationSimilarity``: one entry per language pair with a value per layer
            and metric, and findings in words.
        """
        if isinstance(test_sentences, Mapping):
            table = {k: list(v) for k, v in test_sentences.items()}
            if languages:
                missing = [lang for lang in languages if lang not in table]
                if missing:
                    raise ValueError(f"no sentences for {missing}; have {sorted(table)}")
                table = {lang: table[lang] for lang in languages}
        else:
            if not test_sentences:
                raise ValueError("test_sentences: give a parallel-sentence file or a mapping language -> sentences")
            table = load_parallel_sentences(test_sentences, languages)
        return self.client.compare_representations(
            [(lang, texts) for lang, texts in table.items()], model=model, layers=layers, metrics=similarity_metrics,
            pairing="matched", pooling=pooling, standardize=standardize, on_progress=on_progress, timeout=timeout,
        )


class RepresentationComparer(Analyzer):
    """Layer-by-layer similarity of two models (or two checkpoints) on the same texts."""

    def compare_models(
        self,
        model_a: str,
        model_b: str,
        texts: Sequence[str],
        similarity_metrics: Sequence[str] = ("cka", "rsa"),
        *,
        layers: Sequence[int] = (),
        pairing: str = "all",
        pooling: str = "mean",
        standardize: bool = False,
        on_progress: Callable[[cpb.AnalysisProgress], None] | None = None,
        timeout: float | None = None,
    ) -> ppb.RepresentationSimilarity:
        """CKA/RSA (and cosine when the widths match) between every layer of ``model_a`` and
        every layer of ``model_b`` (``pairing="all"``, a grid), or layer i with layer i
        (``"matched"``)."""
        return self.client.compare_representations(
            [(model_a, texts, model_a), (model_b, texts, model_b)] if model_a != model_b else
            [(f"{model_a} (a)", texts, model_a), (f"{model_b} (b)", texts, model_b)],
            layers=layers, metrics=similarity_metrics, pairing=pairing, pooling=pooling, standardize=standardize, on_progress=on_progress,
            timeout=timeout,
        )
