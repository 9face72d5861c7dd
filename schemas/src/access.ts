import type { Channel } from './channel.ts';
import { channels } from './channels.ts';
import { busServices, type BusService, type Party } from './parties.ts';
import { createTopics } from './topics.ts';

/**
 * Broker rights derived from the channel definitions, so what a service may do on the bus is
 * written once: a service may publish exactly the channels that list it among their publishers
 * (filling an `ownParam` level only with its own name) and subscribe exactly those that list it
 * among their subscribers. Mosquitto-style rules: a topic filter and read, write or both.
 */
export type Access = 'read' | 'write' | 'readwrite';

export interface AccessRule {
  pattern: string;
  access: Access;
}

const allChannels = Object.values(channels) as Channel<unknown, string>[];

function patternOf(prefix: string, channel: Channel<unknown, string>, own: string | null): string {
  const topics = createTopics(prefix);
  const params: Record<string, string> = {};
  if (own !== null && channel.ownParam !== undefined) params[channel.ownParam] = own;
  return topics.filter(channel, params);
}

function merge(rules: AccessRule[]): AccessRule[] {
  const byPattern = new Map<string, Set<'read' | 'write'>>();
  for (const { pattern, access } of rules) {
    const set = byPattern.get(pattern) ?? new Set();
    if (access !== 'write') set.add('read');
    if (access !== 'read') set.add('write');
    byPattern.set(pattern, set);
  }
  return [...byPattern].map(([pattern, set]) => ({ pattern, access: set.size === 2 ? 'readwrite' : set.has('read') ? 'read' : 'write' }));
}

/** The channels a party may publish. */
export function channelsPublishedBy(party: Party): Channel<unknown, string>[] {
  return allChannels.filter((channel) => channel.publishers.includes(party));
}

/** The channels a service subscribes to. */
export function channelsSubscribedBy(service: BusService): Channel<unknown, string>[] {
  return allChannels.filter((channel) => channel.subscribers.includes(service));
}

/** Exactly what one service's broker user may do. */
export function serviceAccessRules(service: BusService, prefix: string): AccessRule[] {
  return merge([
    ...channelsPublishedBy(service).map((channel) => ({ pattern: patternOf(prefix, channel, service), access: 'write' as const })),
    ...channelsSubscribedBy(service).map((channel) => ({ pattern: patternOf(prefix, channel, null), access: 'read' as const })),
  ]);
}

/** An integrator reads everything under the prefix and writes the channels meant for integrators. */
export function integratorAccessRules(prefix: string): AccessRule[] {
  return merge([
    { pattern: `${createTopics(prefix).prefix}/#`, access: 'read' },
    ...channelsPublishedBy('integrator').map((channel) => ({ pattern: patternOf(prefix, channel, null), access: 'write' as const })),
  ]);
}

/** Someone watching: reads everything under the prefix, writes nothing. */
export function viewerAccessRules(prefix: string): AccessRule[] {
  return [{ pattern: `${createTopics(prefix).prefix}/#`, access: 'read' }];
}

export { busServices };
