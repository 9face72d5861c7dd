import { Counter, Gauge, type Registry } from 'prom-client';

export type DropReason = 'unknown-lane' | 'scale-disabled' | 'no-lane-for-camera';

export interface CheckoutMetrics {
  scans: Counter<'lane' | 'pricing'>;
  notRecognised: Counter<'lane' | 'reason'>;
  weightMismatches: Counter<'lane'>;
  unmatchedWeights: Counter<'lane'>;
  commands: Counter<'action' | 'result' | 'via'>;
  controls: Counter<'command' | 'outcome' | 'source'>;
  dropped: Counter<'channel' | 'reason'>;
  laneEvents: Counter<'lane' | 'type'>;
  trouble: Gauge<'lane' | 'problem'>;
  simulatedReadings: Counter<'lane'>;
  publishFailures: Counter<'channel'>;
  unreadableStates: Counter<'lane'>;
}

/**
 * Checkout's own metrics. Payloads that fail validation are counted by the bus
 * (`sightline_bus_messages_dropped_total{channel,reason}`); `inputs_dropped` counts valid messages
 * checkout still cannot use.
 */
export function createCheckoutMetrics(registry: Registry): CheckoutMetrics {
  const registers = [registry];
  return {
    scans: new Counter({ name: 'sightline_checkout_scans_total', help: 'Items scanned and charged', labelNames: ['lane', 'pricing'], registers }),
    notRecognised: new Counter({
      name: 'sightline_checkout_not_recognised_total',
      help: 'Items not charged and announced as not recognised: unknown-label, weight-timeout, no-scale, basket-full, over-limit (price or total past what a basket can hold)',
      labelNames: ['lane', 'reason'],
      registers,
    }),
    weightMismatches: new Counter({
      name: 'sightline_checkout_weight_mismatches_total',
      help: 'Scans refused because the scale disagreed with the camera',
      labelNames: ['lane'],
      registers,
    }),
    unmatchedWeights: new Counter({
      name: 'sightline_checkout_unmatched_weights_total',
      help: 'Settled weights with no item in the scan zone (nothing charged)',
      labelNames: ['lane'],
      registers,
    }),
    commands: new Counter({
      name: 'sightline_checkout_commands_total',
      help: 'Basket commands by action, result and channel (mqtt, http)',
      labelNames: ['action', 'result', 'via'],
      registers,
    }),
    controls: new Counter({
      name: 'sightline_checkout_controls_total',
      help: "Shopper controls by command, outcome (`speaker` for the speaker's commands, which checkout only notes as activity) and source",
      labelNames: ['command', 'outcome', 'source'],
      registers,
    }),
    dropped: new Counter({
      name: 'sightline_checkout_inputs_dropped_total',
      help: 'Valid messages checkout could not use (unknown lane, lane without scale)',
      labelNames: ['channel', 'reason'],
      registers,
    }),
    laneEvents: new Counter({ name: 'sightline_checkout_lane_events_total', help: 'Lane events published, by type', labelNames: ['lane', 'type'], registers }),
    trouble: new Gauge({ name: 'sightline_checkout_trouble', help: '1 while the lane has this problem', labelNames: ['lane', 'problem'], registers }),
    simulatedReadings: new Counter({
      name: 'sightline_checkout_simulated_readings_total',
      help: 'Weight readings published by the scale simulator',
      labelNames: ['lane'],
      registers,
    }),
    unreadableStates: new Counter({
      name: 'sightline_checkout_unreadable_states_total',
      help: 'Stored lane states found unreadable at start: moved to quarantined_lanes, the lane started a new basket',
      labelNames: ['lane'],
      registers,
    }),
    publishFailures: new Counter({
      name: 'sightline_checkout_publish_failures_total',
      help: 'Messages that could not be published (broker unreachable); baskets are republished on reconnect',
      labelNames: ['channel'],
      registers,
    }),
  };
}
