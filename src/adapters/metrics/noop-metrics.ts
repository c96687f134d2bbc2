import type { AlertLevel } from '../../ports/alert-sink.js';
import type { Metrics, OperationName, OperationOutcome, StoreErrorKind, TokenType } from '../../ports/metrics.js';

/** Measures nothing: the default when no metrics adapter is configured. `exposition()` is ''. */
export class NoopMetrics implements Metrics {
  tokensRecorded(_type: TokenType, _count: number): void {}
  operation(_name: OperationName, _outcome: OperationOutcome, _durationSeconds: number): void {}
  storeError(_kind: StoreErrorKind): void {}
  alertFired(_level: AlertLevel): void {}
  bufferedRecords(_count: number): void {}
  async exposition(): Promise<string> {
    return '';
  }
}
