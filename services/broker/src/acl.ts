/**
 * Mosquitto-style topic ACLs. A rule is a topic filter (`+`, `#`) that may contain `%u` (the
 * username) and `%c` (the client id), and grants read (subscribe and delivery), write (publish)
 * or both. Rules are compiled per connection, once the username and client id are known.
 */

export type Access = 'read' | 'write' | 'readwrite';

export interface AclRule {
  pattern: string;
  access: Access;
}

export interface CompiledAcl {
  readonly read: readonly string[][];
  readonly write: readonly string[][];
}

/** Why a rule pattern is malformed, or null when it is a valid MQTT filter. */
export function aclPatternProblem(pattern: string): string | null {
  if (pattern.length === 0) return 'must not be empty';
  if (pattern.length > 1024) return 'must be at most 1024 characters';
  if (pattern.includes('\u0000')) return 'must not contain NUL';
  const levels = pattern.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return '"#" must be a whole level and the last one';
    if (level.includes('+') && level !== '+') return '"+" must be a whole level';
  }
  return null;
}

/**
 * A username or client id that would widen a `%u`/`%c` rule if substituted is never substituted:
 * one holding a level separator or wildcard, or starting with `$` (a rule such as `%c/#` would
 * otherwise reach the broker's own `$` topics).
 */
function substitutable(value: string): boolean {
  return value.length > 0 && !value.startsWith('$') && !/[/+#\u0000]/.test(value);
}

export function compileAcl(rules: readonly AclRule[], username: string | null, clientId: string): CompiledAcl {
  const read: string[][] = [];
  const write: string[][] = [];
  for (const rule of rules) {
    let pattern = rule.pattern;
    if (pattern.includes('%u')) {
      if (username === null || !substitutable(username)) continue;
      pattern = pattern.replaceAll('%u', username);
    }
    if (pattern.includes('%c')) {
      if (!substitutable(clientId)) continue;
      pattern = pattern.replaceAll('%c', clientId);
    }
    const levels = pattern.split('/');
    if (rule.access !== 'write') read.push(levels);
    if (rule.access !== 'read') write.push(levels);
  }
  return { read, write };
}

function isWildcard(level: string): boolean {
  return level === '+' || level === '#';
}

/** Whether the concrete topic `topic` is matched by the filter `filter` (both split on `/`). */
export function filterMatches(filter: readonly string[], topic: readonly string[]): boolean {
  // [MQTT-4.7.2-1] a filter starting with a wildcard never matches a `$` topic.
  if (topic[0]?.startsWith('$') && isWildcard(filter[0] ?? '')) return false;
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i]!;
    if (level === '#') return true;
    if (i >= topic.length) return false;
    if (level !== '+' && level !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

/** Whether some concrete topic is matched by both filters. */
export function filtersIntersect(a: readonly string[], b: readonly string[]): boolean {
  const aDollar = a[0]?.startsWith('$') ?? false;
  const bDollar = b[0]?.startsWith('$') ?? false;
  if ((aDollar && isWildcard(b[0] ?? '')) || (bDollar && isWildcard(a[0] ?? ''))) return false;
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return false;
    if (x === '+' || y === '+') continue;
    if (x !== y) return false;
  }
  return true;
}

export function canWrite(acl: CompiledAcl, topic: string): boolean {
  if (topic.startsWith('$')) return false;
  const levels = topic.split('/');
  return acl.write.some((rule) => filterMatches(rule, levels));
}

export function canRead(acl: CompiledAcl, topic: string): boolean {
  const levels = topic.split('/');
  return acl.read.some((rule) => filterMatches(rule, levels));
}

/** A subscription is granted when it could deliver at least one readable topic; delivery is filtered per message. */
export function canSubscribe(acl: CompiledAcl, filter: string): boolean {
  const levels = filter.split('/');
  return acl.read.some((rule) => filtersIntersect(rule, levels));
}
