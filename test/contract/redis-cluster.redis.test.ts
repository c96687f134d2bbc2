import { describeRedisCluster } from '../support/redis.js';
import { realClusterStore } from '../support/redis-cluster-store.js';
import { describeUsageStoreContract } from './usage-store.contract.js';

// The shared 3-master + 3-replica Redis Cluster: every script must keep its keys in one slot, which
// hash tags do, and a batch spans every master.
describeRedisCluster('Redis Cluster (3 masters + 3 replicas)', () => {
  describeUsageStoreContract('Redis Cluster (hash tags)', () => realClusterStore());
});
