/**
 * The main job on an embedded default: records and checks token usage for a few users.
 * Runs on the in-memory store unless REDIS_URL or REDIS_CLUSTER_NODES (or TOKEN_STATS_STORE=redis) is set.
 *
 *   npm run demo                                 # in-memory
 *   REDIS_URL=redis://127.0.0.1:6379 npm run demo # real Redis
 */
import { createTokenUsageRepository, isUsageError } from '../src/index.js';

const env = { ...process.env };
if (env['TOKEN_STATS_STORE'] === undefined) env['TOKEN_STATS_STORE'] = env['REDIS_URL'] || env['REDIS_CLUSTER_NODES'] ? 'redis' : 'memory';
env['TOKEN_STATS_LOG_LEVEL'] ??= 'warn';

const repo = createTokenUsageRepository({ env });
const cycle = new Date().toISOString().slice(0, 7) + '-01';
const users = ['demo-alice', 'demo-bob', 'demo-carol'];

try {
  console.log(`store: ${env['TOKEN_STATS_STORE']}, cycle: ${cycle} (monthly, UTC)\n`);
  for (const user of users) await repo.resetUsage(user);
  await repo.setUsageLimit('demo-alice', 1_000); // standing limit for every cycle
  await repo.setUsageLimit('demo-bob', 500, cycle); // this cycle only

  // Simulate LLM calls: 50 concurrent completions spread over the users.
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      repo.incrementDetailedUsage(users[i % users.length] as string, 12 + (i % 7), 8 + (i % 5)),
    ),
  );
  await repo.incrementTotalUsage('demo-carol', 300); // usage not broken down into prompt/completion

  console.log('user        prompt  completion  total  limit  remaining  exceeded');
  for (const user of users) {
    const stats = await repo.getUsageStats(user);
    const check = await repo.checkUsageLimit(user);
    console.log(
      [
        user.padEnd(10),
        String(stats.promptTokens).padStart(7),
        String(stats.completionTokens).padStart(11),
        String(stats.totalTokens).padStart(6),
        (check.limit === 0 ? '-' : String(check.limit)).padStart(6),
        String(check.remaining).padStart(10),
        String(check.exceeded).padStart(9),
      ].join(' '),
    );
  }

  try {
    await repo.incrementDetailedUsage('demo-alice', -5, 10);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    console.log(`\nbad input is refused and writes nothing: ${error.code}: ${error.message}`);
  }
} finally {
  await repo.close();
}
