// Command patch runs a model on a text with an activation patch whose source is an object
// reference another client printed, and prints the prediction as one JSON line, for comparing
// clients across languages:
//
//	go run ./examples/patch -endpoint 127.0.0.1:50051 -text "The capital of France is" \
//	    -site blocks.6.hook_resid_pre -ref ref.json
//
// ref.json is a JSON object whose "ref" field is the stored tensor in protobuf JSON: the Tensor a
// RunModel with RESULT_DELIVERY_OBJECT_STORE returned (dtype, shape, object), e.g.
//
//	{"ref": {"dtype": "DATA_TYPE_FLOAT32", "shape": ["1", "6", "576"],
//	         "object": {"bucket": "...", "key": "dev/...", "byteSize": "13904", "sha256": "..."}}}
//
// The reference is passed to the model host unchanged. A bare ObjectRef ({"bucket", "key",
// "byteSize", "sha256"}) works too, with "dtype" and "shape" beside "ref" (as the TypeScript
// capture example prints it) or without them: the services check a reference's declared data
// type and shape, so those are then read from the store first (one StorageService.ReadTensors).
//
// Output, one line:
//
//	{"next_token_id": N, "next_token": "ĠParis", "next_token_display": "Paris",
//	 "num_tokens": T, "vocab_size": V, "logits_last": [V float32 values]}
//
// next_token_id and next_token are the model host's most likely next token after the last
// position (top_k 1); logits_last is every logit of the last position (the whole vocabulary,
// float32 as sent, in the shortest form that reads back exactly). Exit status 1 with the error
// (and its reason) on stderr when a call fails, 2 for bad flags or a bad reference file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protojson"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
	"github.com/interp-suite/interp-suite/clients/go/interp"
)

func main() { os.Exit(run()) }

type output struct {
	NextTokenID      int64     `json:"next_token_id"`
	NextToken        string    `json:"next_token"`
	NextTokenDisplay string    `json:"next_token_display"`
	NumTokens        int       `json:"num_tokens"`
	VocabSize        int64     `json:"vocab_size"`
	LogitsLast       []float32 `json:"logits_last"`
}

func run() int {
	fs := flag.NewFlagSet("patch", flag.ContinueOnError)
	conn := interp.RegisterFlags(fs)
	model := fs.String("model", "smollm2-135m", "model name")
	text := fs.String("text", "The capital of France is", "input text")
	site := fs.String("site", "blocks.6.hook_resid_pre", "hook site to patch")
	refPath := fs.String("ref", "", "JSON file whose \"ref\" field is the stored source tensor (protobuf JSON)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *refPath == "" {
		fmt.Fprintln(os.Stderr, "error: -ref is required")
		return 2
	}
	tensor, bare, err := readRef(*refPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: -ref %s: %v\n", *refPath, err)
		return 2
	}

	c, err := conn.Dial()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return 1
	}
	defer c.Close()
	ctx := context.Background()

	if bare != nil {
		if tensor, err = c.DescribeRef(ctx, bare); err != nil {
			return fail(err)
		}
	}
	req := interp.NewRunRequest(*model, []string{*text},
		interp.Intervene(interp.Patch(*site, tensor)),
		interp.TopK(1),
		interp.ReturnLogits(),
	)
	resp, err := c.ModelHost.RunModel(ctx, req)
	if err != nil {
		return fail(err)
	}
	logits, err := c.DecodeTensor(ctx, resp.GetLogits())
	if err != nil {
		return fail(err)
	}
	if interp.IsStored(resp.GetLogits()) { // large logits came through the store: clean up
		if refs, err := interp.Refs(resp.GetLogits()); err == nil {
			_, _ = c.DeleteTensors(ctx, refs)
		}
	}
	if len(logits.Shape) != 3 || logits.Shape[0] != 1 || logits.Shape[1] < 1 {
		return fail(fmt.Errorf("logits have shape %v, expected [1, pos, vocab]", logits.Shape))
	}
	seqs := resp.GetSequences()
	if len(seqs) != 1 || len(seqs[0].GetTopNextTokens()) == 0 {
		return fail(errors.New("the response has no next-token prediction"))
	}
	// the last real token (a single sequence has no padding)
	last := int64(len(seqs[0].GetTokenIds())) - 1
	if last < 0 || last >= logits.Shape[1] {
		last = logits.Shape[1] - 1
	}
	vocab := logits.Shape[2]
	start, err := logits.Offset(0, last, 0)
	if err != nil {
		return fail(err)
	}
	values := logits.Float32s()[start : start+int(vocab)]
	for _, v := range values {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fail(errors.New("the logits hold NaN or infinity"))
		}
	}
	top := seqs[0].GetTopNextTokens()[0]
	line, err := json.Marshal(output{
		NextTokenID:      top.GetTokenId(),
		NextToken:        top.GetToken(),
		NextTokenDisplay: top.GetDisplayToken(),
		NumTokens:        len(seqs[0].GetTokenIds()),
		VocabSize:        vocab,
		LogitsLast:       values,
	})
	if err != nil {
		return fail(err)
	}
	fmt.Println(string(line))
	return 0
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	if e, ok := interp.AsError(err); ok {
		for _, v := range e.FieldViolations {
			fmt.Fprintf(os.Stderr, "  %s: %s\n", v.Field, v.Description)
		}
	}
	return 1
}

// readRef reads the "ref" field of a JSON file (or, without one, the whole document): a stored
// Tensor in protobuf JSON, returned as is, or a bare ObjectRef, returned as bare.
func readRef(path string) (*interpv1.Tensor, *interpv1.ObjectRef, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object: %v", err)
	}
	raw, ok := doc["ref"]
	if !ok {
		raw = data
	}
	t := &interpv1.Tensor{}
	tensorErr := protojson.Unmarshal(raw, t)
	if tensorErr == nil && t.GetObject() != nil {
		if t.GetDtype() == interpv1.DataType_DATA_TYPE_UNSPECIFIED {
			return nil, t.GetObject(), nil // a reference without its header: read it from the store
		}
		return t, nil, nil
	}
	if tensorErr == nil && t.GetRaw() != nil {
		return nil, nil, errors.New("\"ref\" is an inline tensor, not an object reference")
	}
	ref := &interpv1.ObjectRef{}
	refErr := protojson.Unmarshal(raw, ref)
	if refErr == nil && ref.GetKey() == "" {
		refErr = errors.New("no key")
	}
	if refErr != nil {
		why := refErr
		if tensorErr != nil {
			why = tensorErr
		}
		return nil, nil, fmt.Errorf("\"ref\" is neither a stored Tensor nor an ObjectRef in protobuf JSON (%v)", why)
	}
	// A bare ObjectRef with the tensor's header beside it, as the TypeScript capture example
	// prints it ({"ref": {...}, "dtype": "DATA_TYPE_FLOAT32", "shape": [1, 5, 576]}).
	var header struct {
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	}
	if _, ok := doc["dtype"]; ok {
		if err := json.Unmarshal(data, &header); err != nil {
			return nil, nil, fmt.Errorf("dtype/shape beside \"ref\": %v", err)
		}
		dtype, known := interpv1.DataType_value[header.DType]
		if !known || len(header.Shape) == 0 {
			return nil, nil, fmt.Errorf("dtype %q / shape %v beside \"ref\" do not describe a tensor", header.DType, header.Shape)
		}
		return interp.StoredTensor(ref, interpv1.DataType(dtype), header.Shape), nil, nil
	}
	return nil, ref, nil
}
