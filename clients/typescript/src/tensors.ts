/**
 * Tensors on the wire (`interp.v1.Tensor`) and as native typed arrays.
 *
 * A returned Tensor holds its elements inline (`data.case === "raw"`: row-major little-endian
 * bytes) or in the fleet's tensor store (`data.case === "object"`: an ObjectRef). Decode an inline
 * one with {@link decodeTensor}; fetch stored ones with `InterpClient.readTensors` (or decode either
 * kind with `InterpClient.toArray`). Pass a returned Tensor back unchanged (e.g. as a patch source):
 * a stored one costs no transfer, the server reads it from the store.
 *
 * Element types: float32, float16 and bfloat16 decode to `Float32Array` (widened), float64 to
 * `Float64Array`, int32 to `Int32Array`, int64 to `BigInt64Array` (exact; use {@link toNumbers}
 * for plain numbers), bool to `Uint8Array` (0 or 1).
 */

import { create } from "@bufbuild/protobuf";

import { DataType, type ObjectRef, type Tensor, TensorSchema } from "./gen/interp/v1/tensor_pb.js";

/** Short names of the element types. */
export type DTypeName = "float32" | "float16" | "bfloat16" | "float64" | "int64" | "int32" | "bool";

/** The typed array a tensor decodes to. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A decoded tensor: shape, element type on the wire, dimension names and the elements. */
export interface DecodedTensor<D extends TensorData = TensorData> {
  /** Extent of each dimension, outermost first. */
  shape: number[];
  /** Element type as it travelled (float16/bfloat16 data is widened to Float32Array). */
  dtype: DTypeName;
  /** Dimension names, e.g. `["batch", "pos", "d_model"]` (may be empty). */
  dimNames: string[];
  /** Row-major elements. */
  data: D;
}

const DTYPES: Record<DTypeName, { value: DataType; size: number }> = {
  float32: { value: DataType.FLOAT32, size: 4 },
  float16: { value: DataType.FLOAT16, size: 2 },
  bfloat16: { value: DataType.BFLOAT16, size: 2 },
  float64: { value: DataType.FLOAT64, size: 8 },
  int64: { value: DataType.INT64, size: 8 },
  int32: { value: DataType.INT32, size: 4 },
  bool: { value: DataType.BOOL, size: 1 },
};

/** The short name of a wire data type (`DataType.BFLOAT16` -> `"bfloat16"`). */
export function dtypeName(dtype: DataType): DTypeName {
  for (const [name, d] of Object.entries(DTYPES)) if (d.value === dtype) return name as DTypeName;
  throw new TypeError(`tensor has no usable dtype (${DataType[dtype] ?? dtype})`);
}

/** The wire data type of a short name (`"float32"` -> `DataType.FLOAT32`). */
export function dataType(name: DTypeName): DataType {
  const d = DTYPES[name];
  if (!d) throw new TypeError(`unknown dtype ${JSON.stringify(name)}`);
  return d.value;
}

/** Bytes per element on the wire. */
export function itemSize(dtype: DataType | DTypeName): number {
  return DTYPES[typeof dtype === "string" ? dtype : dtypeName(dtype)].size;
}

/** Whether a tensor is held in the store (its data is an ObjectRef). */
export function isStored(t: Tensor): t is Tensor & { data: { case: "object"; value: ObjectRef } } {
  return t.data.case === "object";
}

/** The ObjectRef of a stored tensor. Throws for an inline one. */
export function objectRef(t: Tensor | ObjectRef): ObjectRef {
  if (t.$typeName === "interp.v1.ObjectRef") return t;
  if (t.data.case !== "object") throw new TypeError("an inline tensor has no stored object");
  return t.data.value;
}

/**
 * A Tensor that points at a stored object, from the reference and the header the object was
 * returned with (the server checks both against the object): what another program needs to pass
 * a reference it was handed as `{ref, shape, dtype}` back to the fleet.
 */
export function storedTensor(ref: ObjectRef, shape: readonly (number | bigint)[], dtype: DataType | DTypeName, dimNames: string[] = []): Tensor {
  return create(TensorSchema, {
    dtype: typeof dtype === "string" ? dataType(dtype) : dtype,
    shape: shape.map((n) => BigInt(n)),
    dimNames,
    data: { case: "object", value: ref },
  });
}

/** The number of elements of a shape. */
export function numel(shape: readonly (number | bigint)[]): number {
  return shape.reduce<number>((n, d) => n * Number(d), 1);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** float16 bits -> number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** number -> float16 bits (round to nearest even, overflow to infinity). */
export function floatToHalf(x: number): number {
  F32[0] = x;
  const bits = U32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflow to zero
    mant |= 0x800000; // implicit bit
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m += 1;
    return sign | m; // may round up into the smallest normal: still correct bits
  }
  const rest = mant & 0x1fff;
  let out = sign | (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out += 1; // may carry into the exponent: correct
  return out;
}

/** bfloat16 bits -> number (the upper half of a float32). */
export function bfloat16ToFloat(b: number): number {
  U32[0] = (b & 0xffff) << 16;
  return F32[0]!;
}

/** number -> bfloat16 bits (round to nearest even; NaN stays NaN). */
export function floatToBfloat16(x: number): number {
  F32[0] = x;
  const bits = U32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * Decode an inline tensor into a typed array.
 *
 * @throws TypeError for a stored tensor (read it with `InterpClient.readTensors` or
 *   `InterpClient.toArray`, or ask for `ResultDelivery.INLINE`), RangeError when the byte count
 *   does not fit the shape and dtype.
 */
export function decodeTensor(t: Tensor): DecodedTensor {
  if (t.data.case === "object") {
    throw new TypeError("tensor is held in the object store; read it with client.readTensors or client.toArray, or request inline delivery");
  }
  const dtype = dtypeName(t.dtype);
  const shape = t.shape.map((d) => Number(d));
  const n = numel(shape);
  const raw = t.data.case === "raw" ? t.data.value : new Uint8Array(0);
  const size = DTYPES[dtype].size;
  if (raw.byteLength !== n * size) {
    throw new RangeError(`tensor has ${raw.byteLength} bytes, but shape [${shape}] of ${dtype} needs ${n * size}`);
  }
  return { shape, dtype, dimNames: [...t.dimNames], data: decodeBytes(raw, dtype, n) };
}

function decodeBytes(raw: Uint8Array, dtype: DTypeName, n: number): TensorData {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  // A copy into a fresh, aligned buffer: the typed arrays below may not alias the message.
  const aligned = () => raw.slice().buffer;
  switch (dtype) {
    case "float32":
      if (LITTLE_ENDIAN) return new Float32Array(aligned());
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(i * 4, true));
    case "float64":
      if (LITTLE_ENDIAN) return new Float64Array(aligned());
      return Float64Array.from({ length: n }, (_, i) => view.getFloat64(i * 8, true));
    case "int32":
      if (LITTLE_ENDIAN) return new Int32Array(aligned());
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
    case "int64":
      if (LITTLE_ENDIAN) return new BigInt64Array(aligned());
      return BigInt64Array.from({ length: n }, (_, i) => view.getBigInt64(i * 8, true));
    case "bool":
      return raw.slice();
    case "float16": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case "bfloat16": {
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
  }
}

/** Options of {@link encodeTensor}. */
export interface EncodeOptions {
  /** Wire element type; default from the array (Float32Array/number[]: float32, Float64Array:
   * float64, Int32Array: int32, BigInt64Array/bigint[]: int64, Uint8Array: bool). */
  dtype?: DTypeName;
  /** Dimension names. */
  dimNames?: string[];
}

/**
 * Encode elements as an inline Tensor. `shape` defaults to `[data.length]`.
 *
 * @example encodeTensor(new Float32Array(576).fill(0.1))   // a steering vector for SmolLM2
 */
export function encodeTensor(
  data: TensorData | readonly number[] | readonly bigint[] | readonly boolean[],
  shape?: readonly (number | bigint)[],
  options: EncodeOptions = {},
): Tensor {
  const dims = (shape ?? [data.length]).map((d) => Number(d));
  const n = numel(dims);
  if (n !== data.length) throw new RangeError(`${data.length} elements do not fit shape [${dims}]`);
  const dtype = options.dtype ?? defaultDtype(data);
  const size = DTYPES[dtype].size;
  const raw = new Uint8Array(n * size);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    const v = data[i] as number | bigint | boolean;
    switch (dtype) {
      case "float32":
        view.setFloat32(i * 4, Number(v), true);
        break;
      case "float64":
        view.setFloat64(i * 8, Number(v), true);
        break;
      case "int32":
        view.setInt32(i * 4, Number(v), true);
        break;
      case "int64":
        view.setBigInt64(i * 8, typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v))), true);
        break;
      case "bool":
        raw[i] = v ? 1 : 0;
        break;
      case "float16":
        view.setUint16(i * 2, floatToHalf(Number(v)), true);
        break;
      case "bfloat16":
        view.setUint16(i * 2, floatToBfloat16(Number(v)), true);
        break;
    }
  }
  return create(TensorSchema, {
    dtype: DTYPES[dtype].value,
    shape: dims.map((d) => BigInt(d)),
    dimNames: options.dimNames ?? [],
    data: { case: "raw", value: raw },
  });
}

function defaultDtype(data: ArrayLike<unknown>): DTypeName {
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Uint8Array) return "bool";
  if (data instanceof Float32Array) return "float32";
  if (data.length > 0 && typeof data[0] === "bigint") return "int64";
  if (data.length > 0 && typeof data[0] === "boolean") return "bool";
  return "float32";
}

/** Elements as plain numbers (int64 values beyond 2^53 lose precision). */
export function toNumbers(data: TensorData): number[] {
  return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** The element at a multi-dimensional index (row-major). */
export function at<D extends TensorData>(t: DecodedTensor<D>, ...index: number[]): D[number] {
  if (index.length !== t.shape.length) throw new RangeError(`index of ${index.length} dims for a ${t.shape.length}-dim tensor`);
  let flat = 0;
  for (let i = 0; i < index.length; i++) {
    const k = index[i]!;
    const d = t.shape[i]!;
    if (k < 0 || k >= d) throw new RangeError(`index ${k} outside dimension ${i} of size ${d}`);
    flat = flat * d + k;
  }
  return t.data[flat] as D[number];
}
