import type { AlertType } from '@sightline/schemas';
import type { Rule, RuleOf } from '../rules.ts';
import { cameraOffline } from './camera-offline.ts';
import type { Evaluator, RuleContext } from './evaluator.ts';
import { imagesEvicted } from './images-evicted.ts';
import { lowConfidenceScan } from './low-confidence-scan.ts';
import { modelDrift } from './model-drift.ts';
import { personInZone } from './person-in-zone.ts';
import { serviceOffline } from './service-offline.ts';
import { unknownItem } from './unknown-item.ts';
import { weightMismatch } from './weight-mismatch.ts';

export type Evaluators = { [T in AlertType]: Evaluator<RuleOf<T>> };

/** One evaluator per rule type, each given the rules of its type; ticks run in this order. */
export function createEvaluators(context: RuleContext, rules: readonly Rule[]): Evaluators {
  const of = <T extends AlertType>(type: T) => rules.filter((rule): rule is RuleOf<T> => rule.type === type);
  return {
    'service-offline': serviceOffline(context, of('service-offline')),
    'camera-offline': cameraOffline(context, of('camera-offline')),
    'person-in-zone': personInZone(context, of('person-in-zone')),
    'unknown-item': unknownItem(context, of('unknown-item')),
    'low-confidence-scan': lowConfidenceScan(context, of('low-confidence-scan')),
    'weight-mismatch': weightMismatch(context, of('weight-mismatch')),
    'model-drift': modelDrift(context, of('model-drift')),
    'images-evicted': imagesEvicted(context, of('images-evicted')),
  };
}
