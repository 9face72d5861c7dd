import type { Eviction } from '@sightline/schemas';
import { plain, type EvaluatorFactory } from './evaluator.ts';

const EVICTION_WHY: Record<Eviction['reason'], string> = {
  ttl: 'it waited longer than the outbox TTL',
  disk: 'the outbox disk cap was reached',
  corrupt: 'its outbox file was unreadable',
  rejected: 'the blob store refused it',
};

/** Images the sync service dropped without uploading: one alert per camera, counting them. */
export const imagesEvicted: EvaluatorFactory<'images-evicted'> = (context) => ({
  subject: 'camera',
  expires: true,
  eviction(rule, eviction, now, known) {
    const where = eviction.camera !== undefined ? ` of camera ${eviction.camera}` : '';
    context.raise(rule, now, {
      subject: eviction.camera !== undefined ? { camera: eviction.camera } : {},
      known,
      message: `sync dropped an image${where} without uploading it (${EVICTION_WHY[eviction.reason]})`,
      details: { reason: eviction.reason, blob: plain(eviction.blob, 256), bytes: eviction.bytes },
      snapshot: null,
    });
  },
});
