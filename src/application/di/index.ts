export { TOKENS } from './tokens.js';
export { tokenUsageModule } from './module.js';
export type { TokenUsageModuleOptions } from './module.js';
