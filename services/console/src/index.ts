export { createConsoleApp, type ConsoleApp } from './app.ts';
export { loadConsoleConfig, type ConsoleConfig } from './config.ts';
export { readAccounts, setAccount, provisionAdmin, ROLES, type Role } from './accounts.ts';
export { BARE_AFTER_MS, MAX_VIEWER_BUFFER, frameMessage, type FrameHeader } from './live.ts';
