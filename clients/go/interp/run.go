package interp

import (
	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

// RunOption sets part of a RunModelRequest (see NewRunRequest).
type RunOption func(*interpv1.RunModelRequest)

// NewRunRequest is a RunModelRequest for a batch of texts, each run as its own sequence:
//
//	req := interp.NewRunRequest("smollm2-135m", []string{"The capital of France is"},
//		interp.Capture("blocks.6.hook_resid_pre"), interp.StoreDelivery(), interp.TopK(5))
//	resp, err := c.ModelHost.RunModel(ctx, req)
func NewRunRequest(model string, texts []string, opts ...RunOption) *interpv1.RunModelRequest {
	req := &interpv1.RunModelRequest{
		Model: model,
		Input: &interpv1.RunModelRequest_Texts{Texts: &interpv1.TextBatch{Texts: append([]string(nil), texts...)}},
	}
	for _, o := range opts {
		if o != nil {
			o(req)
		}
	}
	return req
}

// NewRunRequestTokens is a RunModelRequest for pre-tokenized sequences (all of one length).
func NewRunRequestTokens(model string, tokens [][]int64, opts ...RunOption) *interpv1.RunModelRequest {
	batch := &interpv1.TokenBatch{}
	for _, ids := range tokens {
		batch.Sequences = append(batch.Sequences, &interpv1.TokenIds{Ids: append([]int64(nil), ids...)})
	}
	req := &interpv1.RunModelRequest{Model: model, Input: &interpv1.RunModelRequest_Tokens{Tokens: batch}}
	for _, o := range opts {
		if o != nil {
			o(req)
		}
	}
	return req
}

// Capture asks for the activations at hook sites (ModelInfo.hook_sites), returned in request
// order in RunModelResponse.activations.
func Capture(sites ...string) RunOption {
	return func(r *interpv1.RunModelRequest) { r.Capture = append(r.Capture, sites...) }
}

// Intervene adds interventions, applied in order during the forward pass.
func Intervene(ivs ...*interpv1.Intervention) RunOption {
	return func(r *interpv1.RunModelRequest) { r.Interventions = append(r.Interventions, ivs...) }
}

// Delivery says how captured tensors (and logits, gradients) come back.
func Delivery(d interpv1.ResultDelivery) RunOption {
	return func(r *interpv1.RunModelRequest) { r.Delivery = d }
}

// InlineDelivery returns every tensor inline (a result over the server's inline maximum fails
// with RESOURCE_EXHAUSTED / INLINE_RESULT_TOO_LARGE).
func InlineDelivery() RunOption { return Delivery(interpv1.ResultDelivery_RESULT_DELIVERY_INLINE) }

// StoreDelivery returns every tensor as an object reference into the fleet's store, to pass to
// later calls unchanged (e.g. Patch) or read with Client.ReadTensors. Calls asking for it are
// not retried (each one writes new objects).
func StoreDelivery() RunOption {
	return Delivery(interpv1.ResultDelivery_RESULT_DELIVERY_OBJECT_STORE)
}

// MaxInlineBytes: with the default delivery, results up to n bytes come inline and larger ones
// go to the store (0: the server's default).
func MaxInlineBytes(n int64) RunOption {
	return func(r *interpv1.RunModelRequest) { r.MaxInlineBytes = n }
}

// TopK asks for the k most likely next tokens after each sequence's last position
// (SequenceResult.top_next_tokens).
func TopK(k int32) RunOption { return func(r *interpv1.RunModelRequest) { r.TopK = k } }

// ReturnLogits asks for the full logits [batch, pos, vocab] (RunModelResponse.logits).
func ReturnLogits() RunOption { return func(r *interpv1.RunModelRequest) { r.ReturnLogits = true } }

// WithMetric computes a metric per sequence (RunModelResponse.metric_values).
func WithMetric(m *interpv1.Metric) RunOption {
	return func(r *interpv1.RunModelRequest) { r.Metric = m }
}

// Gradients asks for the metric's gradients at hook sites ("hook_embed": the input embeddings).
func Gradients(sites ...string) RunOption {
	return func(r *interpv1.RunModelRequest) { r.Gradients = append(r.Gradients, sites...) }
}

// WithLogitLens decodes residual-stream sites through the final norm and unembedding.
func WithLogitLens(topK int32, sites ...string) RunOption {
	return func(r *interpv1.RunModelRequest) {
		r.LogitLens = &interpv1.LogitLens{HookSites: append([]string(nil), sites...), TopK: topK}
	}
}

// Pool averages the captures over groups of positions at the source: add one pool per call
// (sequence, positions); each captured site then comes back as [pool, ...].
func Pool(sequence int32, positions ...int32) RunOption {
	return func(r *interpv1.RunModelRequest) {
		if r.CapturePooling == nil {
			r.CapturePooling = &interpv1.CapturePooling{}
		}
		r.CapturePooling.Pools = append(r.CapturePooling.Pools, &interpv1.PositionPool{
			Sequence: sequence, Positions: append([]int32(nil), positions...),
		})
	}
}
