import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import type { Runtime } from '@sightline/kit';
import { idSchema, keptImageNameSchema } from '@sightline/schemas';
import { downloadKept, KeptError, type KeptList } from './kept.ts';
import type { Outbox } from './outbox.ts';
import { REASONS } from './selection.ts';

/** Entries one listing answers at most. */
export const MAX_KEPT_LISTED = 500;

const listQuery = z.strictObject({
  reason: z.enum(REASONS as [string, ...string[]]).optional(),
  camera: idSchema.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_KEPT_LISTED).default(50),
});

/**
 * What sync kept, read back for people and for the inference service (learning products from
 * uncertain frames), behind the kit's gate like every route (the shared token beyond loopback):
 * - `GET /kept?reason=&camera=&limit=`: the images kept lately, newest first (see KeptList);
 * - `GET /kept/<name>`: one image (JPEG), from the outbox while it waits, else read back from
 *   blob storage. The name is checked before anything is read: a name that is not one sync
 *   writes (`..`, a leading `/`, anything but `<camera>/<yyyy>/<mm>/<dd>/<ms>-<seq>.jpg`) is a 400.
 */
export function registerKeptRoutes(http: Runtime['http'], deps: { kept: KeptList; outbox: Outbox; container: ContainerClient; timeoutMs: number }): void {
  const { kept, outbox, container, timeoutMs } = deps;

  http.get('/kept', async (request, reply) => {
    const query = listQuery.safeParse(request.query);
    if (!query.success) return reply.code(400).send({ error: `query: ${z.prettifyError(query.error)}` });
    const complete = await kept.seed();
    const { reason, camera, limit } = query.data;
    const entries = kept.list({ reason: reason as (typeof REASONS)[number] | undefined, camera, limit });
    return {
      kept: entries.map((entry) => ({ ...entry, url: `/kept/${entry.name}` })),
      remembered: kept.size,
      // False while blob storage could not be listed since this start: only what this start kept is shown.
      complete,
    };
  });

  http.get('/kept/*', async (request, reply) => {
    const raw = (request.params as { '*'?: string })['*'] ?? '';
    const name = keptImageNameSchema.safeParse(raw);
    if (!name.success) return reply.code(400).send({ error: `"${raw.slice(0, 100)}" is not a kept image name: ${name.error.issues[0]?.message ?? ''}` });
    let jpeg: Buffer;
    const waiting = await outbox.readByName(name.data).catch(() => undefined);
    if (waiting !== undefined) jpeg = waiting.jpeg;
    else {
      try {
        jpeg = await downloadKept(container, name.data, timeoutMs);
      } catch (err) {
        if (err instanceof KeptError) return reply.code(err.status).send({ error: err.message });
        throw err;
      }
    }
    // A name always holds the same image (it is written once, never replaced).
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400, immutable').send(jpeg);
  });
}
