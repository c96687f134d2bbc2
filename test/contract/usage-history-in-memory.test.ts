import { createTokenUsageRepository } from '../../src/index.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeUsageHistoryContract } from './usage-history.contract.js';

describeUsageHistoryContract('in-memory store', (clock) => ({
  repo: createTokenUsageRepository({
    config: { store: 'memory', cycle: { policy: 'monthly', timeZone: 'Europe/Berlin', retentionCycles: 3 } },
    clock,
    logger: new RecordingLogger(),
  }),
}));
