export { createCheckoutApp, HTTP_BODY_LIMIT, type CheckoutApp, type CheckoutDeps } from './app.ts';
export { checkoutEnvSchema, lanesFileSchema, loadCheckoutConfig, tuningFrom, type CheckoutConfig, type LaneConfig, type LaneTuning } from './config.ts';
export { Lane, type LaneOutput, type LaneStatus } from './lane.ts';
export { expectedRange, gramsToMilligrams, pricePerKg, pricePerUnit, withinRange } from './pricing.ts';
export { ScaleSimulator, type SimulatorOptions } from './simulator.ts';
export { WeightSettler } from './scale.ts';
export { openLaneStore, type LaneStore } from './store.ts';
