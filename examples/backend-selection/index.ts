/** The TypeScript versions of every example of the "Backend Selection" page, one module per section. */
export { basicSqliteUsage } from "./sqlite-basic.js";
export { customPathRunner, walRunner, busyTimeoutRunner } from "./sqlite-configuration.js";
export { basicPostgres, postgresWithSchema } from "./postgres-basic.js";
export { tenantRunners } from "./multi-tenant.js";
export { pooledRunner, sslRunner, connectTimeoutRunner } from "./postgres-advanced.js";
export { developmentRunner, createProductionRunner } from "./decision-matrix.js";
export { setUpNewEnvironment, codeChanges } from "./migration.js";
export { optimizedSqliteUrl, optimizedSqliteRunner, optimizedPostgresUrl, optimizedPostgresRunner } from "./performance.js";
export { createRunnerForEnvironment } from "./environment.js";
export { handleLockedDatabase, handleConnectionIssues } from "./troubleshooting.js";
