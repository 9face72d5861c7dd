import { z } from 'zod';

/**
 * One topic level chosen by a user (a camera, lane or service name). Restricted so it can never
 * carry an MQTT wildcard, a level separator, a `$` system prefix or anything a shell or a URL
 * would have to escape.
 */
export const idSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ - starting with a letter or digit');

/** A model's id: its folder name in the models directory (never a path: no `/`, no leading dot). */
export const modelIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be a model id: 1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit');

export const topicPrefixSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\/[A-Za-z0-9][A-Za-z0-9_-]{0,63}){0,3}$/,
    'must be 1-4 levels separated by "/", each 1-64 characters of A-Z a-z 0-9 _ -',
  );

export const DEFAULT_TOPIC_PREFIX = 'sightline';
