package interp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

// ErrStoredTensor is returned by DecodeTensor for a tensor held in the object store (its data is
// an ObjectRef, not raw bytes): read it with Client.DecodeTensor or Client.ReadTensors, or ask
// for RESULT_DELIVERY_INLINE.
var ErrStoredTensor = errors.New("interp: tensor is held in the object store; read it with Client.ReadTensors or request inline delivery")

// Data type names of Tensor.DType, as numpy spells them.
const (
	Float32  = "float32"
	Float16  = "float16"
	BFloat16 = "bfloat16"
	Float64  = "float64"
	Int64    = "int64"
	Int32    = "int32"
	Bool     = "bool"
)

var dtypeNames = map[interpv1.DataType]string{
	interpv1.DataType_DATA_TYPE_FLOAT32:  Float32,
	interpv1.DataType_DATA_TYPE_FLOAT16:  Float16,
	interpv1.DataType_DATA_TYPE_BFLOAT16: BFloat16,
	interpv1.DataType_DATA_TYPE_FLOAT64:  Float64,
	interpv1.DataType_DATA_TYPE_INT64:    Int64,
	interpv1.DataType_DATA_TYPE_INT32:    Int32,
	interpv1.DataType_DATA_TYPE_BOOL:     Bool,
}

var itemSizes = map[interpv1.DataType]int{
	interpv1.DataType_DATA_TYPE_FLOAT32:  4,
	interpv1.DataType_DATA_TYPE_FLOAT16:  2,
	interpv1.DataType_DATA_TYPE_BFLOAT16: 2,
	interpv1.DataType_DATA_TYPE_FLOAT64:  8,
	interpv1.DataType_DATA_TYPE_INT64:    8,
	interpv1.DataType_DATA_TYPE_INT32:    4,
	interpv1.DataType_DATA_TYPE_BOOL:     1,
}

// DTypeName is a DataType's short name ("float32", "bfloat16", ...), or "" for an unknown one.
func DTypeName(d interpv1.DataType) string { return dtypeNames[d] }

// Tensor is a decoded inline tensor: its header and its little-endian element bytes, read
// through the typed accessors (Float32s, Float64s, Int64s, Bools). Float16 and bfloat16 widen
// exactly to float32.
type Tensor struct {
	// DType is the element type's short name: "float32", "float16", "bfloat16", "float64",
	// "int64", "int32" or "bool".
	DType string
	// Shape is the extent of each dimension, outermost first (row-major data).
	Shape []int64
	// DimNames names the dimensions when the service did, e.g. ["batch", "pos", "d_model"].
	DimNames []string

	dtype interpv1.DataType
	raw   []byte
}

// DecodeTensor decodes an inline (raw) Tensor, checking that its byte count fits its shape and
// data type. A tensor held in the object store fails with ErrStoredTensor.
func DecodeTensor(t *interpv1.Tensor) (*Tensor, error) {
	if t == nil {
		return nil, errors.New("interp: nil tensor")
	}
	if _, ok := t.GetData().(*interpv1.Tensor_Object); ok {
		return nil, ErrStoredTensor
	}
	size, ok := itemSizes[t.GetDtype()]
	if !ok {
		return nil, fmt.Errorf("interp: tensor has an unspecified or unknown data type %v", t.GetDtype())
	}
	n, err := numElements(t.GetShape())
	if err != nil {
		return nil, err
	}
	raw := t.GetRaw()
	if int64(len(raw)) != n*int64(size) {
		return nil, fmt.Errorf("interp: tensor of shape %v and type %s needs %d bytes, has %d", t.GetShape(), dtypeNames[t.GetDtype()], n*int64(size), len(raw))
	}
	if len(t.GetDimNames()) != 0 && len(t.GetDimNames()) != len(t.GetShape()) {
		return nil, fmt.Errorf("interp: tensor has %d dimension names for %d dimensions", len(t.GetDimNames()), len(t.GetShape()))
	}
	return &Tensor{
		DType:    dtypeNames[t.GetDtype()],
		Shape:    append([]int64(nil), t.GetShape()...),
		DimNames: append([]string(nil), t.GetDimNames()...),
		dtype:    t.GetDtype(),
		raw:      raw,
	}, nil
}

func numElements(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("interp: negative dimension in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("interp: shape %v overflows", shape)
		}
		n *= d
	}
	return n, nil
}

// DataType is the tensor's element type as the contract's enum.
func (t *Tensor) DataType() interpv1.DataType { return t.dtype }

// Len is the number of elements.
func (t *Tensor) Len() int {
	if size := itemSizes[t.dtype]; size > 0 {
		return len(t.raw) / size
	}
	return 0
}

// Raw is the little-endian element bytes as they came on the wire (bfloat16 as its 16-bit
// patterns). The slice is shared: do not modify it.
func (t *Tensor) Raw() []byte { return t.raw }

// Offset is the flat (row-major) index of the element at idx, one index per dimension; negative
// indices count from the end of their dimension (-1 is the last).
func (t *Tensor) Offset(idx ...int64) (int, error) {
	if len(idx) != len(t.Shape) {
		return 0, fmt.Errorf("interp: %d indices for a tensor of %d dimensions", len(idx), len(t.Shape))
	}
	off := int64(0)
	for d, i := range idx {
		n := t.Shape[d]
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return 0, fmt.Errorf("interp: index %d out of range for dimension %d of size %d", idx[d], d, n)
		}
		off = off*n + i
	}
	return int(off), nil
}

// Float32s are the elements as float32: float16 and bfloat16 widened exactly, float64 rounded,
// integers and bools converted.
func (t *Tensor) Float32s() []float32 {
	n := t.Len()
	out := make([]float32, n)
	b := t.raw
	switch t.dtype {
	case interpv1.DataType_DATA_TYPE_FLOAT32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case interpv1.DataType_DATA_TYPE_FLOAT16:
		for i := range out {
			out[i] = Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case interpv1.DataType_DATA_TYPE_BFLOAT16:
		for i := range out {
			out[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case interpv1.DataType_DATA_TYPE_FLOAT64, interpv1.DataType_DATA_TYPE_INT64, interpv1.DataType_DATA_TYPE_INT32, interpv1.DataType_DATA_TYPE_BOOL:
		for i, v := range t.Float64s() {
			out[i] = float32(v)
		}
	}
	return out
}

// Float64s are the elements as float64 (exact for every data type but int64 beyond 2^53).
func (t *Tensor) Float64s() []float64 {
	n := t.Len()
	out := make([]float64, n)
	b := t.raw
	switch t.dtype {
	case interpv1.DataType_DATA_TYPE_FLOAT64:
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case interpv1.DataType_DATA_TYPE_INT64, interpv1.DataType_DATA_TYPE_INT32, interpv1.DataType_DATA_TYPE_BOOL:
		for i, v := range t.ints() {
			out[i] = float64(v)
		}
	case interpv1.DataType_DATA_TYPE_FLOAT32, interpv1.DataType_DATA_TYPE_FLOAT16, interpv1.DataType_DATA_TYPE_BFLOAT16:
		for i, v := range t.Float32s() {
			out[i] = float64(v)
		}
	}
	return out
}

// Int64s are the elements of an integer or bool tensor (token ids, ranks, masks).
func (t *Tensor) Int64s() ([]int64, error) {
	switch t.dtype {
	case interpv1.DataType_DATA_TYPE_INT64, interpv1.DataType_DATA_TYPE_INT32, interpv1.DataType_DATA_TYPE_BOOL:
		return t.ints(), nil
	}
	return nil, fmt.Errorf("interp: Int64s of a %s tensor; use Float32s or Float64s", t.DType)
}

// Bools are the elements as booleans (non-zero is true), for any data type.
func (t *Tensor) Bools() []bool {
	out := make([]bool, t.Len())
	if t.dtype == interpv1.DataType_DATA_TYPE_BOOL {
		for i, v := range t.raw {
			out[i] = v != 0
		}
		return out
	}
	for i, v := range t.Float64s() {
		out[i] = v != 0
	}
	return out
}

func (t *Tensor) ints() []int64 {
	out := make([]int64, t.Len())
	b := t.raw
	switch t.dtype {
	case interpv1.DataType_DATA_TYPE_INT64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case interpv1.DataType_DATA_TYPE_INT32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case interpv1.DataType_DATA_TYPE_BOOL:
		for i := range out {
			if b[i] != 0 {
				out[i] = 1
			}
		}
	}
	return out
}

// Proto encodes the tensor again as an inline interpv1.Tensor (same data type, same bytes).
func (t *Tensor) Proto() *interpv1.Tensor {
	return &interpv1.Tensor{
		Dtype:    t.dtype,
		Shape:    append([]int64(nil), t.Shape...),
		DimNames: append([]string(nil), t.DimNames...),
		Data:     &interpv1.Tensor_Raw{Raw: t.raw},
	}
}

// BFloat16ToFloat32 widens a bfloat16 bit pattern (the upper half of a float32) exactly.
func BFloat16ToFloat32(bits uint16) float32 {
	return math.Float32frombits(uint32(bits) << 16)
}

// Float16ToFloat32 widens an IEEE 754 half-precision bit pattern exactly (subnormals,
// infinities and NaN payloads included).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// subnormal: frac * 2^-24, normalized for float32
	e := uint32(127 - 15 + 1)
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

// Float32Tensor encodes float32 values inline (e.g. a steering vector), row-major with the given
// shape; dimNames are optional.
func Float32Tensor(shape []int64, data []float32, dimNames ...string) (*interpv1.Tensor, error) {
	if err := checkLen(shape, len(data)); err != nil {
		return nil, err
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return newRaw(interpv1.DataType_DATA_TYPE_FLOAT32, shape, raw, dimNames), nil
}

// Float64Tensor encodes float64 values inline.
func Float64Tensor(shape []int64, data []float64, dimNames ...string) (*interpv1.Tensor, error) {
	if err := checkLen(shape, len(data)); err != nil {
		return nil, err
	}
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
	}
	return newRaw(interpv1.DataType_DATA_TYPE_FLOAT64, shape, raw, dimNames), nil
}

// Int64Tensor encodes int64 values inline.
func Int64Tensor(shape []int64, data []int64, dimNames ...string) (*interpv1.Tensor, error) {
	if err := checkLen(shape, len(data)); err != nil {
		return nil, err
	}
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return newRaw(interpv1.DataType_DATA_TYPE_INT64, shape, raw, dimNames), nil
}

func checkLen(shape []int64, n int) error {
	want, err := numElements(shape)
	if err != nil {
		return err
	}
	if want != int64(n) {
		return fmt.Errorf("interp: shape %v holds %d elements, got %d values", shape, want, n)
	}
	return nil
}

func newRaw(d interpv1.DataType, shape []int64, raw []byte, dimNames []string) *interpv1.Tensor {
	return &interpv1.Tensor{
		Dtype:    d,
		Shape:    append([]int64(nil), shape...),
		DimNames: append([]string(nil), dimNames...),
		Data:     &interpv1.Tensor_Raw{Raw: raw},
	}
}

// IsStored reports whether a returned tensor is a reference into the object store.
func IsStored(t *interpv1.Tensor) bool { return t.GetObject() != nil }

// Ref is the object reference of a stored tensor (nil for an inline one).
func Ref(t *interpv1.Tensor) *interpv1.ObjectRef { return t.GetObject() }

// Refs are the object references of stored tensors, e.g. to read or delete them. An inline tensor
// is an error.
func Refs(tensors ...*interpv1.Tensor) ([]*interpv1.ObjectRef, error) {
	refs := make([]*interpv1.ObjectRef, 0, len(tensors))
	for i, t := range tensors {
		ref := t.GetObject()
		if ref == nil {
			return nil, fmt.Errorf("interp: tensor %d is inline; it has no stored object", i)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// StoredTensor is a reference to a stored tensor as a Tensor message to pass back to a service
// (e.g. as a patch source): the services check the declared data type and shape against the
// stored object, so they must be the ones it was returned with. A Tensor a service returned is
// already in this form; pass it unchanged.
func StoredTensor(ref *interpv1.ObjectRef, dtype interpv1.DataType, shape []int64, dimNames ...string) *interpv1.Tensor {
	return &interpv1.Tensor{
		Dtype:    dtype,
		Shape:    append([]int64(nil), shape...),
		DimNames: append([]string(nil), dimNames...),
		Data:     &interpv1.Tensor_Object{Object: ref},
	}
}
