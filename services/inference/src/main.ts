import path from 'node:path';
import { createLogger } from '@sightline/kit';
import { ensureDefaultModel } from './models/default-model.ts';

// Until the service app exists (frames in, detections out over MQTT), starting it prepares the default
// model: converts it once into <SIGHTLINE_DATA_DIR>/inference/models and reports where it is.
const logger = createLogger('inference', process.env['SIGHTLINE_LOG_LEVEL'] ?? 'info');
const dataDir = path.resolve(process.env['SIGHTLINE_DATA_DIR'] ?? '.data', 'inference');
try {
  const model = await ensureDefaultModel(dataDir, { log: (msg) => logger.info(msg) });
  logger.info({ onnx: model.onnxPath, converted: model.converted, conversionMs: Math.round(model.conversionMs), source: model.provenance.source.package }, 'default model ready');
} catch (err) {
  logger.error({ err }, 'cannot prepare the default model');
  process.exitCode = 1;
}
