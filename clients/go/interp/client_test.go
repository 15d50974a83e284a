package interp

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

func init() {
	// The in-process test server decodes with the same API v2 codec the Client forces (grpc's
	// server picks the codec registered for the request's content-subtype).
	encoding.RegisterCodec(codec{})
}

func TestCodecRoundTripsOneofs(t *testing.T) {
	ref := StoredTensor(&interpv1.ObjectRef{Key: "dev/runs/a", Sha256: "00"}, interpv1.DataType_DATA_TYPE_FLOAT32, []int64{1, 2, 3})
	req := NewRunRequest("m", []string{"a b"}, Intervene(Patch("blocks.0.hook_resid_pre", ref, Positions(1), Keep(0.25)), ZeroAblate("blocks.1.attn.hook_z", Heads(2))))
	b, err := codec{}.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back interpv1.RunModelRequest
	if err := (codec{}).Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(req, &back) {
		t.Fatalf("round trip changed the request:\n%v\n%v", req, &back)
	}
	// an API v1 message (grpc's health messages, in some distributions) goes through as well
	hb, err := codec{}.Marshal(&healthpb.HealthCheckRequest{Service: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var h healthpb.HealthCheckRequest
	if err := (codec{}).Unmarshal(hb, &h); err != nil || h.Service != "x" {
		t.Fatalf("health message: %v %v", &h, err)
	}
	if _, err := (codec{}).Marshal(42); err == nil {
		t.Error("Marshal of a non-message: no error")
	}
}

// fakeFleet implements the services the tests call.
type fakeFleet struct {
	interpv1.UnimplementedActivationsServiceServer
	interpv1.UnimplementedAttentionServiceServer
	interpv1.UnimplementedModelHostServiceServer
	interpv1.UnimplementedStorageServiceServer

	mu       sync.Mutex
	keys     []string
	runs     []*interpv1.RunModelRequest
	attempts map[string]int
	stored   map[string]*interpv1.Tensor
	deadline bool
}

func (f *fakeFleet) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	_, hasDeadline := ctx.Deadline()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, md.Get("x-api-key")...)
	f.deadline = hasDeadline
}

func reasonError(code codes.Code, reason, field, msg string) error {
	s, _ := status.New(code, msg).WithDetails(
		&errdetails.ErrorInfo{Reason: reason, Domain: "interp.v1"},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}},
	)
	return s.Err()
}

func (f *fakeFleet) AnalyzeAttention(ctx context.Context, req *interpv1.AnalyzeAttentionRequest) (*interpv1.AnalyzeAttentionResponse, error) {
	f.record(ctx)
	if req.GetText() == "" {
		return nil, reasonError(codes.InvalidArgument, "INPUT_EMPTY", "text", "text is empty")
	}
	return &interpv1.AnalyzeAttentionResponse{Analysis: &interpv1.AttentionAnalysis{
		Model: req.GetModel(), Text: req.GetText(), Findings: []string{"L6 H3 is an induction head"},
	}}, nil
}

func (f *fakeFleet) RunModel(ctx context.Context, req *interpv1.RunModelRequest) (*interpv1.RunModelResponse, error) {
	f.record(ctx)
	f.mu.Lock()
	f.runs = append(f.runs, req)
	f.attempts[req.GetModel()]++
	n := f.attempts[req.GetModel()]
	f.mu.Unlock()
	if req.GetModel() == "flaky" && n < 3 {
		return nil, status.Error(codes.Unavailable, "backend restarting")
	}
	logits, _ := Float32Tensor([]int64{1, 1, 3}, []float32{0.5, 2, -1}, "batch", "pos", "vocab")
	if req.GetDelivery() == interpv1.ResultDelivery_RESULT_DELIVERY_OBJECT_STORE {
		ref := &interpv1.ObjectRef{Bucket: "b", Key: "dev/runs/logits", Sha256: "ff"}
		f.mu.Lock()
		f.stored[ref.Key] = logits
		f.mu.Unlock()
		logits = StoredTensor(ref, logits.GetDtype(), logits.GetShape(), logits.GetDimNames()...)
	}
	return &interpv1.RunModelResponse{Model: req.GetModel(), Logits: logits}, nil
}

func (f *fakeFleet) Generate(req *interpv1.GenerateRequest, stream interpv1.ModelHostService_GenerateServer) error {
	f.record(stream.Context())
	for i := 0; i < 2; i++ {
		if err := stream.Send(&interpv1.GenerateResponse{Event: &interpv1.GenerateResponse_Token{Token: &interpv1.GeneratedToken{TokenId: int64(i)}}}); err != nil {
			return err
		}
	}
	if req.GetMaxNewTokens() > 2 {
		return reasonError(codes.InvalidArgument, "MAX_NEW_TOKENS_OUT_OF_RANGE", "max_new_tokens", "too many")
	}
	return stream.Send(&interpv1.GenerateResponse{Event: &interpv1.GenerateResponse_Result{Result: &interpv1.GenerationResult{Text: "ab"}}})
}

// AnalyzeActivations streams a progress event per text, then the result; model "no-result" ends
// after the progress, "late-error" fails after the result, and no texts fail after one event.
func (f *fakeFleet) AnalyzeActivations(req *interpv1.AnalyzeActivationsRequest, stream interpv1.ActivationsService_AnalyzeActivationsServer) error {
	f.record(stream.Context())
	texts := req.GetTexts().GetTexts()
	for i := range texts {
		p := &interpv1.AnalysisProgress{Stage: "forward", Fraction: float32(i+1) / float32(len(texts)), TextsDone: int64(i + 1)}
		if err := stream.Send(&interpv1.AnalyzeActivationsResponse{Event: &interpv1.AnalyzeActivationsResponse_Progress{Progress: p}}); err != nil {
			return err
		}
	}
	switch {
	case len(texts) == 0:
		if err := stream.Send(&interpv1.AnalyzeActivationsResponse{Event: &interpv1.AnalyzeActivationsResponse_Progress{Progress: &interpv1.AnalysisProgress{}}}); err != nil {
			return err
		}
		return reasonError(codes.InvalidArgument, "INPUT_EMPTY", "texts", "no texts")
	case req.GetModel() == "no-result":
		return nil
	}
	result := &interpv1.AnalyzeActivationsResponse_Result{Result: &interpv1.ActivationAnalysis{Model: req.GetModel(), TextsAnalyzed: int64(len(texts))}}
	if err := stream.Send(&interpv1.AnalyzeActivationsResponse{Event: result}); err != nil {
		return err
	}
	if req.GetModel() == "late-error" {
		return status.Error(codes.DataLoss, "the result was followed by an error")
	}
	return nil
}

func (f *fakeFleet) ReadTensors(ctx context.Context, req *interpv1.ReadTensorsRequest) (*interpv1.ReadTensorsResponse, error) {
	f.record(ctx)
	resp := &interpv1.ReadTensorsResponse{}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range req.GetObjects() {
		t, ok := f.stored[o.GetKey()]
		if !ok {
			s, _ := status.New(codes.NotFound, "gone").WithDetails(&errdetails.ErrorInfo{Reason: "OBJECT_EXPIRED", Domain: "interp.v1"})
			return nil, s.Err()
		}
		resp.Tensors = append(resp.Tensors, t)
	}
	return resp, nil
}

func (f *fakeFleet) DeleteTensors(ctx context.Context, req *interpv1.DeleteTensorsRequest) (*interpv1.DeleteTensorsResponse, error) {
	f.record(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range req.GetObjects() {
		delete(f.stored, o.GetKey())
	}
	return &interpv1.DeleteTensorsResponse{Deleted: int32(len(req.GetObjects()))}, nil
}

// startFake serves a fakeFleet in memory and dials it with opts.
func startFake(t *testing.T, opts ...Option) (*fakeFleet, *Client) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	f := &fakeFleet{attempts: map[string]int{}, stored: map[string]*interpv1.Tensor{}}
	interpv1.RegisterActivationsServiceServer(srv, f)
	interpv1.RegisterAttentionServiceServer(srv, f)
	interpv1.RegisterModelHostServiceServer(srv, f)
	interpv1.RegisterStorageServiceServer(srv, f)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	dialer := func(context.Context, string) (net.Conn, error) { return lis.Dial() }
	opts = append([]Option{WithDialOptions(grpc.WithContextDialer(dialer))}, opts...)
	c, err := Dial("bufnet", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return f, c
}

func TestClientSendsKeyAndDecodesErrors(t *testing.T) {
	f, c := startFake(t, WithAPIKey("k-test"))
	ctx := context.Background()
	a, err := c.AnalyzeAttention(ctx, "smollm2-135m", "The quick brown fox", []int32{6}, nil, nil)
	if err != nil || len(a.GetFindings()) != 1 {
		t.Fatalf("AnalyzeAttention: %v %v", a, err)
	}
	if len(f.keys) != 1 || f.keys[0] != "k-test" {
		t.Errorf("keys the server saw: %v", f.keys)
	}
	if !f.deadline {
		t.Error("no default deadline on a call without one")
	}

	// the typed stub itself fails with *Error
	_, err = c.Attention.AnalyzeAttention(ctx, &interpv1.AnalyzeAttentionRequest{Model: "smollm2-135m"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *interp.Error", err, err)
	}
	if e.Code != codes.InvalidArgument || e.Reason != "INPUT_EMPTY" || len(e.FieldViolations) != 1 || e.FieldViolations[0].Field != "text" {
		t.Errorf("decoded %+v", e)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("status.Code = %v", status.Code(err))
	}
}

func TestClientWithoutKeySendsNone(t *testing.T) {
	t.Setenv("INTERP_API_KEY", "")
	t.Setenv("INTERP_RUNTIME_DIR", t.TempDir())
	f, c := startFake(t, WithTimeout(0))
	if _, err := c.AnalyzeAttention(context.Background(), "m", "x", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(f.keys) != 0 {
		t.Errorf("sent keys %v", f.keys)
	}
	if f.deadline {
		t.Error("WithTimeout(0) still set a deadline")
	}
}

func TestClientRetriesUnavailable(t *testing.T) {
	f, c := startFake(t, WithAPIKey("k"))
	ctx := context.Background()
	resp, err := c.ModelHost.RunModel(ctx, NewRunRequest("flaky", []string{"a"}, ReturnLogits()))
	if err != nil || f.attempts["flaky"] != 3 {
		t.Fatalf("RunModel after two UNAVAILABLE: %v, %d attempts", err, f.attempts["flaky"])
	}
	x, err := c.DecodeTensor(ctx, resp.GetLogits())
	if err != nil || x.Float32s()[1] != 2 || x.DimNames[2] != "vocab" {
		t.Fatalf("logits %v %v", x, err)
	}

	// not retried when the request asks for the store: every attempt writes new objects
	f.attempts["flaky"] = 0
	_, err = c.ModelHost.RunModel(ctx, NewRunRequest("flaky", []string{"a"}, StoreDelivery()))
	if e, ok := AsError(err); !ok || e.Code != codes.Unavailable || f.attempts["flaky"] != 1 {
		t.Fatalf("store delivery: %v after %d attempts", err, f.attempts["flaky"])
	}

	f1, c1 := startFake(t, WithRetries(1))
	if _, err := c1.ModelHost.RunModel(ctx, NewRunRequest("flaky", []string{"a"})); status.Code(err) != codes.Unavailable || f1.attempts["flaky"] != 1 {
		t.Fatalf("WithRetries(1): %v after %d attempts", err, f1.attempts["flaky"])
	}
}

func TestStoredResultsReadAndDelete(t *testing.T) {
	f, c := startFake(t, WithAPIKey("k"))
	ctx := context.Background()
	resp, err := c.ModelHost.RunModel(ctx, NewRunRequest("m", []string{"a"}, ReturnLogits(), StoreDelivery()))
	if err != nil {
		t.Fatal(err)
	}
	logits := resp.GetLogits()
	if !IsStored(logits) {
		t.Fatal("logits not stored")
	}
	// passed back unchanged as a patch source
	iv := Patch("blocks.0.hook_resid_pre", logits, Sequences(0))
	if iv.GetPatch().GetSource() != logits {
		t.Error("Patch copied its source")
	}
	if _, err := c.ModelHost.RunModel(ctx, NewRunRequest("m", []string{"b"}, Intervene(iv))); err != nil {
		t.Fatal(err)
	}
	got := f.runs[len(f.runs)-1].GetInterventions()[0].GetPatch().GetSource()
	if !proto.Equal(got, logits) {
		t.Errorf("the server saw source %v, want %v", got, logits)
	}

	x, err := c.DecodeTensor(ctx, logits)
	if err != nil || x.Float32s()[2] != -1 {
		t.Fatalf("DecodeTensor of a reference: %v %v", x, err)
	}
	refs, _ := Refs(logits)
	described, err := c.DescribeRef(ctx, refs[0])
	if err != nil || !proto.Equal(described, logits) {
		t.Fatalf("DescribeRef = %v, %v", described, err)
	}
	n, err := c.DeleteTensors(ctx, refs)
	if err != nil || n != 1 {
		t.Fatalf("DeleteTensors: %d %v", n, err)
	}
	_, err = c.ReadTensors(ctx, refs)
	if e, ok := AsError(err); !ok || e.Code != codes.NotFound || e.Reason != "OBJECT_EXPIRED" {
		t.Fatalf("reading a deleted tensor: %v", err)
	}
}

func TestStreamsCarryKeyAndTypedErrors(t *testing.T) {
	f, c := startFake(t, WithAPIKey("k-stream"))
	ctx := context.Background()
	stream, err := c.ModelHost.Generate(ctx, &interpv1.GenerateRequest{Model: "m", Input: &interpv1.GenerateRequest_Text{Text: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	var events int
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events++
	}
	if events != 3 || len(f.keys) != 1 || f.keys[0] != "k-stream" {
		t.Fatalf("%d events, keys %v", events, f.keys)
	}

	stream, err = c.ModelHost.Generate(ctx, &interpv1.GenerateRequest{Model: "m", MaxNewTokens: 9})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err = stream.Recv()
		if err != nil {
			break
		}
	}
	if e, ok := AsError(err); !ok || e.Reason != "MAX_NEW_TOKENS_OUT_OF_RANGE" {
		t.Fatalf("stream error %T %v", err, err)
	}
}

func TestFinalResultReportsProgressAndReturnsTheResult(t *testing.T) {
	_, c := startFake(t, WithAPIKey("k"))
	ctx := context.Background()
	analyze := func(model string, texts ...string) (*interpv1.ActivationAnalysis, []float32, error) {
		t.Helper()
		stream, err := c.Activations.AnalyzeActivations(ctx, &interpv1.AnalyzeActivationsRequest{Model: model, Texts: &interpv1.TextBatch{Texts: texts}})
		if err != nil {
			t.Fatal(err)
		}
		var fractions []float32
		r, err := FinalResult(stream.Recv, (*interpv1.AnalyzeActivationsResponse).GetResult, func(ev *interpv1.AnalyzeActivationsResponse) {
			fractions = append(fractions, ev.GetProgress().GetFraction())
		})
		return r, fractions, err
	}

	r, fractions, err := analyze("m", "a", "b", "c", "d")
	if err != nil || r.GetModel() != "m" || r.GetTextsAnalyzed() != 4 {
		t.Fatalf("result %v, %v", r, err)
	}
	if want := []float32{0.25, 0.5, 0.75, 1}; !reflect.DeepEqual(fractions, want) {
		t.Errorf("progress %v, want %v", fractions, want)
	}

	// the server's error, after the progress it sent, as an *Error
	r, fractions, err = analyze("m")
	if e, ok := AsError(err); !ok || r != nil || e.Code != codes.InvalidArgument || e.Reason != "INPUT_EMPTY" || len(fractions) != 1 {
		t.Fatalf("no texts: %v, %v after %d events", r, err, len(fractions))
	}

	// no result: UNAVAILABLE, as the Python and TypeScript SDKs say
	r, fractions, err = analyze("no-result", "a", "b")
	if e, ok := AsError(err); !ok || r != nil || e.Code != codes.Unavailable || !e.HasReason(interpv1.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE) || len(fractions) != 2 {
		t.Fatalf("no result: %v, %v after %d events", r, err, len(fractions))
	}

	// the stream is read to its end after the result: an error there is not lost
	if r, _, err = analyze("late-error", "a"); status.Code(err) != codes.DataLoss || r != nil {
		t.Fatalf("an error after the result: %v, %v", r, err)
	}

	// Generate's tokens are its progress; a nil onProgress ignores them
	stream, err := c.ModelHost.Generate(ctx, &interpv1.GenerateRequest{Model: "m", MaxNewTokens: 2})
	if err != nil {
		t.Fatal(err)
	}
	g, err := FinalResult(stream.Recv, (*interpv1.GenerateResponse).GetResult, nil)
	if err != nil || g.GetText() != "ab" {
		t.Fatalf("Generate: %v, %v", g, err)
	}
}

func TestHealth(t *testing.T) {
	_, c := startFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Health(ctx, "")
	if err != nil || s != "SERVING" {
		t.Fatalf("Health = %q, %v", s, err)
	}
}

func TestStoresResults(t *testing.T) {
	cases := map[string]struct {
		msg  proto.Message
		want bool
	}{
		"run inline":    {NewRunRequest("m", nil, InlineDelivery()), false},
		"run store":     {NewRunRequest("m", nil, StoreDelivery()), true},
		"attention":     {&interpv1.AnalyzeAttentionRequest{Options: &interpv1.AttentionOptions{Delivery: interpv1.ResultDelivery_RESULT_DELIVERY_OBJECT_STORE}}, true},
		"attention def": {&interpv1.AnalyzeAttentionRequest{Options: &interpv1.AttentionOptions{IncludePatterns: true}}, false},
		"list models":   {&interpv1.ListModelsRequest{}, false},
	}
	for name, c := range cases {
		if got := storesResults(c.msg.ProtoReflect(), 0); got != c.want {
			t.Errorf("%s: storesResults = %v", name, got)
		}
	}
}

func TestBuilders(t *testing.T) {
	iv := ZeroAblate("blocks.2.attn.hook_z", Heads(1, 3), Positions(4), Sequences(0), Neurons(7))
	if iv.GetZeroAblation() == nil || iv.GetHookSite() != "blocks.2.attn.hook_z" || len(iv.GetHeads()) != 2 || iv.GetPositions()[0] != 4 || iv.GetNeurons()[0] != 7 {
		t.Errorf("ZeroAblate: %v", iv)
	}
	vec, _ := Float32Tensor([]int64{2}, []float32{1, 2})
	st := Steer("blocks.3.hook_resid_post", vec, 4)
	if st.GetSteering().GetScale() != 4 || st.GetSteering().GetVector() != vec {
		t.Errorf("Steer: %v", st)
	}
	p := Patch("blocks.1.hook_resid_pre", nil, SourceSequences(1), Sequences(0), Keep(0.5))
	if p.GetPatch().GetSource() != nil || p.GetPatch().GetKeep() != 0.5 || p.GetSourceSequences()[0] != 1 {
		t.Errorf("Patch from sequences: %v", p)
	}
	e := EdgePatch("blocks.2.hook_q_input", []*interpv1.EdgeSender{Sender("blocks.0.attn.hook_result", 3)}, []int32{1}, false)
	if e.GetEdgePatch().GetSenders()[0].GetHeads()[0] != 3 || e.GetSourceSequences()[0] != 1 {
		t.Errorf("EdgePatch: %v", e)
	}
	if Scale("s", 0.5, KeyPositions(0)).GetScale().GetFactor() != 0.5 || Noise("s", 0.1, 7).GetNoise().GetSeed() != 7 {
		t.Error("Scale/Noise")
	}
	if MeanAblateOver("s", []string{"a"}).GetMeanAblation().GetReferenceTexts().GetTexts()[0] != "a" || MeanAblate("s", nil).GetMeanAblation() == nil {
		t.Error("MeanAblate")
	}
	m := LogitDifference([]int64{5}, []int64{6}, -1)
	if m.GetLogitDifference().GetCorrectTokenIds()[0] != 5 || m.GetLogitDifference().GetPositions()[0] != -1 {
		t.Errorf("LogitDifference: %v", m)
	}
	if TokenScore([]int64{1}, Logit).GetToken().GetKind() != interpv1.ScoreKind_SCORE_KIND_LOGIT {
		t.Error("TokenScore")
	}
	req := NewRunRequest("m", []string{"a", "b"}, Capture("x", "y"), TopK(5), ReturnLogits(), WithMetric(m), Gradients("hook_embed"), MaxInlineBytes(10), Pool(1, 2, 3), WithLogitLens(3, "z"))
	if len(req.GetCapture()) != 2 || req.GetTopK() != 5 || !req.GetReturnLogits() || req.GetMetric() != m || req.GetGradients()[0] != "hook_embed" ||
		req.GetMaxInlineBytes() != 10 || req.GetCapturePooling().GetPools()[0].GetSequence() != 1 || req.GetLogitLens().GetTopK() != 3 || len(req.GetTexts().GetTexts()) != 2 {
		t.Errorf("NewRunRequest: %v", req)
	}
	tr := NewRunRequestTokens("m", [][]int64{{1, 2}})
	if tr.GetTokens().GetSequences()[0].GetIds()[1] != 2 {
		t.Errorf("NewRunRequestTokens: %v", tr)
	}
}

func TestAPIKeyResolution(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("INTERP_RUNTIME_DIR", dir)
	t.Setenv("INTERP_API_KEY", "")
	if err := os.WriteFile(filepath.Join(dir, "fleet-50999.json"), []byte(`{"api_key": "published"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if k := ResolveAPIKey("127.0.0.1:50999"); k != "published" {
		t.Errorf("loopback: %q", k)
	}
	if k := ResolveAPIKey("example.com:50999"); k != "" {
		t.Errorf("remote endpoint read the runtime file: %q", k)
	}
	if k := ResolveAPIKey("localhost:50998"); k != "" {
		t.Errorf("no file: %q", k)
	}
	t.Setenv("INTERP_API_KEY", "from-env")
	if k := ResolveAPIKey("127.0.0.1:50999"); k != "from-env" {
		t.Errorf("env: %q", k)
	}
	c, err := Dial("127.0.0.1:50999", WithAPIKey(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.APIKey() != "" || c.TLS() {
		t.Errorf("explicit empty key: %q, tls %v", c.APIKey(), c.TLS())
	}
	if _, err := Dial(""); err == nil {
		t.Error("Dial of an empty endpoint")
	}
	if _, err := Dial("h:1", WithCAFile(filepath.Join(dir, "missing.pem"))); err == nil {
		t.Error("Dial with a missing CA file")
	}
	t.Setenv("INTERP_TLS", "true")
	c2, err := Dial("h:1")
	if err != nil || !c2.TLS() {
		t.Fatalf("INTERP_TLS: %v %v", c2, err)
	}
	_ = c2.Close()
}
