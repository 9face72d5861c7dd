import { Counter, Gauge, type Registry } from 'prom-client';
import { alertTypeSchema } from '@sightline/schemas';

export type AlertMetrics = ReturnType<typeof createAlertMetrics>;

export function createAlertMetrics(registry: Registry, activeByType: () => Map<string, number>) {
  const registers = [registry];
  return {
    raised: new Counter({ name: 'sightline_alert_alerts_raised_total', help: 'Alerts raised', labelNames: ['type'], registers }),
    updated: new Counter({
      name: 'sightline_alert_alerts_updated_total',
      help: 'Alert update events (repeats, acknowledgements)',
      labelNames: ['type'],
      registers,
    }),
    ended: new Counter({ name: 'sightline_alert_alerts_ended_total', help: 'Alerts resolved', labelNames: ['type', 'by'], registers }),
    active: new Gauge({
      name: 'sightline_alert_alerts_open',
      help: 'Alerts not yet resolved (active or acknowledged)',
      labelNames: ['type'],
      registers,
      collect() {
        const counts = activeByType();
        for (const type of alertTypeSchema.options) this.set({ type }, counts.get(type) ?? 0);
      },
    }),
    evaluations: new Counter({
      name: 'sightline_alert_rule_evaluations_total',
      help: 'Rule evaluations (one rule against one input)',
      labelNames: ['type'],
      registers,
    }),
    droppedInputs: new Counter({
      name: 'sightline_alert_inputs_dropped_total',
      help: 'Inputs dropped by the alert service: rule evaluation failures, and inputs about a camera, lane or service it does not act on (not configured, beyond the cap, unknown service); invalid payloads are counted by sightline_bus_messages_dropped_total',
      labelNames: ['channel', 'reason'],
      registers,
    }),
    publishFailures: new Counter({
      name: 'sightline_alert_publish_failures_total',
      help: 'Alert events that could not be published (the alert is stored regardless)',
      registers,
    }),
    refused: new Counter({
      name: 'sightline_alert_alerts_refused_total',
      help: 'Alerts not raised because SIGHTLINE_ALERT_MAX_OPEN alerts are open already',
      labelNames: ['type'],
      registers,
    }),
    pruned: new Counter({
      name: 'sightline_alert_alerts_pruned_total',
      help: 'Resolved alerts deleted by the retention policy',
      labelNames: ['reason'],
      registers,
    }),
  };
}
