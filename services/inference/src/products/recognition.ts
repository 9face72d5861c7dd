import sharp from 'sharp';
import { UNKNOWN_PRODUCT_LABEL } from '@sightline/schemas';
import type { Prediction } from '../decoders/types.ts';
import { cropPixels, type Embedder, type RgbImage } from './backbone.ts';
import type { Recognizer } from './recognizer.ts';

export interface Recognition {
  /** The enrolled product, or null when none is close enough. */
  product: string | null;
  similarity: number;
  detectorLabel: string;
}

/** A prediction, named after the enrolled product it is (or `unknown-product`) when it was compared. */
export interface RecognizedPrediction extends Prediction {
  recognition?: Recognition;
}

export interface RecognitionOptions {
  threshold: number;
  maxObjects: number;
  ignore: ReadonlySet<string>;
}

/**
 * Names the detector's objects after the enrolled products: the best-scored boxes (at most
 * `maxObjects`, never an ignored label such as person) are cut from the image, turned into vectors
 * and compared with every enrolled photo. An object at least `threshold` similar to a product's
 * photo takes the product id as its label; a less similar one becomes `unknown-product`, which
 * no catalog sells, so checkout says it was not recognised. The image is decoded once.
 */
export async function recognizePredictions(
  image: Buffer,
  predictions: Prediction[],
  embedder: Embedder,
  recognizer: Recognizer,
  options: RecognitionOptions,
): Promise<{ predictions: RecognizedPrediction[]; ms: number } | null> {
  if (recognizer.size === 0) return null;
  const chosen = predictions
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.box !== null && p.box.width > 0 && p.box.height > 0 && !options.ignore.has(p.label))
    .slice(0, options.maxObjects);
  if (chosen.length === 0) return null;
  const started = performance.now();
  const { data, info } = await sharp(image, { autoOrient: true, failOn: 'none' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rgb: RgbImage = { data, width: info.width, height: info.height };
  const out: RecognizedPrediction[] = [...predictions];
  for (const { p, i } of chosen) {
    const vector = await embedder.embed(await cropPixels(rgb, p.box));
    const best = recognizer.classify(vector);
    const known = best !== undefined && best.similarity >= options.threshold;
    out[i] = {
      ...p,
      label: known ? best.product : UNKNOWN_PRODUCT_LABEL,
      recognition: { product: known ? best.product : null, similarity: best?.similarity ?? 0, detectorLabel: p.label },
    };
  }
  return { predictions: out, ms: performance.now() - started };
}
