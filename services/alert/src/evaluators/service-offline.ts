import type { RuleOf } from '../rules.ts';
import type { EvaluatorFactory } from './evaluator.ts';

/** A watched service offline for longer than `graceSeconds`; over when it is online again. */
export const serviceOffline: EvaluatorFactory<'service-offline'> = (context) => {
  /** Services that went offline and are not back yet, by rule and service: raised once their grace is over. */
  const offlineSince = new Map<string, { rule: RuleOf<'service-offline'>; service: string; since: number }>();
  /** Alerts a person resolved while the service stayed offline: not raised again until it is back. */
  const dismissed = new Set<string>();
  const raiseOverdue = (now: number): void => {
    for (const [key, pending] of offlineSince) {
      if (now - pending.since < pending.rule.graceSeconds * 1000) continue;
      offlineSince.delete(key);
      const { service } = pending;
      context.raise(pending.rule, now, { subject: { service }, known: true, message: `service ${service} is offline`, details: { service }, snapshot: null });
    }
  };
  return {
    subject: 'service',
    expires: false,
    availability(rule, service, availability, now) {
      const key = `${rule.id}|${service}`;
      if (availability === 'online') {
        offlineSince.delete(key);
        dismissed.delete(key);
        context.resolve(rule, { service }, 'recovered');
      } else if (!context.isOpen(rule, { service }) && !offlineSince.has(key) && !dismissed.has(key)) {
        offlineSince.set(key, { rule, service, since: now });
        raiseOverdue(now);
      }
    },
    tick: raiseOverdue,
    dismissed(alert) {
      dismissed.add(`${alert.rule}|${alert.service}`);
    },
  };
};
