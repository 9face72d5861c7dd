import type { RuleOf } from '../rules.ts';
import type { CameraState, Subjects } from '../subjects.ts';
import { plain, type EvaluatorFactory } from './evaluator.ts';

/** A camera capture reports offline (or never reported) for `offlineSeconds`; over when capture says it is online. */
export const cameraOffline: EvaluatorFactory<'camera-offline'> = (context, rules) => ({
  subject: 'camera',
  expires: false,
  cameraOnline(rule, camera) {
    context.resolve(rule, { camera }, 'recovered');
  },
  tick(now) {
    for (const rule of rules) {
      for (const [camera, state, known] of watchedBy(rule, context.subjects)) {
        if (state.status === 'online') continue;
        // Never reported: counted from this service's start.
        const since = state.offlineSince ?? context.startedAt;
        if (now - since < rule.offlineSeconds * 1000 || state.dismissed.has(rule.id) || context.isOpen(rule, { camera })) continue;
        const seconds = Math.round((now - since) / 1000);
        const reason = state.reason ?? 'no status from capture';
        context.raise(rule, now, {
          subject: { camera },
          known,
          message: `camera ${camera} offline for ${seconds} s: ${reason}`,
          details: { offlineSeconds: rule.offlineSeconds, reason: plain(reason, 256), ...(state.offlineSince !== undefined ? { offlineSince: since } : {}) },
          snapshot: null,
        });
      }
    }
  },
  // A camera still away is not announced again under a new id: the person has seen it.
  dismissed(alert) {
    if (alert.camera !== undefined) context.subjects.peekCamera(alert.camera)?.dismissed.add(alert.rule);
  },
});

/** The cameras a camera-offline rule watches: its own, or those watched from the start and every camera capture reported. */
function* watchedBy(rule: RuleOf<'camera-offline'>, subjects: Subjects): Generator<[string, CameraState, boolean]> {
  if (rule.camera !== undefined) {
    yield [rule.camera, subjects.knownCameras.get(rule.camera)!, true];
    return;
  }
  for (const [camera, state] of subjects.knownCameras) if (subjects.watchedFromStart.has(camera) || state.status !== undefined) yield [camera, state, true];
  for (const [camera, state] of subjects.seenCameras) if (state.status !== undefined) yield [camera, state, false];
}
