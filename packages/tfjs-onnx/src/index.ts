/**
 * TensorFlow.js graph model -> ONNX. `loadTfjsGraphModel` (or `readTfjsModelFiles` +
 * `parseTfjsGraphModel`) reads model.json and its weight shards; `convertTfjsToOnnx` gives the ONNX
 * bytes, NHWC kept, with transposes around the ops ONNX defines on NCHW. Ops without a mapping are
 * refused with the node named (UnsupportedOpError). The ONNX graph builder it writes with is
 * exported too, for tests that make small models.
 */
export { ConversionError, UnsupportedOpError } from './attrs.ts';
export { dequantizeFloat16, halfToFloat } from './float16.ts';
export {
  attr,
  ElemType,
  onnx,
  OnnxGraphBuilder,
  valueInfo,
  type Attr,
  type ElemTypeCode,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
  type ValueInfo,
} from './onnx-builder.ts';
export {
  loadTfjsGraphModel,
  parseModelJson,
  parseTfjsGraphModel,
  readTfjsModelFiles,
  TfjsModelError,
  type GraphNode,
  type TfjsGraphModel,
  type TfjsModelFiles,
  type WeightTensor,
} from './tfjs-model.ts';
export { CONVERTER_NAME, CONVERTER_VERSION, convertTfjsToOnnx, OPSET, type ConversionResult, type ConvertOptions } from './tfjs-to-onnx.ts';
