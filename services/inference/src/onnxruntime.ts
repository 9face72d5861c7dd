// Module order matters: ort-env runs before onnxruntime-node is loaded. Import onnxruntime only
// through this file.
import './ort-env.ts';
export * from 'onnxruntime-node';
