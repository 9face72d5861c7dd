import { boundsOf, footPoint, insidePolygon, normaliseLabel, type Detections, type Polygon } from '@sightline/schemas';
import type { RuleOf } from '../rules.ts';
import { plain, round, type EvaluatorFactory } from './evaluator.ts';

interface ZoneState {
  presentSince: number | undefined;
  lastInZone: number;
}

/** A listed label standing in a zone for the dwell time; over once the zone is clear for `clearSeconds`. */
export const personInZone: EvaluatorFactory<'person-in-zone'> = (context) => {
  const zones = new Map<string, ZoneState>();
  // Each rule's bounds with the zone they were taken from: a zone changed at run time
  // (RuleEngine.setZone) is a new array, and gets its bounds at its first message. One lookup and
  // one comparison per message: `pnpm bench:alerts` is the same as before zones could change
  // (270-330k messages/s either way, on these shared machines).
  const boundsByRule = new Map<RuleOf<'person-in-zone'>, { zone: Polygon; bounds: ReturnType<typeof boundsOf> }>();
  const boundsFor = (rule: RuleOf<'person-in-zone'>) => {
    let entry = boundsByRule.get(rule);
    if (entry?.zone !== rule.zone) boundsByRule.set(rule, (entry = { zone: rule.zone, bounds: boundsOf(rule.zone) }));
    return entry.bounds;
  };
  return {
    subject: 'camera',
    expires: false,
    detections(rule, detections, now) {
      const bounds = boundsFor(rule);
      let hit: Detections['objects'][number] | undefined;
      for (const object of detections.objects) {
        const box = object.box;
        if (box === null || object.score < rule.minScore || !rule.labels.includes(normaliseLabel(object.label))) continue;
        // The foot point: where a person stands, not where their head is.
        const foot = footPoint(box);
        if (foot.x < bounds.minX || foot.x > bounds.maxX || foot.y < bounds.minY || foot.y > bounds.maxY) continue;
        if (insidePolygon(foot, rule.zone)) {
          hit = object;
          break;
        }
      }
      let state = zones.get(rule.id);
      if (hit === undefined) {
        if (state?.presentSince !== undefined && now - state.lastInZone >= rule.clearSeconds * 1000) state.presentSince = undefined;
        return;
      }
      if (state === undefined) {
        state = { presentSince: now, lastInZone: now };
        zones.set(rule.id, state);
      }
      state.lastInZone = now;
      state.presentSince ??= now;
      if (now - state.presentSince < rule.dwellSeconds * 1000) return;
      context.raise(rule, now, {
        subject: { camera: rule.camera },
        known: true,
        message: `${hit.label} in restricted zone ${rule.id} on camera ${rule.camera}`,
        details: { label: plain(hit.label, 256), score: round(hit.score), dwellSeconds: round((now - state.presentSince) / 1000) },
        snapshot: { camera: detections.camera, seq: detections.seq, capturedAt: detections.capturedAt },
      });
    },
    cleared(rule, now) {
      const state = zones.get(rule.id);
      if (state !== undefined && now - state.lastInZone < rule.clearSeconds * 1000) return false;
      if (state) state.presentSince = undefined;
      return true;
    },
    restored(alert) {
      zones.set(alert.rule, { presentSince: alert.firstSeen, lastInZone: context.startedAt });
    },
  };
};
