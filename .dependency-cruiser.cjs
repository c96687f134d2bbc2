/**
 * Layering rules (see docs/architecture.md): the domain is pure, ports are types, only the Redis
 * adapter touches ioredis, only the DI wiring touches inversify, only the application touches pino.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain imports only itself, plus type-only imports from src/ports (no I/O, no frameworks).',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { pathNot: ['^src/domain/', '^src/ports/'] },
    },
    {
      name: 'domain-uses-ports-as-types-only',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/ports/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'ports-are-interfaces',
      comment: 'src/ports holds interfaces only: type-only imports of domain types.',
      severity: 'error',
      from: { path: '^src/ports/' },
      to: { dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'adapters-do-not-know-the-application',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: '^src/application/' },
    },
    {
      name: 'only-the-redis-adapter-imports-ioredis',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/adapters/redis/' },
      to: { path: 'node_modules/(ioredis|@ioredis)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-the-di-wiring-imports-inversify',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/application/di/' },
      to: { path: 'node_modules/(inversify|@inversifyjs)/' },
    },
    {
      name: 'only-the-application-imports-pino',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/application/' },
      to: { path: 'node_modules/pino/' },
    },
    {
      name: 'only-the-metrics-adapter-imports-prom-client',
      comment: 'Other layers use the Metrics port; the DI wiring may name the Registry type.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/adapters/metrics/' },
      to: { path: 'node_modules/prom-client/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'nothing-imports-the-cli',
      comment: 'src/cli is a driving adapter (the token-usage bin): it uses the library, never the other way round.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-the-cli-imports-cli-packages',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: 'node_modules/(commander|cli-progress|asciichart)/' },
    },
    {
      name: 'nothing-imports-the-http-service',
      comment: 'src/service is a driving adapter over the facade: the library never depends on it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/service/' },
      to: { path: '^src/service/' },
    },
    {
      name: 'only-the-http-service-imports-fastify',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/service/' },
      to: { path: 'node_modules/(fastify|@fastify|typebox)/' },
    },
    {
      name: 'the-http-service-goes-through-the-facade',
      comment: 'Routes call TokenUsageRepository, never a store or an adapter directly (the guarantees live behind the facade).',
      severity: 'error',
      from: { path: '^src/service/', pathNot: '^src/service/main\\.ts$' },
      to: { path: '^src/adapters/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular-runtime-imports',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'no-llm-sdk-in-src',
      comment: 'SDK adapters use structural types only, so the core installs and runs without any SDK (optional peers).',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: 'node_modules/(openai|ai|ai5|@ai-sdk|@anthropic-ai|@langchain|@google/genai)/' },
    },
    {
      name: 'no-test-code-in-src',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/|node_modules/(vitest|ioredis-mock|testcontainers)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
