// Command attention analyzes the attention of one text with AttentionService.AnalyzeAttention
// and prints the key findings, the strongest token-to-token links, the head roles and a
// layer-wise summary.
//
//	go run ./examples/attention -endpoint 127.0.0.1:50051 -text "The quick brown fox" -layers 6,7
//
// Exit status: 0 on success, 1 when the fleet refuses the call (the message names the reason,
// e.g. "INVALID_ARGUMENT (LAYER_OUT_OF_RANGE): ..."), 2 for a bad flag.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
	"github.com/interp-suite/interp-suite/clients/go/interp"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("attention", flag.ContinueOnError)
	conn := interp.RegisterFlags(fs)
	model := fs.String("model", "smollm2-135m", "model name")
	text := fs.String("text", "The quick brown fox jumps over the lazy dog. The quick brown fox", "input text")
	layers := fs.String("layers", "", "layers to analyze, e.g. 6,7 or 6-8 (empty: all)")
	heads := fs.String("heads", "", "heads to analyze (empty: all)")
	topLinks := fs.Int("top-links", 0, "hotspot links to return (0: the server's default)")
	maxHotspots := fs.Int("max-hotspots", 5, "hotspots to print")
	maxRoles := fs.Int("max-roles", 10, "head roles to print (strongest first)")
	asJSON := fs.Bool("json", false, "print the whole analysis as protobuf JSON instead")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	layerList, err := parseIndices(*layers)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: -layers: %v\n", err)
		return 2
	}
	headList, err := parseIndices(*heads)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: -heads: %v\n", err)
		return 2
	}

	c, err := conn.Dial()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return 1
	}
	defer c.Close()

	a, err := c.AnalyzeAttention(context.Background(), *model, *text, layerList, headList,
		&interpv1.AttentionOptions{TopKLinks: int32(*topLinks)})
	if err != nil {
		printError(err)
		return 1
	}
	if *asJSON {
		b, err := protojson.MarshalOptions{Multiline: true}.Marshal(a)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
			return 1
		}
		fmt.Println(string(b))
		return 0
	}
	fmt.Print(summary(a, *maxHotspots, *maxRoles))
	return 0
}

func printError(err error) {
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	if e, ok := interp.AsError(err); ok {
		for _, v := range e.FieldViolations {
			fmt.Fprintf(os.Stderr, "  %s: %s\n", v.Field, v.Description)
		}
	}
}

// parseIndices reads "6,7", "6-8" or "" (none).
func parseIndices(s string) ([]int32, error) {
	var out []int32
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" || part == "all" {
			continue
		}
		lo, hi := part, part
		if i := strings.Index(part, "-"); i > 0 {
			lo, hi = part[:i], part[i+1:]
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || b < a {
			return nil, fmt.Errorf("%q is not a number or a range like 2-5", part)
		}
		for i := a; i <= b; i++ {
			out = append(out, int32(i))
		}
	}
	return out, nil
}

// roleName is "previous-token" for HEAD_ROLE_PREVIOUS_TOKEN.
func roleName(r interpv1.HeadRole) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(r.String(), "HEAD_ROLE_")), "_", "-")
}

func summary(a *interpv1.AttentionAnalysis, maxHotspots, maxRoles int) string {
	var b strings.Builder
	kind := "bidirectional"
	if a.GetCausal() {
		kind = "causal"
	}
	layerSet := map[int32]bool{}
	for _, h := range a.GetHeads() {
		layerSet[h.GetLayer()] = true
	}
	var layers []string
	for _, s := range a.GetLayers() {
		if layerSet[s.GetLayer()] {
			layers = append(layers, strconv.Itoa(int(s.GetLayer())))
		}
	}
	fmt.Fprintf(&b, "Attention Analysis Results\n")
	fmt.Fprintf(&b, "Model: %s (%s, %d layers x %d heads)\n", a.GetModel(), kind, a.GetNumLayers(), a.GetNumHeads())
	fmt.Fprintf(&b, "Input: %q (%d tokens)\n", a.GetText(), len(a.GetTokens()))
	fmt.Fprintf(&b, "Analyzed: layers %s; %d heads\n\n", strings.Join(layers, ","), len(a.GetHeads()))

	fmt.Fprintf(&b, "Key Findings:\n")
	if len(a.GetFindings()) == 0 {
		fmt.Fprintf(&b, "  (none)\n")
	}
	for _, f := range a.GetFindings() {
		fmt.Fprintf(&b, "  - %s\n", f)
	}

	fmt.Fprintf(&b, "\nAttention Hotspots (query attends to key):\n")
	for i, k := range a.GetHotspots() {
		if i >= maxHotspots {
			break
		}
		fmt.Fprintf(&b, "  - \"%s\" -> \"%s\": %.2f (L%d H%d)\n", k.GetQueryToken(), k.GetKeyToken(), k.GetWeight(), k.GetLayer(), k.GetHead())
	}

	heads := append([]*interpv1.HeadAnalysis(nil), a.GetHeads()...)
	sort.SliceStable(heads, func(i, j int) bool { return heads[i].GetRoleScore() > heads[j].GetRoleScore() })
	fmt.Fprintf(&b, "\nHead Roles (strongest first):\n")
	shown := 0
	for _, h := range heads {
		if shown >= maxRoles {
			break
		}
		if h.GetRole() == interpv1.HeadRole_HEAD_ROLE_MIXED || h.GetRole() == interpv1.HeadRole_HEAD_ROLE_UNSPECIFIED {
			continue
		}
		line := fmt.Sprintf("  - L%d H%d: %s (%.2f), entropy %.2f nats", h.GetLayer(), h.GetHead(), roleName(h.GetRole()), h.GetRoleScore(), h.GetEntropy())
		if beyond := h.GetRoleBeyondSink(); beyond != h.GetRole() && beyond != interpv1.HeadRole_HEAD_ROLE_UNSPECIFIED && beyond != interpv1.HeadRole_HEAD_ROLE_MIXED {
			line += fmt.Sprintf("; beyond the sink: %s (%.2f)", roleName(h.GetRoleBeyondSink()), h.GetRoleBeyondSinkScore())
		}
		fmt.Fprintln(&b, line)
		shown++
	}
	if shown == 0 {
		fmt.Fprintf(&b, "  (every analyzed head is mixed)\n")
	}

	fmt.Fprintf(&b, "\nLayer-wise Patterns:\n")
	for _, s := range a.GetLayers() {
		var counts []string
		for _, rc := range s.GetRoleCounts() {
			counts = append(counts, fmt.Sprintf("%d %s", rc.GetCount(), roleName(rc.GetRole())))
		}
		fmt.Fprintf(&b, "  - Layer %d: mostly %s heads (%s), mean entropy %.2f nats, mean distance %.1f tokens\n",
			s.GetLayer(), roleName(s.GetDominantRole()), strings.Join(counts, ", "), s.GetMeanEntropy(), s.GetMeanAttentionDistance())
	}
	return b.String()
}
