package interp

import (
	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

// Builders for the typed pieces of a model-host request, mirroring the Python SDK's
// interpretability.experiments: each returns the message the contract defines, so what a Go
// user builds is what a Python or TypeScript user sends. Tensors are *interpv1.Tensor: inline
// (Float32Tensor, or a tensor a call returned) or a stored tensor a call returned, passed back
// unchanged.
//
//	clean, _ := c.ModelHost.RunModel(ctx, interp.NewRunRequest(model, []string{cleanText},
//		interp.Capture("blocks.6.hook_resid_pre"), interp.StoreDelivery()))
//	src := clean.GetActivations()[0].GetTensor() // an object reference
//	out, _ := c.ModelHost.RunModel(ctx, interp.NewRunRequest(model, []string{corruptText},
//		interp.Intervene(interp.Patch("blocks.6.hook_resid_pre", src, interp.Positions(3))),
//		interp.WithMetric(interp.LogitDifference([]int64{mary}, []int64{john}))))

// Select narrows the entries an intervention changes; the entries changed are the product of the
// selections (sequences x positions x heads x key positions x neurons). No selection: all.
type Select func(*interpv1.Intervention)

// Positions selects sequence positions (query positions for attention patterns).
func Positions(p ...int32) Select {
	return func(iv *interpv1.Intervention) { iv.Positions = append(iv.Positions, p...) }
}

// Heads selects heads, for sites with a head dimension.
func Heads(h ...int32) Select {
	return func(iv *interpv1.Intervention) { iv.Heads = append(iv.Heads, h...) }
}

// Sequences selects sequences of the request's batch (from 0): one batched call can carry a
// different intervention per sequence (a patching sweep).
func Sequences(s ...int32) Select {
	return func(iv *interpv1.Intervention) { iv.Sequences = append(iv.Sequences, s...) }
}

// KeyPositions selects key positions, for attention patterns (attn.hook_pattern) only.
func KeyPositions(k ...int32) Select {
	return func(iv *interpv1.Intervention) { iv.KeyPositions = append(iv.KeyPositions, k...) }
}

// Neurons selects entries of the site's last axis (MLP neurons, residual-stream dimensions).
func Neurons(n ...int32) Select {
	return func(iv *interpv1.Intervention) { iv.Neurons = append(iv.Neurons, n...) }
}

// SourceSequences names the sequences of this batch that a Patch without a source tensor, or an
// EdgePatch, copies from: one per changed sequence, or one for all.
func SourceSequences(s ...int32) Select {
	return func(iv *interpv1.Intervention) { iv.SourceSequences = append(iv.SourceSequences, s...) }
}

// Keep keeps a fraction of the current activation in a Patch: new = keep*current +
// (1-keep)*source (0, the default, replaces). It has no effect on other actions.
func Keep(keep float32) Select {
	return func(iv *interpv1.Intervention) {
		if p := iv.GetPatch(); p != nil {
			p.Keep = keep
		}
	}
}

func withAction(site string, action func(*interpv1.Intervention), sel []Select) *interpv1.Intervention {
	iv := &interpv1.Intervention{HookSite: site}
	action(iv) // first, so that Keep sees the patch
	for _, s := range sel {
		if s != nil {
			s(iv)
		}
	}
	return iv
}

// ZeroAblate sets the selected entries of a hook site to zero.
func ZeroAblate(site string, sel ...Select) *interpv1.Intervention {
	return withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_ZeroAblation{ZeroAblation: &interpv1.ZeroAblation{}}
	}, sel)
}

// MeanAblate replaces the selected entries with a mean: mean (shaped like one position of the
// site), or, when mean is nil, this request's own mean over its real tokens.
func MeanAblate(site string, mean *interpv1.Tensor, sel ...Select) *interpv1.Intervention {
	return withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_MeanAblation{MeanAblation: &interpv1.MeanAblation{Mean: mean}}
	}, sel)
}

// MeanAblateOver replaces the selected entries with the mean activation of referenceTexts
// (computed on the server, over their real tokens, without interventions).
func MeanAblateOver(site string, referenceTexts []string, sel ...Select) *interpv1.Intervention {
	return withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_MeanAblation{MeanAblation: &interpv1.MeanAblation{
			ReferenceTexts: &interpv1.TextBatch{Texts: append([]string(nil), referenceTexts...)},
		}}
	}, sel)
}

// Patch replaces the selected entries with another run's activation at the same site: source is
// an inline tensor or a stored one (the Tensor a previous RunModel returned, passed unchanged),
// shaped like the site's capture ([batch, pos, ...]; a batch of 1 is broadcast). With a nil
// source the values come from other sequences of the same batch (SourceSequences).
func Patch(site string, source *interpv1.Tensor, sel ...Select) *interpv1.Intervention {
	return withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_Patch{Patch: &interpv1.ActivationPatch{Source: source}}
	}, sel)
}

// Sender is one upstream component of an EdgePatch: a site writing to the residual stream
// (blocks.L.attn.hook_result with heads, blocks.L.hook_mlp_out, hook_embed, ...).
func Sender(site string, heads ...int32) *interpv1.EdgeSender {
	return &interpv1.EdgeSender{HookSite: site, Heads: append([]int32(nil), heads...)}
}

// EdgePatch patches only the edges from senders into site (blocks.L.hook_q_input and friends,
// blocks.L.hook_mlp_in, the last hook_resid_post), taking the senders' output from
// sourceSequences of this batch (or their mean, with meanSource).
func EdgePatch(site string, senders []*interpv1.EdgeSender, sourceSequences []int32, meanSource bool, sel ...Select) *interpv1.Intervention {
	iv := withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_EdgePatch{EdgePatch: &interpv1.EdgePatch{Senders: senders, MeanSource: meanSource}}
	}, sel)
	iv.SourceSequences = append(iv.SourceSequences, sourceSequences...)
	return iv
}

// Steer adds scale*vector to the selected entries; vector is shaped like one position of the
// site (or one head, where heads are selected). A scale of 0 is read as 1 by the server.
func Steer(site string, vector *interpv1.Tensor, scale float32, sel ...Select) *interpv1.Intervention {
	return withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_Steering{Steering: &interpv1.SteeringVector{Vector: vector, Scale: scale}}
	}, sel)
}

// Scale multiplies the selected entries by factor (e.g. attention-pattern entries, or neurons).
func Scale(site string, factor float32, sel ...Select) *interpv1.Intervention {
	return withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_Scale{Scale: &interpv1.ScaleActivation{Factor: factor}}
	}, sel)
}

// Noise adds reproducible Gaussian noise (the corruption step of causal tracing).
func Noise(site string, std float32, seed uint64, sel ...Select) *interpv1.Intervention {
	return withAction(site, func(iv *interpv1.Intervention) {
		iv.Action = &interpv1.Intervention_Noise{Noise: &interpv1.GaussianNoise{Std: std, Seed: seed}}
	}, sel)
}

// Score kinds of TokenScore and ClassScore.
const (
	LogProb     = interpv1.ScoreKind_SCORE_KIND_LOG_PROB
	Logit       = interpv1.ScoreKind_SCORE_KIND_LOGIT
	Probability = interpv1.ScoreKind_SCORE_KIND_PROBABILITY
)

// TokenScore is a target token's score (log-probability, logit or probability) at positions
// (none: each sequence's last real token; negative positions count back from it). One id shared
// by every sequence, or one per sequence.
func TokenScore(tokenIDs []int64, kind interpv1.ScoreKind, positions ...int32) *interpv1.Metric {
	return &interpv1.Metric{Metric: &interpv1.Metric_Token{Token: &interpv1.TokenScore{
		TokenIds: append([]int64(nil), tokenIDs...), Positions: append([]int32(nil), positions...), Kind: kind,
	}}}
}

// LogitDifference is logit(correct) - logit(incorrect), the usual patching metric.
func LogitDifference(correct, incorrect []int64, positions ...int32) *interpv1.Metric {
	return &interpv1.Metric{Metric: &interpv1.Metric_LogitDifference{LogitDifference: &interpv1.LogitDifference{
		CorrectTokenIds:   append([]int64(nil), correct...),
		IncorrectTokenIds: append([]int64(nil), incorrect...),
		Positions:         append([]int32(nil), positions...),
	}}}
}

// ClassScore is a sequence-classification head's class score.
func ClassScore(classIndices []int32, kind interpv1.ScoreKind) *interpv1.Metric {
	return &interpv1.Metric{Metric: &interpv1.Metric_ClassScore{ClassScore: &interpv1.ClassScore{
		ClassIndices: append([]int32(nil), classIndices...), Kind: kind,
	}}}
}

// ActivationScore is one entry of a site (index within a position, e.g. [neuron]) or, with a
// direction, its projection on that vector.
func ActivationScore(site string, index []int32, direction *interpv1.Tensor, positions ...int32) *interpv1.Metric {
	return &interpv1.Metric{Metric: &interpv1.Metric_Activation{Activation: &interpv1.ActivationScore{
		HookSite: site, Index: append([]int32(nil), index...), Direction: direction, Positions: append([]int32(nil), positions...),
	}}}
}
