/** IEEE 754 half-precision bits to the float32 value they hold (exact: every half is a float32). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const table = new Float32Array(65536);
for (let i = 0; i < 65536; i++) table[i] = halfToFloat(i);

/** Little-endian float16 words to float32. */
export function dequantizeFloat16(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
  for (let i = 0; i < count; i++) out[i] = table[view.getUint16(i * 2, true)]!;
  return out;
}
