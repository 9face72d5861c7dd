import { plain, type EvaluatorFactory } from './evaluator.ts';

/** The camera saw something on a lane that the catalog does not know. */
export const unknownItem: EvaluatorFactory<'unknown-item'> = (context) => ({
  subject: 'lane',
  expires: true,
  laneEvent(rule, event, now, known) {
    if (event.type !== 'not-recognised' || event.label === undefined) return;
    context.raise(rule, now, {
      subject: { lane: event.lane, camera: event.camera },
      known,
      message: `unknown item on lane ${event.lane}: the camera saw "${event.label}", which the catalog does not know`,
      details: { label: plain(event.label, 256), event: event.id },
      snapshot: event.frame ?? null,
    });
  },
});
