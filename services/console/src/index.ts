export { createConsoleApp, type ConsoleApp } from './app.ts';
export { loadConsoleConfig, type ConsoleConfig } from './config.ts';
export { readAccounts, setAccount, provisionAdmin, ROLES, type Role } from './accounts.ts';
export { frameMessage, type FrameHeader } from './live.ts';
