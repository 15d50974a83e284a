package interp

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

func rawTensor(d interpv1.DataType, shape []int64, raw []byte, dims ...string) *interpv1.Tensor {
	return &interpv1.Tensor{Dtype: d, Shape: shape, DimNames: dims, Data: &interpv1.Tensor_Raw{Raw: raw}}
}

func u16le(vals ...uint16) []byte {
	b := make([]byte, 2*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func sameFloat(a, b float32) bool {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return math.IsNaN(float64(a)) && math.IsNaN(float64(b))
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

func TestFloat16BitPatterns(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0},
		{0x8000, float32(math.Copysign(0, -1))},
		{0x3C00, 1},
		{0xBC00, -1},
		{0xC000, -2},
		{0x3800, 0.5},
		{0x3555, 0.333251953125},
		{0x7BFF, 65504},                          // largest normal
		{0x0400, float32(math.Ldexp(1, -14))},    // smallest normal
		{0x03FF, float32(math.Ldexp(1023, -24))}, // largest subnormal
		{0x0001, float32(math.Ldexp(1, -24))},    // smallest subnormal
		{0x8001, -float32(math.Ldexp(1, -24))},   // negative subnormal
		{0x0200, float32(math.Ldexp(1, -15))},    // subnormal, one bit
		{0x7C00, float32(math.Inf(1))},           // +inf
		{0xFC00, float32(math.Inf(-1))},          // -inf
		{0x7E00, float32(math.NaN())},            // quiet NaN
		{0x4248, 3.140625},                       // pi, rounded
		{0x5640, 100},
	}
	for _, c := range cases {
		if got := Float16ToFloat32(c.bits); !sameFloat(got, c.want) {
			t.Errorf("Float16ToFloat32(%#04x) = %v (%#08x), want %v (%#08x)", c.bits, got, math.Float32bits(got), c.want, math.Float32bits(c.want))
		}
	}
	// Every finite half converts to a float32 that rounds back to the same half exactly: check
	// monotonicity over all positive finite patterns instead of a reference implementation.
	prev := float32(-1)
	for h := uint16(0); h < 0x7C00; h++ {
		v := Float16ToFloat32(h)
		if !(v > prev) {
			t.Fatalf("half %#04x -> %v is not above the previous pattern's %v", h, v, prev)
		}
		if Float16ToFloat32(h|0x8000) != -v {
			t.Fatalf("half %#04x: sign bit does not negate", h)
		}
		prev = v
	}
}

func TestBFloat16BitPatterns(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0},
		{0x3F80, 1},
		{0xBF80, -1},
		{0x4049, 3.140625},
		{0xC049, -3.140625},
		{0x3E80, 0.25},
		{0x7F7F, math.Float32frombits(0x7F7F0000)}, // largest finite
		{0x0001, math.Float32frombits(0x00010000)}, // a float32 subnormal
		{0x7F80, float32(math.Inf(1))},
		{0xFF80, float32(math.Inf(-1))},
		{0x7FC0, float32(math.NaN())},
	}
	for _, c := range cases {
		if got := BFloat16ToFloat32(c.bits); !sameFloat(got, c.want) {
			t.Errorf("BFloat16ToFloat32(%#04x) = %v, want %v", c.bits, got, c.want)
		}
	}
}

func TestDecodeFloat16Tensor(t *testing.T) {
	msg := rawTensor(interpv1.DataType_DATA_TYPE_FLOAT16, []int64{2, 3}, u16le(0x3C00, 0xC000, 0x3800, 0x0001, 0x7BFF, 0xFC00), "row", "col")
	x, err := DecodeTensor(msg)
	if err != nil {
		t.Fatal(err)
	}
	if x.DType != "float16" || x.DataType() != interpv1.DataType_DATA_TYPE_FLOAT16 || x.Len() != 6 {
		t.Fatalf("header: %+v", x)
	}
	want := []float32{1, -2, 0.5, float32(math.Ldexp(1, -24)), 65504, float32(math.Inf(-1))}
	got := x.Float32s()
	for i := range want {
		if !sameFloat(got[i], want[i]) {
			t.Errorf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
	if f64 := x.Float64s(); f64[1] != -2 || f64[4] != 65504 {
		t.Errorf("Float64s = %v", f64)
	}
	if off, err := x.Offset(1, -1); err != nil || off != 5 {
		t.Errorf("Offset(1, -1) = %d, %v", off, err)
	}
	if _, err := x.Offset(2, 0); err == nil {
		t.Error("Offset(2, 0) out of range: no error")
	}
	if _, err := x.Int64s(); err == nil {
		t.Error("Int64s of a float tensor: no error")
	}
	if len(x.DimNames) != 2 || x.DimNames[1] != "col" {
		t.Errorf("dim names %v", x.DimNames)
	}
}

func TestDecodeBFloat16Tensor(t *testing.T) {
	x, err := DecodeTensor(rawTensor(interpv1.DataType_DATA_TYPE_BFLOAT16, []int64{3}, u16le(0x3F80, 0xC049, 0x7F80)))
	if err != nil {
		t.Fatal(err)
	}
	got := x.Float32s()
	want := []float32{1, -3.140625, float32(math.Inf(1))}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
	if x.DType != "bfloat16" {
		t.Errorf("dtype %q", x.DType)
	}
}

func TestDecodeOtherTypes(t *testing.T) {
	f32, _ := Float32Tensor([]int64{2}, []float32{1.5, -0.25})
	x, err := DecodeTensor(f32)
	if err != nil || x.Float32s()[0] != 1.5 || x.Float32s()[1] != -0.25 || x.DType != "float32" {
		t.Fatalf("float32: %v %v", x, err)
	}

	f64, _ := Float64Tensor([]int64{1, 2}, []float64{math.Pi, 1e300})
	x, err = DecodeTensor(f64)
	if err != nil || x.Float64s()[0] != math.Pi || x.Float64s()[1] != 1e300 {
		t.Fatalf("float64: %v %v", x, err)
	}

	i64, _ := Int64Tensor([]int64{3}, []int64{-1, 49151, 1 << 40})
	x, err = DecodeTensor(i64)
	ints, ierr := x.Int64s()
	if err != nil || ierr != nil || ints[0] != -1 || ints[1] != 49151 || ints[2] != 1<<40 {
		t.Fatalf("int64: %v %v %v", ints, err, ierr)
	}

	i32 := make([]byte, 8)
	binary.LittleEndian.PutUint32(i32, uint32(0xFFFFFFFE)) // -2
	binary.LittleEndian.PutUint32(i32[4:], 7)
	x, err = DecodeTensor(rawTensor(interpv1.DataType_DATA_TYPE_INT32, []int64{2}, i32))
	ints, _ = x.Int64s()
	if err != nil || ints[0] != -2 || ints[1] != 7 || x.Float32s()[0] != -2 {
		t.Fatalf("int32: %v %v", ints, err)
	}

	x, err = DecodeTensor(rawTensor(interpv1.DataType_DATA_TYPE_BOOL, []int64{1, 3}, []byte{1, 0, 1}))
	b := x.Bools()
	if err != nil || !b[0] || b[1] || !b[2] || x.Float32s()[2] != 1 {
		t.Fatalf("bool: %v %v", b, err)
	}

	x, err = DecodeTensor(rawTensor(interpv1.DataType_DATA_TYPE_FLOAT32, []int64{}, []byte{0, 0, 0x80, 0x3F}))
	if err != nil || x.Len() != 1 || x.Float32s()[0] != 1 {
		t.Fatalf("scalar: %v %v", x, err)
	}
	if p := x.Proto(); p.GetDtype() != interpv1.DataType_DATA_TYPE_FLOAT32 || len(p.GetRaw()) != 4 {
		t.Errorf("Proto() = %v", p)
	}
}

func TestDecodeRejectsMalformedTensors(t *testing.T) {
	bad := map[string]*interpv1.Tensor{
		"short":            rawTensor(interpv1.DataType_DATA_TYPE_FLOAT32, []int64{2}, []byte{0, 0, 0, 0}),
		"no dtype":         rawTensor(interpv1.DataType_DATA_TYPE_UNSPECIFIED, []int64{1}, []byte{0}),
		"negative dim":     rawTensor(interpv1.DataType_DATA_TYPE_BOOL, []int64{-1}, nil),
		"dim names":        rawTensor(interpv1.DataType_DATA_TYPE_BOOL, []int64{1}, []byte{1}, "a", "b"),
		"odd f16 bytes":    rawTensor(interpv1.DataType_DATA_TYPE_FLOAT16, []int64{1}, []byte{0, 0, 0}),
		"unknown datatype": rawTensor(interpv1.DataType(99), []int64{1}, []byte{0}),
	}
	for name, msg := range bad {
		if _, err := DecodeTensor(msg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Float32Tensor([]int64{2, 2}, []float32{1}); err == nil {
		t.Error("Float32Tensor with too few values: no error")
	}
}

func TestStoredTensorsAreReferences(t *testing.T) {
	ref := &interpv1.ObjectRef{Bucket: "b", Key: "dev/runs/x.safetensors", ByteSize: 100, Sha256: "ab"}
	msg := StoredTensor(ref, interpv1.DataType_DATA_TYPE_FLOAT32, []int64{1, 4, 576})
	if _, err := DecodeTensor(msg); !errors.Is(err, ErrStoredTensor) {
		t.Fatalf("DecodeTensor of a reference: %v", err)
	}
	if !IsStored(msg) || Ref(msg) != ref {
		t.Fatal("IsStored/Ref")
	}
	refs, err := Refs(msg, msg)
	if err != nil || len(refs) != 2 || refs[1] != ref {
		t.Fatalf("Refs: %v %v", refs, err)
	}
	inline, _ := Float32Tensor([]int64{1}, []float32{0})
	if _, err := Refs(msg, inline); err == nil {
		t.Error("Refs of an inline tensor: no error")
	}
}
