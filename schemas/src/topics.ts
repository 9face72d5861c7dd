import { z } from 'zod';
import type { Channel } from './channel.ts';
import { DEFAULT_TOPIC_PREFIX, idSchema, topicPrefixSchema } from './ids.ts';

/**
 * Topic strings for one prefix. Every topic Sightline publishes or subscribes to is made here:
 * `topic` for a concrete topic (its parameters are checked, so no wildcard can slip into a
 * publish), `filter` for a subscription (missing parameters become `+`), `match` to read the
 * parameters back out of a received topic.
 */
export interface Topics {
  readonly prefix: string;
  topic<P extends string>(channel: Channel<unknown, P>, params: Record<P, string>): string;
  filter<P extends string>(channel: Channel<unknown, P>, params?: Partial<Record<P, string>>): string;
  match<P extends string>(channel: Channel<unknown, P>, topic: string): Record<P, string> | null;
}

export function createTopics(prefix: string = DEFAULT_TOPIC_PREFIX): Topics {
  const checkedPrefix = topicPrefixSchema.parse(prefix);
  const prefixLevels = checkedPrefix.split('/');

  function levelsOf(channel: Channel<unknown, string>): string[] {
    return channel.template.split('/');
  }

  function paramOf(level: string): string | null {
    return level.startsWith('{') && level.endsWith('}') ? level.slice(1, -1) : null;
  }

  return {
    prefix: checkedPrefix,
    topic(channel, params) {
      const levels = levelsOf(channel).map((level) => {
        const name = paramOf(level);
        if (name === null) return level;
        const value = (params as Record<string, string | undefined>)[name];
        const parsed = idSchema.safeParse(value);
        if (!parsed.success) {
          throw new Error(`topic ${channel.name}: ${name} ${JSON.stringify(value)} ${z.prettifyError(parsed.error).replace(/^✖ /, '')}`);
        }
        return parsed.data;
      });
      return [...prefixLevels, ...levels].join('/');
    },
    filter(channel, params = {}) {
      const levels = levelsOf(channel).map((level) => {
        const name = paramOf(level);
        if (name === null) return level;
        const value = (params as Record<string, string | undefined>)[name];
        return value === undefined ? '+' : idSchema.parse(value);
      });
      return [...prefixLevels, ...levels].join('/');
    },
    match(channel, topic) {
      const got = topic.split('/');
      const want = [...prefixLevels, ...levelsOf(channel)];
      if (got.length !== want.length) return null;
      const params: Record<string, string> = {};
      for (let i = 0; i < want.length; i++) {
        const name = paramOf(want[i]!);
        if (name === null) {
          if (got[i] !== want[i]) return null;
        } else {
          if (!idSchema.safeParse(got[i]).success) return null;
          params[name] = got[i]!;
        }
      }
      return params as never;
    },
  };
}
