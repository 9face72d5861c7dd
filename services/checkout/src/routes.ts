import { randomUUID } from 'node:crypto';
import type { Runtime } from '@sightline/kit';
import {
  basketCommandSchema,
  commandOwner,
  controlCommandSchema,
  idSchema,
  parseZoneBody,
  ZONE_BODY_LIMIT,
  type ControlCommand,
  type ControlResult,
} from '@sightline/schemas';
import { z } from 'zod';
import type { CheckoutApp } from './app.ts';
import { WaitError, type Controls } from './controls.ts';
import type { LaneKeypads } from './keypads.ts';
import type { Lane } from './lane.ts';

const laneParamsSchema = z.strictObject({ lane: idSchema });

export interface RouteDeps {
  lanes: ReadonlyMap<string, Lane>;
  keypads: LaneKeypads;
  controls: Controls;
  runCommand: CheckoutApp['runCommand'];
  changeZone: CheckoutApp['changeZone'];
  /** Publishes a control on the lane's control channel. */
  sendControl(lane: string, command: ControlCommand): Promise<unknown>;
  controlTimeoutMs: number;
}

const WAIT_CODES: Record<WaitError['code'], number> = { busy: 429, 'in-use': 409, timeout: 504, closed: 503 };

export function registerRoutes(runtime: Runtime, { lanes, keypads, controls, runCommand, changeZone, sendControl, controlTimeoutMs }: RouteDeps): void {
  const { http } = runtime;
  const laneOf = (params: unknown): { lane?: Lane; id?: string; code?: number; error?: string } => {
    const parsed = laneParamsSchema.safeParse(params);
    if (!parsed.success) return { code: 400, error: `bad lane id: ${z.prettifyError(parsed.error).replace(/^✖ /, '')}` };
    const lane = lanes.get(parsed.data.lane);
    if (!lane) return { id: parsed.data.lane, code: 404, error: `unknown lane "${parsed.data.lane}": this checkout serves ${[...lanes.keys()].join(', ')}` };
    return { lane, id: lane.id };
  };

  http.get('/lanes', async () => ({ lanes: [...lanes.values()].map((lane) => ({ ...lane.status(), keypad: keypads.status(lane.id) })) }));

  http.get('/lanes/:lane/basket', async (request, reply) => {
    const { lane, code, error } = laneOf(request.params);
    if (!lane) return reply.code(code!).send({ error });
    return lane.basket;
  });

  http.post('/lanes/:lane/basket', async (request, reply) => {
    const { lane, code, error } = laneOf(request.params);
    if (!lane) return reply.code(code!).send({ error });
    const body = basketCommandSchema.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: `bad command: ${z.prettifyError(body.error)}` });
    const result = runCommand(lane.id, body.data, 'http');
    return reply.code(result.status === 'ok' ? 200 : 409).send(result);
  });

  // The scan zone, drawn by staff on the camera's frame (the console). Errors are {error, message}.
  const zoneLane = (params: unknown): { lane: Lane } | { code: number; body: { error: string; message: string } } => {
    const { lane, code, error } = laneOf(params);
    if (lane) return { lane };
    return { code: code!, body: { error: code === 404 ? 'not found' : 'bad request', message: error! } };
  };
  const zoneAnswer = (lane: Lane) => ({ lane: lane.id, camera: lane.config.camera, zone: lane.config.zone });

  http.get('/lanes/:lane/zone', async (request, reply) => {
    const found = zoneLane(request.params);
    if (!('lane' in found)) return reply.code(found.code).send(found.body);
    return zoneAnswer(found.lane);
  });

  http.put('/lanes/:lane/zone', { bodyLimit: ZONE_BODY_LIMIT }, async (request, reply) => {
    const found = zoneLane(request.params);
    if (!('lane' in found)) return reply.code(found.code).send(found.body);
    const body = parseZoneBody(request.body);
    if ('problem' in body) return reply.code(400).send({ error: 'bad request', message: body.problem });
    try {
      changeZone(found.lane, body.zone);
    } catch (err) {
      return reply.code(500).send({ error: 'not saved', message: `the zone could not be saved, so nothing changed: ${(err as Error).message}` });
    }
    return zoneAnswer(found.lane);
  });

  // The lane screen's controls. They go through the broker like a keypad's, so the speaker hears
  // every control (any control cuts what the lane is saying) and checkout has one path for all.
  http.post('/lanes/:lane/control', async (request, reply) => {
    const { lane, id, code, error } = laneOf(request.params);
    if (id === undefined) return reply.code(code!).send({ error });
    const body = controlCommandSchema.safeParse(request.body);
    if (!body.success) return reply.code(400).send(controls.invalid(id, z.prettifyError(body.error)));
    if (!lane) return reply.code(404).send(controls.unknownLane(id, body.data));
    const command: ControlCommand = { ...body.data, source: body.data.source ?? 'screen' };
    if (commandOwner[command.command] !== 'checkout') {
      try {
        await sendControl(lane.id, command);
      } catch (err) {
        return reply.code(503).send({ error: `not forwarded: ${(err as Error).message}` });
      }
      return reply.code(202).send({ forwarded: true });
    }
    const transaction = command.transaction ?? `http-${randomUUID()}`;
    let answer: Promise<ControlResult>;
    try {
      answer = controls.waitFor(lane.id, transaction, controlTimeoutMs);
    } catch (err) {
      if (err instanceof WaitError) return reply.code(WAIT_CODES[err.code]).send({ error: err.message });
      throw err;
    }
    answer.catch(() => {}); // awaited below; a timeout during the publish must not go unhandled
    try {
      await sendControl(lane.id, { ...command, transaction });
    } catch (err) {
      controls.cancel(lane.id, transaction);
      return reply.code(503).send({ error: `not sent: ${(err as Error).message}` });
    }
    let result: ControlResult;
    try {
      result = await answer;
    } catch (err) {
      if (err instanceof WaitError) return reply.code(WAIT_CODES[err.code]).send({ error: err.message });
      throw err;
    }
    return reply.code(result.outcome === 'refused' ? 409 : 200).send(result);
  });
}
