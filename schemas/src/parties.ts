import { z } from 'zod';

/**
 * Who talks on the bus. Each bus service connects with its own broker user whose rights are
 * derived from the channels it publishes and subscribes (see `access.ts`); integrators are
 * everyone else with an account (displays, scale adapters, an operator's tools).
 */
export const busServices = ['capture', 'inference', 'checkout', 'tts', 'speaker', 'alert', 'sync', 'console', 'uplink'] as const;
export type BusService = (typeof busServices)[number];
export type Party = BusService | 'integrator';

export function isBusService(name: string): name is BusService {
  return (busServices as readonly string[]).includes(name);
}

/** Whether a service is up, as it says on its availability channel. */
export const availabilitySchema = z.enum(['online', 'offline']).describe('service availability');
export type Availability = z.infer<typeof availabilitySchema>;
