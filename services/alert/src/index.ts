export { createAlertApp, SERVICE, type AlertApp, type AlertAppDeps } from './app.ts';
export { alertEnvSchema, loadAlertConfig, type AlertConfig } from './config.ts';
export { RuleEngine, type EngineOptions, type TransitionResult } from './engine.ts';
export { defaultRules, ruleSchema, rulesFileSchema, type Rule } from './rules.ts';
export { AlertStore, type AlertFilter, type Page } from './store.ts';
export { openApiDocument } from './routes.ts';
