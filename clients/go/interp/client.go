// Package interp is the Go SDK of the interp-suite fleet: a connection to the gateway with the
// API key sent on every call, the typed gRPC clients of every service (generated in
// github.com/interp-suite/interp-suite/clients/go/gen/interp/v1), typed errors carrying the
// server's reason, tensor decoding, and builders for interventions, metrics and run requests.
//
//	c, err := interp.Dial("127.0.0.1:50051") // key: WithAPIKey, $INTERP_API_KEY or a local fleet's
//	if err != nil { ... }
//	defer c.Close()
//	resp, err := c.Attention.AnalyzeAttention(ctx, &interpv1.AnalyzeAttentionRequest{
//		Model: "smollm2-135m", Text: "The quick brown fox",
//	})
//	if e, ok := interp.AsError(err); ok { fmt.Println(e.Code, e.Reason) }
package interp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

const (
	// DefaultEndpoint is where `interp serve` listens by default.
	DefaultEndpoint = "127.0.0.1:50051"
	// DefaultTimeout is the deadline of a call whose context has none.
	DefaultTimeout = 300 * time.Second
	// DefaultRetries is the number of attempts of a call that fails with UNAVAILABLE.
	DefaultRetries = 3
	// DefaultMaxMessageBytes bounds sent and received messages (grpc's own default is 4 MiB).
	DefaultMaxMessageBytes = 64 << 20
	// APIKeyHeader is the metadata key the API key travels in.
	APIKeyHeader = "x-api-key"
)

// Client is a connection to the gateway. Its fields are the generated clients of every service;
// calls through them carry the API key, get the default deadline when their context has none,
// are retried on UNAVAILABLE when they may be, and fail with *Error.
type Client struct {
	// Conn is the underlying connection.
	Conn *grpc.ClientConn
	// ModelHost loads models, tokenizes, runs forward passes with captures and interventions,
	// and generates.
	ModelHost interpv1.ModelHostServiceClient
	// Attention analyzes and compares attention patterns.
	Attention interpv1.AttentionServiceClient
	// Attribution explains predictions with Captum's methods.
	Attribution interpv1.AttributionServiceClient
	// Activations computes dataset-scale neuron statistics, concept neurons and the logit lens.
	Activations interpv1.ActivationsServiceClient
	// Probing trains probes and compares representations.
	Probing interpv1.ProbingServiceClient
	// Circuits finds circuits: patching, EAP, ACDC, causal tracing, head detectors.
	Circuits interpv1.CircuitsServiceClient
	// Storage reads and deletes the caller's stored tensors.
	Storage interpv1.StorageServiceClient

	endpoint string
	cfg      config
	health   healthpb.HealthClient
}

type config struct {
	apiKey          string
	apiKeySet       bool
	tls             bool
	tlsSet          bool
	caFile          string
	tlsConfig       *tls.Config
	timeout         time.Duration
	retries         int
	maxMessageBytes int
	dialOptions     []grpc.DialOption
}

// Option configures Dial.
type Option func(*config)

// WithAPIKey sets the key sent as x-api-key. Without it: $INTERP_API_KEY, then, for a loopback
// endpoint, the key a local `interp serve` published in its runtime file. An empty key sends
// none.
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey, c.apiKeySet = key, true }
}

// WithTLS connects over TLS with the system's roots (e.g. through the Helm chart's Ingress).
// Without it: $INTERP_TLS ("1", "true", "yes"), or when a CA file is given.
func WithTLS(on bool) Option {
	return func(c *config) { c.tls, c.tlsSet = on, true }
}

// WithCAFile connects over TLS trusting the certificate authorities in a PEM file (default
// $INTERP_CA_FILE; the system's roots when neither is set).
func WithCAFile(path string) Option {
	return func(c *config) { c.caFile = path }
}

// WithTLSConfig connects over TLS with a configuration of your own (client certificates, ...).
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *config) { c.tlsConfig, c.tls, c.tlsSet = cfg, true, true }
}

// WithTimeout sets the deadline of calls whose context has none (default 300 s; 0: none). For a
// streaming call it bounds the whole stream.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithRetries sets the attempts of a call that fails with UNAVAILABLE (default 3; 1: no retry).
// A call that asks for RESULT_DELIVERY_OBJECT_STORE anywhere in its request is tried once: each
// attempt writes new objects, and a retry after a lost reply would leave some the caller never
// hears of. Streaming calls are not retried.
func WithRetries(n int) Option {
	return func(c *config) { c.retries = n }
}

// WithMaxMessageBytes bounds sent and received messages (default 64 MiB).
func WithMaxMessageBytes(n int) Option {
	return func(c *config) { c.maxMessageBytes = n }
}

// WithDialOptions adds grpc dial options (after the SDK's own).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOptions = append(c.dialOptions, opts...) }
}

// Dial connects to the gateway at endpoint ("host:port"). It does not wait for the connection:
// the first call does.
func Dial(endpoint string, opts ...Option) (*Client, error) {
	if endpoint == "" {
		return nil, errors.New("interp: empty endpoint")
	}
	cfg := config{timeout: DefaultTimeout, retries: DefaultRetries, maxMessageBytes: DefaultMaxMessageBytes}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if !cfg.apiKeySet {
		cfg.apiKey = ResolveAPIKey(endpoint)
	}
	if cfg.caFile == "" {
		cfg.caFile = os.Getenv("INTERP_CA_FILE")
	}
	if !cfg.tlsSet {
		v := strings.ToLower(os.Getenv("INTERP_TLS"))
		cfg.tls = cfg.caFile != "" || v == "1" || v == "true" || v == "yes"
	}
	if cfg.retries < 1 {
		cfg.retries = 1
	}
	c := &Client{endpoint: endpoint, cfg: cfg}

	dialOpts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.ForceCodec(codec{}),
			grpc.MaxCallRecvMsgSize(cfg.maxMessageBytes),
			grpc.MaxCallSendMsgSize(cfg.maxMessageBytes),
		),
		grpc.WithChainUnaryInterceptor(c.unaryInterceptor),
		grpc.WithChainStreamInterceptor(c.streamInterceptor),
	}
	if cfg.tls {
		tc := cfg.tlsConfig
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			tc = tc.Clone()
		}
		if cfg.caFile != "" {
			pem, err := os.ReadFile(cfg.caFile)
			if err != nil {
				return nil, fmt.Errorf("interp: CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("interp: CA file %s holds no PEM certificate", cfg.caFile)
			}
			tc.RootCAs = pool
		}
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		dialOpts = append(dialOpts, grpc.WithInsecure())
	}
	dialOpts = append(dialOpts, cfg.dialOptions...)

	conn, err := grpc.Dial(endpoint, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("interp: dial %s: %w", endpoint, err)
	}
	c.Conn = conn
	c.ModelHost = interpv1.NewModelHostServiceClient(conn)
	c.Attention = interpv1.NewAttentionServiceClient(conn)
	c.Attribution = interpv1.NewAttributionServiceClient(conn)
	c.Activations = interpv1.NewActivationsServiceClient(conn)
	c.Probing = interpv1.NewProbingServiceClient(conn)
	c.Circuits = interpv1.NewCircuitsServiceClient(conn)
	c.Storage = interpv1.NewStorageServiceClient(conn)
	c.health = healthpb.NewHealthClient(conn)
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

// Endpoint is the address the client was dialed with.
func (c *Client) Endpoint() string { return c.endpoint }

// APIKey is the key the client sends ("" when none).
func (c *Client) APIKey() string { return c.cfg.apiKey }

// TLS reports whether the client connects over TLS.
func (c *Client) TLS() bool { return c.cfg.tls }

func (c *Client) outgoing(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.cfg.apiKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, APIKeyHeader, c.cfg.apiKey)
	}
	if _, ok := ctx.Deadline(); !ok && c.cfg.timeout > 0 {
		return context.WithTimeout(ctx, c.cfg.timeout)
	}
	return ctx, func() {}
}

func (c *Client) unaryInterceptor(ctx context.Context, method string, req, reply interface{}, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, cancel := c.outgoing(ctx)
	defer cancel()
	attempts := c.cfg.retries
	if m, ok := req.(protoreflect.ProtoMessage); ok && storesResults(m.ProtoReflect(), 0) {
		attempts = 1
	}
	for attempt := 0; ; attempt++ {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil {
			return nil
		}
		wrapped := wrapError(err)
		var e *Error
		if attempt+1 >= attempts || !errors.As(wrapped, &e) || e.Code != codes.Unavailable {
			return wrapped
		}
		backoff := time.Duration(float64(200*time.Millisecond) * float64(int(1)<<attempt) * (0.5 + rand.Float64()))
		if backoff > 2*time.Second {
			backoff = 2 * time.Second
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return wrapped
		case <-t.C:
		}
	}
}

func (c *Client) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, cancel := c.outgoing(ctx)
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, wrapError(err)
	}
	return &clientStream{ClientStream: s, cancel: cancel}, nil
}

// clientStream turns a stream's errors into *Error and releases its deadline when it ends.
type clientStream struct {
	grpc.ClientStream
	cancel context.CancelFunc
}

func (s *clientStream) RecvMsg(m interface{}) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.cancel()
		if isEOF(err) {
			return err
		}
		return wrapError(err)
	}
	return nil
}

func (s *clientStream) SendMsg(m interface{}) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil && !isEOF(err) {
		return wrapError(err)
	}
	return err
}

func (s *clientStream) CloseSend() error { return wrapError(s.ClientStream.CloseSend()) }

func (s *clientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, wrapError(err)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// storesResults reports whether a request asks for RESULT_DELIVERY_OBJECT_STORE in any of its
// (nested, singular) fields.
func storesResults(m protoreflect.Message, depth int) bool {
	if depth > 4 {
		return false
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() || fd.IsMap():
		case fd.Kind() == protoreflect.EnumKind && fd.Enum().FullName() == "interp.v1.ResultDelivery":
			found = v.Enum() == protoreflect.EnumNumber(interpv1.ResultDelivery_RESULT_DELIVERY_OBJECT_STORE)
		case fd.Kind() == protoreflect.MessageKind:
			found = storesResults(v.Message(), depth+1)
		}
		return !found
	})
	return found
}

// Health is the standard gRPC health status of the endpoint (or of one service):
// "SERVING", "NOT_SERVING", ...
func (c *Client) Health(ctx context.Context, service string) (string, error) {
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return "", err
	}
	return resp.GetStatus().String(), nil
}

// ReadTensors reads stored tensors through StorageService and decodes them, in order.
func (c *Client) ReadTensors(ctx context.Context, refs []*interpv1.ObjectRef) ([]*Tensor, error) {
	protos, err := c.ReadTensorProtos(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make([]*Tensor, len(protos))
	for i, p := range protos {
		if out[i], err = DecodeTensor(p); err != nil {
			return nil, fmt.Errorf("interp: stored tensor %d: %w", i, err)
		}
	}
	return out, nil
}

// ReadTensorProtos reads stored tensors as inline interpv1.Tensors (raw bytes), in order.
func (c *Client) ReadTensorProtos(ctx context.Context, refs []*interpv1.ObjectRef) ([]*interpv1.Tensor, error) {
	resp, err := c.Storage.ReadTensors(ctx, &interpv1.ReadTensorsRequest{Objects: refs})
	if err != nil {
		return nil, err
	}
	if len(resp.GetTensors()) != len(refs) {
		return nil, fmt.Errorf("interp: asked for %d stored tensors, got %d", len(refs), len(resp.GetTensors()))
	}
	return resp.GetTensors(), nil
}

// DeleteTensors deletes stored tensors now instead of at the store's time-to-live; it returns
// how many were removed or already gone.
func (c *Client) DeleteTensors(ctx context.Context, refs []*interpv1.ObjectRef) (int32, error) {
	resp, err := c.Storage.DeleteTensors(ctx, &interpv1.DeleteTensorsRequest{Objects: refs})
	if err != nil {
		return 0, err
	}
	return resp.GetDeleted(), nil
}

// DecodeTensor decodes a returned tensor, reading it from the store when it is a reference.
func (c *Client) DecodeTensor(ctx context.Context, t *interpv1.Tensor) (*Tensor, error) {
	ref := t.GetObject()
	if ref == nil {
		return DecodeTensor(t)
	}
	ts, err := c.ReadTensors(ctx, []*interpv1.ObjectRef{ref})
	if err != nil {
		return nil, err
	}
	if len(t.GetDimNames()) == len(ts[0].Shape) && len(ts[0].DimNames) == 0 {
		ts[0].DimNames = append([]string(nil), t.GetDimNames()...)
	}
	return ts[0], nil
}

// DescribeRef is a bare object reference as the Tensor message services take (data type and
// shape, which the services check, with the reference itself unchanged), learned by reading the
// object once. A Tensor a service returned already has them: pass that instead.
func (c *Client) DescribeRef(ctx context.Context, ref *interpv1.ObjectRef) (*interpv1.Tensor, error) {
	ts, err := c.ReadTensorProtos(ctx, []*interpv1.ObjectRef{ref})
	if err != nil {
		return nil, err
	}
	return StoredTensor(ref, ts[0].GetDtype(), ts[0].GetShape(), ts[0].GetDimNames()...), nil
}

// AnalyzeAttention analyzes the attention of one text (no layers or heads: all of them).
func (c *Client) AnalyzeAttention(ctx context.Context, model, text string, layers, heads []int32, opts *interpv1.AttentionOptions) (*interpv1.AttentionAnalysis, error) {
	resp, err := c.Attention.AnalyzeAttention(ctx, &interpv1.AnalyzeAttentionRequest{
		Model:     model,
		Text:      text,
		Selection: &interpv1.LayerHeadSelection{Layers: layers, Heads: heads},
		Options:   opts,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetAnalysis(), nil
}

// ListModels lists the models the fleet can serve.
func (c *Client) ListModels(ctx context.Context) ([]*interpv1.ModelSummary, error) {
	resp, err := c.ModelHost.ListModels(ctx, &interpv1.ListModelsRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetModels(), nil
}

// ModelInfo describes a model (loading it if needed): layers, heads, hook sites.
func (c *Client) ModelInfo(ctx context.Context, model string) (*interpv1.ModelInfo, error) {
	resp, err := c.ModelHost.GetModelInfo(ctx, &interpv1.GetModelInfoRequest{Model: model})
	if err != nil {
		return nil, err
	}
	return resp.GetInfo(), nil
}

// loopback hosts whose runtime file a local fleet may have written.
var loopback = map[string]bool{"127.0.0.1": true, "localhost": true, "::1": true, "[::1]": true}

// RuntimeDir is where a local `interp serve` writes its runtime files: $INTERP_RUNTIME_DIR, or
// ~/.local/share/interp-suite/runtime.
func RuntimeDir() string {
	if d := os.Getenv("INTERP_RUNTIME_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".local", "share", "interp-suite", "runtime")
}

// LocalFleetKey is the key a local fleet on a loopback endpoint published in
// RuntimeDir()/fleet-<port>.json ("" when there is none).
func LocalFleetKey(endpoint string) string {
	i := strings.LastIndex(endpoint, ":")
	if i < 0 || !loopback[endpoint[:i]] {
		return ""
	}
	port, err := strconv.Atoi(endpoint[i+1:])
	if err != nil || port < 0 || strconv.Itoa(port) != endpoint[i+1:] {
		return ""
	}
	dir := RuntimeDir()
	if dir == "" {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("fleet-%d.json", port)))
	if err != nil {
		return ""
	}
	var doc struct {
		APIKey string `json:"api_key"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return ""
	}
	return doc.APIKey
}

// ResolveAPIKey is the key Dial sends when WithAPIKey is not given: $INTERP_API_KEY, then the
// local fleet's runtime file (loopback endpoints only).
func ResolveAPIKey(endpoint string) string {
	if k := os.Getenv("INTERP_API_KEY"); k != "" {
		return k
	}
	return LocalFleetKey(endpoint)
}
