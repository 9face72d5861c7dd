import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema } from '@sightline/schemas';
import type { LiveHub } from '../live.ts';

/** What the page may say on the live socket: which cameras it wants frames of (null: all, []: none). */
const watchSchema = z.strictObject({ type: z.literal('watch'), cameras: z.array(idSchema).max(64).nullable() });

export function registerLiveRoute(http: FastifyInstance, deps: { hub: LiveHub }): void {
  http.get('/live', { websocket: true }, (socket, request) => {
    const viewer = {
      cameras: new Set<string>() as Set<string> | null,
      bufferedAmount: () => socket.bufferedAmount,
      send: (data: string | Buffer) => {
        if (socket.readyState === socket.OPEN) socket.send(data);
      },
    };
    const remove = deps.hub.addViewer(viewer);
    socket.on('message', (data, isBinary) => {
      let parsed: z.ZodSafeParseResult<z.infer<typeof watchSchema>> | null = null;
      if (!isBinary) {
        try {
          parsed = watchSchema.safeParse(JSON.parse(String(data)));
        } catch {
          parsed = null;
        }
      }
      if (parsed === null || !parsed.success) {
        socket.close(1008, 'only {"type":"watch","cameras":[...]|null}');
        return;
      }
      viewer.cameras = parsed.data.cameras === null ? null : new Set(parsed.data.cameras);
    });
    socket.on('close', remove);
    request.log.debug({ user: request.session?.user }, 'live viewer connected');
  });
}
