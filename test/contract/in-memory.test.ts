import { InMemoryUsageStore } from '../../src/adapters/memory/in-memory-usage-store.js';
import { describeUsageStoreContract } from './usage-store.contract.js';

describeUsageStoreContract('in-memory', () => new InMemoryUsageStore());
